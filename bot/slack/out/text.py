"""Jinja2 for Slack text. Every interpolated value is escaped for mrkdwn unless marked Mrkdwn."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import DictLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.domain.stages import format_duration
from bot.slack.out.messages import TEMPLATES


class Mrkdwn(str):
    """Text that is already valid mrkdwn (mentions, links we built): not escaped again."""

    __slots__ = ()


def escape(text: object) -> str:
    """Slack mrkdwn control characters; '<!channel>' in user text becomes harmless '&lt;!channel&gt;'."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Mrkdwn):
        return value
    return escape(value)


def mention(user_id: str | None) -> Mrkdwn:
    if not user_id:
        return Mrkdwn("_unassigned_")
    if user_id.startswith(("U", "W")) and user_id.isalnum():
        return Mrkdwn(f"<@{user_id}>")
    return Mrkdwn(escape(user_id))


def link(url: str | None, label: str) -> Mrkdwn:
    if not url:
        return Mrkdwn(escape(label))
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return Mrkdwn(f"<{safe_url}|{escape(label)}>")


def format_seconds(value: float | None) -> str:
    """A stored number of seconds (a scorecard's figures) as a duration."""
    return format_duration(None if value is None else timedelta(seconds=value))


def hhmm(value: datetime | None) -> str:
    return value.strftime("%H:%M UTC") if value else "—"


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=DictLoader(TEMPLATES),
        undefined=StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=False,
    )
    env.filters.update(
        duration=format_duration,
        seconds=format_seconds,
        mention=mention,
        link=link,
        hhmm=hhmm,
        raw=Mrkdwn,
        channel=channel,
    )
    return env


def render(name: str, **context: Any) -> str:
    return _env().get_template(name).render(**context).strip()


def channel(channel_id: str | None) -> Mrkdwn:
    if channel_id and channel_id.isalnum():
        return Mrkdwn(f"<#{channel_id}>")
    return Mrkdwn("_no channel_")


# Slack markup in incoming text: <@U1|bob>, <#C1|general>, <https://x|label>. Special
# mentions (<!here>) are left alone: templates escape them into harmless visible text.
MARKUP = re.compile(
    r"<([@#])([A-Z0-9]+)(?:\|([^<>]*))?>|<([a-z][a-z0-9+.-]*:[^<>|\s]+)(?:\|([^<>]*))?>"
)


def _readable(match: re.Match[str]) -> str:
    sigil, target, label, url, url_label = match.groups()
    if sigil:
        return sigil + (label or target)
    return f"{url_label} ({url})" if url_label else url


def from_slack(text: str) -> str:
    """Slack text (a command's, a message's) as the person typed it: mentions, channels and
    links back to plain words. Templates escape it again on the way out."""
    plain = MARKUP.sub(_readable, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
