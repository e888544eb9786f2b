"""Acknowledged means stored: Slack interactions are recorded before their 200.

A state-changing slash command, button click or modal submission is written to inbound_events
under Slack's own ids (`interaction_key`), together with a `slack.interaction` job, in one
transaction; only then is it acked (Bolt runs listeners before it answers). A redelivery finds
its key taken and is acked without doing anything. The job replays the stored payload through
the listener module's handler, one at a time per incident (ordering key `incident:<n>`), so a
process that dies right after the 200 loses nothing: another process runs the job.

What only answers (help, status, a modal opened with its trigger_id) is acked at once and
finishes in a task tracked here (`after_ack`), so tests can wait on it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from sqlalchemy.ext.asyncio import AsyncSession

from bot.service.incidents import incident_key
from bot.service.runtime import Runtime
from bot.storage import jobs
from bot.storage.repo import interactions as stored

log = logging.getLogger(__name__)

JOB_KIND = "slack.interaction"
MAX_KEY = 200  # inbound_events.dedup_key

Work = Callable[[Runtime, dict[str, Any]], Awaitable[None]]
# Which incident an interaction is about, read inside the recording transaction.
Locate = Callable[[AsyncSession, dict[str, Any]], Awaitable[int | None]]
# More to store in that same transaction (a note's timeline entry): (session, body, incident, key).
Also = Callable[[AsyncSession, dict[str, Any], int | None, str], Awaitable[None]]
Listener = Callable[..., Awaitable[None]]


def user_id(body: dict[str, Any]) -> str | None:
    return (body.get("user") or {}).get("id") or body.get("user_id")


def channel_id(body: dict[str, Any]) -> str | None:
    return (
        (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or body.get("channel_id")
    )


def kind_of(body: dict[str, Any]) -> str:
    return "slash_command" if "command" in body else str(body.get("type") or "interaction")


def interaction_key(body: dict[str, Any]) -> str:
    """Slack's ids for one interaction: the same on every redelivery, new for every new one."""
    kind = kind_of(body)
    if kind == "slash_command":
        ids = [body.get("trigger_id")]
    elif kind == "block_actions":
        action = (body.get("actions") or [{}])[0]
        container = body.get("container") or {}
        where = container.get("message_ts") or container.get("view_id")
        ids = [body.get("trigger_id") or where, action.get("action_ts"), action.get("action_id")]
        ids.append(user_id(body))
    elif kind == "view_submission":
        view = body.get("view") or {}
        ids = [view.get("id"), view.get("hash"), body.get("trigger_id")]
    else:  # a message shortcut
        ids = [body.get("trigger_id"), body.get("action_ts"), body.get("callback_id")]
    if not ids[0]:  # no id from Slack: the whole payload is what a redelivery repeats
        ids = [hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()]
    key = ":".join([kind, *(str(i or "") for i in ids)])
    if len(key) > MAX_KEY:
        key = f"{kind}:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


# ---- record, then ack ---------------------------------------------------------------------


async def record(
    rt: Runtime, body: dict[str, Any], *, locate: Locate | None = None, also: Also | None = None
) -> bool:
    """Store the interaction and its job in one transaction; False for a redelivery."""
    key = interaction_key(body)
    async with rt.db.transaction() as session:
        number = await locate(session, body) if locate else None
        inbound = await stored.record_interaction(session, key, kind_of(body), body)
        if inbound is None:
            return False
        if also is not None:
            await also(session, body, number, key)
        jobs.add_job(
            session,
            JOB_KIND,
            {"inbound": inbound},
            ordering_key=incident_key(number) if number is not None else None,
            max_attempts=3,  # a failure is reported, not retried; attempts cover a dead process
        )
    rt.worker.wake()
    return True


async def record_then_ack(
    rt: Runtime,
    ack: Any,
    body: dict[str, Any],
    *,
    locate: Locate | None = None,
    also: Also | None = None,
) -> bool:
    fresh = await record(rt, body, locate=locate, also=also)
    await ack()
    return fresh


