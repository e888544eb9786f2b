"""Plain-text rendering of Slack messages, blocks and views for FakeSlack.transcript()."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

Names = Callable[[str], str]  # id -> readable label ("@alice", "#inc-1-db")

_TOKEN = re.compile(r"<([^<>]+)>")


def mrkdwn(text: str | None, names: Names | None = None) -> str:
    """Slack mrkdwn to readable text: <@U1> -> @alice, <#C1> -> #name, <url|label> -> label (url)."""
    if not text:
        return ""

    def sub(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith(("@U", "@W", "@B")):
            return names(target[1:]) if names else target
        if target.startswith("#C") or target.startswith("#G"):
            return f"#{label}" if label else (names(target[1:]) if names else target)
        if target.startswith("!subteam^"):
            return f"@{label.lstrip('@')}" if label else "@group"
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return "@" + target[1:]
        return f"{label} ({target})" if label else target

    return html.unescape(_TOKEN.sub(sub, text))


def _text(obj: Any, names: Names | None) -> str:
    if obj is None:
        return ""
    if isinstance(obj, str):
        return mrkdwn(obj, names)
    if isinstance(obj, dict):
        return mrkdwn(str(obj.get("text", "")), names)
    return str(obj)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def element(el: dict[str, Any], names: Names | None = None) -> str:
    """An interactive element or context element as a short label."""
    kind = el.get("type", "")
    if kind == "button":
        return f"[{_text(el.get('text'), names)}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text(el, names)
    if kind == "image":
        return f"[image: {el.get('alt_text', '')}]"
    if kind.endswith("_select") or kind in ("multi_static_select", "radio_buttons", "checkboxes"):
        initial = el.get("initial_option") or {}
        label = _text(initial.get("text"), names) or _text(el.get("placeholder"), names)
        if not label and el.get("options"):
            label = " / ".join(_text(o.get("text"), names) for o in el["options"])
        return f"[{label or kind} ▾]"
    if kind == "overflow":
        return "[…]"
    placeholder = _text(el.get("placeholder"), names)
    return f"[{kind}{': ' + placeholder if placeholder else ''}]"


def _rich_text(el: Any, names: Names | None) -> str:
    if isinstance(el, list):
        return "".join(_rich_text(e, names) for e in el)
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "text":
        return str(el.get("text", ""))
    if kind == "link":
        return str(el.get("text") or el.get("url", ""))
    if kind == "user":
        return names(el["user_id"]) if names else "@" + el.get("user_id", "")
    if kind == "channel":
        return names(el["channel_id"]) if names else "#" + el.get("channel_id", "")
    if kind == "emoji":
        return f":{el.get('name', '')}:"
    if kind == "rich_text_list":
        return "\n".join("• " + _rich_text(item, names) for item in el.get("elements", []))
    return _rich_text(el.get("elements", []), names)


def blocks(items: list[dict[str, Any]] | None, names: Names | None = None) -> list[str]:
    """Blocks as lines of text: header, section text/fields/accessory, context, buttons."""
    lines: list[str] = []
    for block in items or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_text(block.get('text'), names)} ==")
        elif kind == "section":
            text = _text(block.get("text"), names)
            lines.extend(text.splitlines() or ([] if block.get("fields") else [""]))
            fields = [_one_line(_text(f, names)) for f in block.get("fields") or []]
            if fields:
                lines.append(" | ".join(fields))
            if block.get("accessory"):
                lines.append(element(block["accessory"], names))
        elif kind == "context":
            lines.append(" · ".join(element(e, names) for e in block.get("elements", [])))
        elif kind == "actions":
            lines.append(" ".join(element(e, names) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("---")
        elif kind == "image":
            title = _text(block.get("title"), names)
            lines.append(f"[image: {block.get('alt_text', '')}]{' ' + title if title else ''}")
        elif kind == "input":
            label = _text(block.get("label"), names)
            optional = " (optional)" if block.get("optional") else ""
            lines.append(f"{label}{optional}: {element(block.get('element') or {}, names)}")
        elif kind == "rich_text":
            lines.extend(_rich_text(block.get("elements", []), names).splitlines())
        elif kind == "markdown":
            lines.extend(mrkdwn(str(block.get("text", "")), names).splitlines())
        else:
            lines.append(f"[{kind}]")
    return lines


def attachments(items: list[dict[str, Any]] | None, names: Names | None = None) -> list[str]:
    lines: list[str] = []
    for att in items or []:
        inner: list[str] = []
        if att.get("title"):
            inner.append(mrkdwn(att["title"], names))
        if att.get("blocks"):
            inner.extend(blocks(att["blocks"], names))
        elif att.get("text") or att.get("fallback"):
            inner.extend(mrkdwn(att.get("text") or att.get("fallback"), names).splitlines())
        for f in att.get("fields") or []:
            inner.append(f"{f.get('title', '')}: {mrkdwn(f.get('value', ''), names)}")
        lines.extend("│ " + line for line in inner)
    return lines


def message(
    text: str | None,
    blocks_: list[dict[str, Any]] | None,
    attachments_: list[dict[str, Any]] | None = None,
    names: Names | None = None,
) -> list[str]:
    """Blocks when present (the text is then only the notification fallback), else the text."""
    lines = blocks(blocks_, names) if blocks_ else mrkdwn(text, names).splitlines()
    lines += attachments(attachments_, names)
    return lines or [""]


def view(v: dict[str, Any], names: Names | None = None) -> list[str]:
    title = _text(v.get("title"), names)
    lines = [f'"{title}"']
    lines += blocks(v.get("blocks"), names)
    submit = _text(v.get("submit"), names)
    if submit:
        lines.append(f"[{submit}]")
    return lines


def event_lines(kind: str, d: dict[str, Any], names: Callable[[str], str]) -> list[str]:
    """One event of the fake's log as transcript lines (the first names the channel)."""
    where = names(d["channel"]) + ": " if d.get("channel") else ""
    if kind in ("message", "update", "ephemeral", "response_url"):
        body = message(d.get("text"), d.get("blocks"), d.get("attachments"), names)
        tag = {
            "message": "(in thread) " if d.get("thread_ts") else "",
            "update": "(updated) ",
            "ephemeral": f"(ephemeral to {names(d.get('user', ''))}) ",
            "response_url": f"(response_url {d.get('response_type') or 'ephemeral'}) ",
        }[kind]
        return [where + tag + body[0], *body[1:]]
    if kind == "channel_created":
        return [f"{where}(channel created by {names(d['creator'])})"]
    if kind == "topic":
        return [f"{where}(topic) {mrkdwn(d['topic'], names)}"]
    if kind == "invite":
        return [f"{where}(invited {', '.join(names(u) for u in d['users'])})"]
    if kind in ("join", "archive"):
        return [f"{where}({'bot joined' if kind == 'join' else 'archived'})"]
    if kind in ("pin", "delete"):
        first = message(d.get("text"), d.get("blocks"), None, names)[0]
        return [f"{where}({'pinned' if kind == 'pin' else 'deleted'}) {first}"]
    if kind == "reaction":
        return [f"{where}(reacted :{d['name']}: to {d['ts']})"]
    if kind == "file":
        comment = mrkdwn(d.get("initial_comment"), names)
        line = f'{where}(file) "{d["title"]}" {d["filename"]}, {d["size"]} bytes'
        return [line, *([comment] if comment else [])]
    if kind in ("view_opened", "view_pushed", "view_updated"):
        body = view(d["view"], names)
        return [f"(modal {kind.removeprefix('view_')}) {body[0]}", *body[1:]]
    return [f"{where}({kind}) {json.dumps(d, default=str)}"]
