"""Timeline capture from Slack: the 📌 reaction and the "Add to incident timeline" shortcut.

A reaction (OODA_PIN_REACTION, default pushpin) on a message in an incident channel puts that
message on the timeline with its original author and time; removing it takes the entry off.
Each message lands at most once (source key `slack:<channel>:<ts>`), and each Events API
delivery is recorded by its `event_id`, so Slack's retries never repeat the work. The delivery is
recorded together with a `slack.pin` job in one transaction, and the job does the Slack work
(read the message, confirm with a reaction): a Slack error there is retried by the job queue,
not lost to the deduplication of Slack's own retry.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, TypeGuard

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.domain.jobs import JobKind
from bot.domain.model import IncidentView, TimelineKind
from bot.service import cards, incidents
from bot.service.runtime import Runtime
from bot.slack.ids import BlockId, ShortcutId
from bot.slack.listen import interactions
from bot.slack.listen.channels import active, incident_by_number, incident_in_channel
from bot.slack.out import forms
from bot.slack.out.blocks import view_values
from bot.slack.out.text import from_slack, render
from bot.storage import jobs, repo

log = logging.getLogger(__name__)

CONFIRM_REACTION = "white_check_mark"
ANY_EVENT = re.compile(r".+")
MAX_TEXT = 2500
MAX_METADATA = 3000  # Slack's limit for a view's private_metadata


_ID = re.compile(r"[A-Z0-9]{1,40}")
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,8}")


def _slack_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _slack_ts(value: object) -> TypeGuard[str]:
    """A message ts as Slack writes them ("1700000000.000100"): what slack_time can read."""
    return isinstance(value, str) and _TS.fullmatch(value) is not None


def source_key(channel: str, ts: str) -> str:
    return f"slack:{channel}:{ts}"


def slack_time(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


async def queue_pin(rt: Runtime, body: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Record the Events API delivery by event_id and queue the `slack.pin` job that does the
    work, in one transaction. False when the delivery was seen before (a retry)."""
    event_id = body.get("event_id")
    event = body.get("event") or {}
    async with rt.db.transaction() as session:
        if event_id:
            row = await repo.record_inbound(
                session, "slack", str(event_id), event.get("type"), {"event": event}
            )
            if row is None:
                return False
        jobs.add_job(
            session,
            JobKind.SLACK_PIN,
            payload,
            # Adds and removals of one message stay in order; other incident work is not held up.
            ordering_key=f"{JobKind.SLACK_PIN}:{payload['channel']}:{payload['ts']}"[:200],
            dedup_key=f"{JobKind.SLACK_PIN}:{event_id}"[:200] if event_id else None,
        )
    return True


async def capture(
    rt: Runtime,
    inc: IncidentView,
    *,
    channel: str,
    ts: str,
    author: str | None,
    text: str,
    by: str | None,
) -> bool:
    """Put one Slack message on the timeline; False if it is already there."""
    async with rt.db.transaction() as session:
        entry = await repo.add_entry(
            session,
            inc.number,
            TimelineKind.PINNED,
            from_slack(text) or "(message without text)",
            actor=author,
            at=slack_time(ts),
            source_key=source_key(channel, ts),
            pinned=True,
            data={"channel": channel, "ts": ts, "added_by": by},
        )
    return entry is not None


async def _confirm(rt: Runtime, channel: str, ts: str) -> None:
    try:
        await rt.slack.react(channel, ts, CONFIRM_REACTION)
    except SlackApiError as exc:  # e.g. not_in_channel for a shortcut elsewhere: cosmetic only
        log.info("could not confirm timeline capture: %s", exc.response.get("error"))


def _is_pin(rt: Runtime, event: dict[str, Any]) -> bool:
    # OODA_PIN_REACTION may be written ":pushpin:" as people type it.
    return event.get("reaction") == rt.settings.pin_reaction.strip().strip(":")


def _pin_target(rt: Runtime, body: dict[str, Any]) -> tuple[str, str] | None:
    event = body.get("event") or {}
    item = event.get("item") or {}
    if not _is_pin(rt, event) or item.get("type") != "message":
        return None
    channel, ts = item.get("channel"), item.get("ts")
    return (channel, ts) if _slack_id(channel) and _slack_ts(ts) else None


async def on_reaction_added(rt: Runtime, body: dict[str, Any]) -> None:
    await _on_reaction(rt, body, "add")


async def on_reaction_removed(rt: Runtime, body: dict[str, Any]) -> None:
    await _on_reaction(rt, body, "remove")


async def _on_reaction(rt: Runtime, body: dict[str, Any], op: str) -> None:
    target = _pin_target(rt, body)
    if target is None:
        return
    channel, ts = target
    inc = await incident_in_channel(rt, channel)
    if inc is None:
        return
    by = (body.get("event") or {}).get("user")
    payload = {"op": op, "incident": inc.number, "channel": channel, "ts": ts, "by": by}
    await queue_pin(rt, body, payload)