async def seen(rt: Runtime, body: dict[str, Any]) -> bool:
    """Stored before: for listeners that must check before any work of their own."""
    async with rt.db.session() as session:
        return await stored.seen(session, interaction_key(body))


def stored_listener(rt: Runtime, locate: Locate | None = None) -> Listener:
    """A listener that only records and acks; the `slack.interaction` job does the work."""

    async def record_and_ack(ack: Any, body: dict[str, Any]) -> None:
        await record_then_ack(rt, ack, body, locate=locate)

    return record_and_ack


async def by_channel(session: AsyncSession, body: dict[str, Any]) -> int | None:
    return await stored.incident_for_channel(session, channel_id(body))


def number_in(value: Any) -> int | None:
    try:
        return int(str(value).upper().removeprefix("INC-"))
    except (TypeError, ValueError):
        return None


# ---- the job ------------------------------------------------------------------------------


async def run(rt: Runtime, payload: dict[str, Any]) -> None:
    """The `slack.interaction` job: the stored payload, through its listener's handler."""
    async with rt.db.session() as session:
        body = await stored.interaction(session, int(payload["inbound"]))
    if body is None:
        log.warning("stored Slack interaction %s is gone", payload.get("inbound"))
        return
    work = _handler(body)
    if work is None:
        log.warning("no handler for stored Slack interaction %s", interaction_key(body))
        return
    try:
        await work(rt, body)
    except Exception as exc:  # told to the user, like a listener failing; not retried
        await report_failure(rt, body, exc)


def _handler(body: dict[str, Any]) -> Work | None:
    from bot.slack import actions, commands, events, modals  # late: they import this module

    kind = kind_of(body)
    if kind == "slash_command":
        return commands.run_stored
    if kind == "block_actions":
        return actions.STORED.get(str((body.get("actions") or [{}])[0].get("action_id")))
    if kind == "view_submission":
        return modals.STORED.get(str((body.get("view") or {}).get("callback_id")))
    if kind == "message_action":
        return events.run_shortcut
    return None


def responder(body: dict[str, Any]) -> AsyncRespond:
    """`respond` for a stored interaction: its response_url outlives the request."""
    return AsyncRespond(response_url=body.get("response_url"))


# ---- work after the ack, and failures -----------------------------------------------------


def _tasks(rt: Runtime) -> set[asyncio.Task[None]]:
    tasks = rt.extras.setdefault("slack.after_ack", set())
    assert isinstance(tasks, set)
    return tasks


def after_ack(rt: Runtime, body: dict[str, Any], work: Coroutine[Any, Any, None]) -> None:
    """Finish a listener's answer after its ack, in a tracked task; failures reach the user."""

    async def finish() -> None:
        try:
            await work
        except Exception as exc:
            await report_failure(rt, body, exc)

    tasks = _tasks(rt)
    task = asyncio.create_task(finish())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def after_ack_done(rt: Runtime) -> None:
    """Wait until every listener's after-ack work in this process has finished."""
    tasks = _tasks(rt)
    while tasks:
        await asyncio.wait(set(tasks))


def after_ack_running(rt: Runtime) -> int:
    return len(_tasks(rt))


async def report_failure(rt: Runtime, body: dict[str, Any], error: Exception) -> None:
    """A listener or its job raised: log it and tell the person who acted."""
    log.error("Slack listener failed: %s", error, exc_info=error)
    user, channel = user_id(body), channel_id(body)
    if not (user and channel):
        return
    try:
        await rt.slack.ephemeral(
            channel,
            user,
            f"That did not work ({type(error).__name__}); it is logged. "
            f"Try again, or use `{rt.settings.slash_command} help`.",
        )
    except Exception:  # the report itself must never raise
        log.warning("could not tell the user about a failed listener", exc_info=True)
