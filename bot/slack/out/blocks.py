"""Tiny Block Kit builders, so views read as structure rather than nested dicts."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

MAX_TEXT = 3000


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text)}


def section(text: str, *, fields: list[str] | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": f[:2000]} for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": t[:MAX_TEXT]} for t in texts],
    }


def divider() -> Block:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, confirm: str = "Yes", deny: str = "Cancel") -> Block:
    return {
        "title": plain(title, 100),
        "text": {"type": "mrkdwn", "text": text[:300]},
        "confirm": plain(confirm, 30),
        "deny": plain(deny, 30),
    }


def button(
    text: str,
    action_id: str,
    value: str = "",
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, 75),
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def text_input(
    block_id: str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    initial: str | None = None,
    placeholder: str | None = None,
) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }


def static_select(
    block_id: str, label: str, options: list[tuple[str, str]], *, initial: str | None = None
) -> Block:
    opts = [{"text": plain(text, 75), "value": value} for text, value in options[:100]]
    element: Block = {"type": "static_select", "action_id": "value", "options": opts}
    chosen = next((o for o in opts if o["value"] == initial), None)
    if chosen:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block_id, "label": plain(label), "element": element}


def modal(
    callback_id: str,
    title: str,
    blocks: list[Block],
    *,
    submit: str = "Submit",
    private_metadata: str = "",
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
        "private_metadata": private_metadata[:3000],
    }


def view_values(view: Any) -> dict[str, str | None]:
    """Flatten a submitted view's state: block_id -> value (text or selected option). Whatever
    is not shaped like Slack's state (not an object, a value that is not text) is left out."""
    values: dict[str, str | None] = {}
    state = view.get("state") if isinstance(view, dict) else None
    blocks = state.get("values") if isinstance(state, dict) else None
    if not isinstance(blocks, dict):
        return values
    for block_id, inputs in blocks.items():
        if not isinstance(inputs, dict):
            continue
        for element in inputs.values():
            if not isinstance(element, dict):
                continue
            if element.get("type") == "static_select":
                option = element.get("selected_option")
                value = option.get("value") if isinstance(option, dict) else None
            elif element.get("type") == "users_select":
                value = element.get("selected_user")
            else:
                value = element.get("value")
            values[block_id] = value if isinstance(value, str) else None
    return values