async def run_pin(rt: Runtime, payload: dict[str, Any]) -> None:
    """The `slack.pin` job: put the 📌 message on the timeline, or take it off. A Slack error
    raises, so the job queue retries it; each step is idempotent (the source key)."""
    number, channel, ts = int(payload["incident"]), payload["channel"], payload["ts"]
    inc = await incidents.load(rt, number)
    if inc is None:
        return
    if payload.get("op") == "remove":
        async with rt.db.transaction() as session:
            removed = await repo.remove_entry(session, number, source_key(channel, ts))
        if removed:
            try:
                await rt.slack.unreact(channel, ts, CONFIRM_REACTION)
            except SlackApiError as exc:  # the entry is off the timeline; the ✅ is cosmetic
                log.info("could not remove the capture mark: %s", exc.response.get("error"))
        return
    message = await rt.slack.message(channel, ts)
    if message is None:  # a thread reply or a deleted message: nothing to quote
        log.info("pinned message %s in %s not found", ts, channel)
        return
    author = message.get("user") or message.get("bot_id")
    if await capture(
        rt,
        inc,
        channel=channel,
        ts=ts,
        author=author,
        text=message.get("text") or "",
        by=payload.get("by"),
    ):
        await _confirm(rt, channel, ts)


async def on_shortcut(rt: Runtime, body: dict[str, Any], respond: Any) -> None:
    channel = interactions.channel_id(body) or ""
    message = body.get("message") or {}
    ts = message.get("ts") or body.get("message_ts") or ""
    user = interactions.user_id(body)
    author = message.get("user") or message.get("bot_id")
    author = author if _slack_id(author) else None
    text = message.get("text")
    text = text if isinstance(text, str) else ""
    if not _slack_id(channel) or not _slack_ts(ts):
        return
    inc = await incident_in_channel(rt, channel)
    if inc is not None:
        if await capture(rt, inc, channel=channel, ts=ts, author=author, text=text, by=user):
            await _confirm(rt, channel, ts)
        return
    candidates = await active(rt)
    if not candidates:
        await respond(
            response_type="ephemeral",
            text=render("timeline_no_incident", command=rt.settings.slash_command),
        )
        return
    meta = _pick_metadata(channel, ts, author, text)
    await rt.slack.open_view(body["trigger_id"], forms.timeline_pick_modal(candidates, meta))


def _pick_metadata(channel: str, ts: str, author: str | None, text: str) -> str:
    """The message travels in the modal's private_metadata (at most 3000 characters)."""
    keep = MAX_TEXT
    while True:
        meta = json.dumps(
            {"c": channel, "t": ts, "a": author, "x": text[:keep]}, ensure_ascii=False
        )
        if len(meta) <= MAX_METADATA or keep == 0:
            return meta
        keep = max(0, keep - (len(meta) - MAX_METADATA) - 1)


async def run_shortcut(rt: Runtime, body: dict[str, Any]) -> None:
    """The `slack.interaction` job of a shortcut stored before its ack."""
    await on_shortcut(rt, body, interactions.responder(body))


async def on_pick(rt: Runtime, body: dict[str, Any]) -> None:
    """The `slack.interaction` job of a submitted incident picker."""
    view = body.get("view") or {}
    meta = interactions.json_object(view.get("private_metadata"))
    inc = await incident_by_number(rt, view_values(view).get(BlockId.INCIDENT))
    channel, ts, author, text = (meta.get(k) for k in ("c", "t", "a", "x"))
    if inc is None or not _slack_id(channel) or not _slack_ts(ts):
        return
    author = author if _slack_id(author) else None
    text = text[:MAX_TEXT] if isinstance(text, str) else ""
    user = interactions.user_id(body)
    added = await capture(rt, inc, channel=channel, ts=ts, author=author, text=text, by=user)
    if added:
        await _confirm(rt, channel, ts)
        await cards.say_now(rt, inc.number, render("timeline_captured", by=user, source=channel))


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.event("reaction_added")
    async def reaction_added(body: dict[str, Any]) -> None:
        await on_reaction_added(rt, body)

    @app.event("reaction_removed")
    async def reaction_removed(body: dict[str, Any]) -> None:
        await on_reaction_removed(rt, body)

    @app.shortcut(ShortcutId.ADD_TO_TIMELINE)
    async def add_to_timeline(ack: Any, body: dict[str, Any], respond: Any) -> None:
        channel = (body.get("channel") or {}).get("id")
        if await incident_in_channel(rt, channel) is not None:  # a capture: stored first
            await interactions.record_then_ack(rt, ack, body, locate=interactions.by_channel)
            return
        await ack()  # elsewhere: the incident picker (its submission is stored, in modals)
        interactions.after_ack(rt, body, on_shortcut(rt, body, respond))


def register_fallback(app: AsyncApp) -> None:
    """Register last: any other event type gets its 200 and is ignored (Bolt would answer 404,
    and Slack retries, then disables, an app that keeps failing)."""

    @app.event(ANY_EVENT)
    async def ignored(body: dict[str, Any]) -> None:
        log.debug("ignored Slack event %s", (body.get("event") or {}).get("type"))
