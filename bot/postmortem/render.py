"""Render a PostmortemDoc to Markdown or HTML with Jinja2 templates users can override.

Every template (ours and the user's) renders in a sandbox: user templates are untrusted, and any
access to an unsafe attribute (``''.__class__`` and the like) raises ``SecurityError`` at once.
Templates are looked up in the user's directory first, then in the package; the package's
templates stay reachable as ``builtin/<name>`` so an override can ``{% extends %}`` them and
replace single blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from bot.domain.model import STAGE_ORDER, Verdict
from bot.domain.stages import format_duration
from bot.postmortem.chart import STAGE_COLORS, build_chart
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.draft import Draft, draft

Format = Literal["markdown", "html"]
TEMPLATE_NAMES: dict[str, str] = {"markdown": "postmortem.md.j2", "html": "postmortem.html.j2"}
PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
URL_SAFE = ":/?#[]@!$&'*+,;=%~"  # kept as they are in a link target; all else percent-encoded
VERDICT_LABELS = {
    Verdict.SUSPECT: "Suspect",
    Verdict.CAUSED: "Caused",
    Verdict.NOT_RELATED: "Not related",
}


class PostmortemSandbox(SandboxedEnvironment):
    """Sandbox that refuses unsafe attribute access outright instead of yielding Undefined."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


# --------------------------------------------------------------------------- filters


def ts(value: datetime | None, style: str = "full") -> str:
    """UTC timestamp: ``2026-11-24 09:42:05 UTC`` (full) or ``09:42:05`` (time)."""
    if value is None:
        return "—"
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if style == "time":
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@pass_context
def who(context: Context, user: str | None) -> str:
    """Slack user id → display name from ``names``; unknown ids (and non-ids) shown as they are."""
    if not user:
        return "—"
    names = context.get("names") or {}
    return str(names.get(user, user))


_HTML = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
# A line of user text starting like this would become a heading, a fence, a rule, a table or a
# setext underline: escape its first character.
_BLOCK_START = re.compile(r"^(\s{0,3})(#|```|~~~|\||[-=]+\s*$|[_*]{3,}\s*$)")


def _neutral(text: str) -> str:
    """Backslashes, HTML (&, <, >) and link brackets made literal: user text never becomes a
    tag, an entity, an autolink, a link or an image, in any Markdown viewer."""
    text = text.replace("\\", "\\\\")
    for raw, entity in _HTML:
        text = text.replace(raw, entity)
    return text.replace("[", "\\[").replace("]", "\\]")


def md_cell(value: Any) -> str:
    """Make text safe inside a Markdown table cell: one line, escaped pipes, no raw HTML."""
    if value is None or value == "":
        return "—"
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    text = _neutral(text).replace("|", "\\|")
    return text.replace("\n", "<br>")


def md_inline(value: Any) -> str:
    """User text on one line outside a table (the title, list items): one line, no raw HTML,
    no link, and no leading or trailing "#" that a heading would swallow."""
    text = _neutral(oneline(value))
    if text.startswith("#"):
        text = "\\" + text
    return text[:-1] + "\\#" if text.endswith("#") else text


def md_text(value: Any) -> str:
    """User prose as a paragraph (summary, impact, root cause): line breaks kept, no raw HTML,
    no link, and no line that opens a heading, a code fence, a rule or a table."""
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    lines = []
    for line in _neutral(text).split("\n"):
        lines.append(_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), line))
    return "\n".join(lines)


def oneline(value: Any) -> str:
    return " ".join(str(value or "").split())


def safe_url(url: str | None) -> str:
    """The URL if it is http(s)/mailto, else an empty string (never a javascript: link)."""
    if not url:
        return ""
    url = str(url).strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in SAFE_SCHEMES else ""


def md_link(label: Any, url: str | None) -> str:
    """``[label](url)`` usable in a table cell, or just the label when the URL is missing/unsafe."""
    text = md_cell(label)  # brackets already escaped
    target = safe_url(url)
    if not target:
        return text
    # Percent-encode what could end the link or the line: spaces, newlines, (), |, <, >, ...
    target = quote(target, safe=URL_SAFE)
    return f"[{text}]({target})"


def yesno(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def params(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    parts = []
    for key, item in value.items():
        shown = item if isinstance(item, str) else json.dumps(item, default=str, sort_keys=True)
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def verdict(value: Verdict | str | None) -> str:
    if value is None:
        return "—"
    try:
        return VERDICT_LABELS[Verdict(value)]
    except ValueError:
        return str(value)


def seconds(value: float | None) -> str:
    """A stored number of seconds (a drill scorecard's figures) as a duration."""
    return format_duration(None if value is None else timedelta(seconds=value))


FILTERS = {
    "duration": format_duration,
    "seconds": seconds,
    "ts": ts,
    "who": who,
    "md_cell": md_cell,
    "md_inline": md_inline,
    "md_text": md_text,
    "md_link": md_link,
    "oneline": oneline,
    "safe_url": safe_url,
    "yesno": yesno,
    "params": params,
    "score": score,
    "verdict": verdict,
}


# --------------------------------------------------------------------------- environments


@lru_cache(maxsize=32)
def _environment(templates_dir: str | None, fmt: str) -> PostmortemSandbox:
    package = FileSystemLoader(str(PACKAGE_TEMPLATES))
    loaders: list[Any] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(templates_dir))
    loaders += [package, PrefixLoader({"builtin": package})]
    env = PostmortemSandbox(
        loader=ChoiceLoader(loaders),
        autoescape=fmt == "html",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def get_environment(
    fmt: Format = "markdown", templates_dir: Path | None = None
) -> PostmortemSandbox:
    """The cached sandboxed environment for a format and (optional) user templates directory."""
    if fmt not in TEMPLATE_NAMES:
        raise ValueError(f"format must be one of {sorted(TEMPLATE_NAMES)}, got {fmt!r}")
    key = str(Path(templates_dir).expanduser().resolve()) if templates_dir is not None else None
    return _environment(key, fmt)


def cite_time(doc: PostmortemDoc) -> Callable[[datetime], str]:
    """How a citation names a timeline entry: its time, as the Timeline section shows it."""
    style = "time" if doc.single_day else "full"
    return lambda at: ts(at, style)


def render_postmortem(
    doc: PostmortemDoc,
    *,
    fmt: Format = "markdown",
    templates_dir: Path | None = None,
    pinned_only: bool = False,
    drafted: Draft | None = None,
) -> str:
    """`drafted`: the sections as rewritten (bot.postmortem.rewrite); by default, the draft."""
    env = get_environment(fmt, templates_dir)
    template = env.get_template(TEMPLATE_NAMES[fmt])
    context = {
        "doc": doc,
        "draft": drafted or draft(doc),
        "incident": doc.incident,
        "names": doc.names,
        "stages": STAGE_ORDER,
        "stage_colors": {stage.value: color for stage, color in STAGE_COLORS.items()},
        "timeline": doc.timeline_entries(pinned_only),
        "pinned_only": pinned_only,
        "time_style": "time" if doc.single_day else "full",
        "chart": build_chart(doc) if fmt == "html" else None,
        "fmt": fmt,
    }
    return template.render(context)
