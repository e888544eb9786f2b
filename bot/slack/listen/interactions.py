"""Acknowledged means stored: Slack interactions are recorded before their 200.

A state-changing slash command, button click or modal submission is written to inbound_events
under Slack's own ids (`interaction_key`), together with a `slack.interaction` job, in one
transaction; only then is it acked (Bolt runs listeners before it answers). A redelivery finds
its key taken and is acked without doing anything. The job (bot.slack.listen.interaction_job)
replays the stored payload through the listener module's handler, one at a time per incident
(ordering key `incident:<n>`), so a process that dies right after the 200 loses nothing: another
process runs the job.

What only answers (help, status, a modal opened with its trigger_id) is acked at once and
finishes in a task tracked here (`after_ack`), so tests can wait on it instead of sleeping.

Nothing that follows an ack competes with the acks still due: records that arrive together
share one commit (bot.slack.listen.recorder), and the worker is woken for their jobs, and answers
start, once no Slack request is being answered in this process (`Acks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import json_values
from bot.service.runtime import Runtime
from bot.slack.listen.channels import number_in
from bot.slack.listen.recorder import CHANNELS, FINGERPRINT, Also, Locate, Recorder
from bot.storage.repo import interactions as stored

log = logging.getLogger(__name__)

__all__ = ["interaction_key", "number_in", "record", "record_then_ack"]

MAX_KEY = 200  # inbound_events.dedup_key
AFTER_ACK_WAIT = 0.25  # longest an answer waits for other requests' acks

Work = Callable[[Runtime, dict[str, Any]], Awaitable[None]]
Listener = Callable[..., Awaitable[None]]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _field(body: dict[str, Any], key: str, inner: str) -> str | None:
    """body[key][inner] when body[key] is an object, else body[key] itself when it is text."""
    value = body.get(key)
    return _text(value.get(inner)) if isinstance(value, dict) else _text(value)


def user_id(body: dict[str, Any]) -> str | None:
    return _field(body, "user", "id") or _text(body.get("user_id"))


def channel_id(body: dict[str, Any]) -> str | None:
    return (
        _field(body, "channel", "id")
        or _field(body, "container", "channel_id")
        or _text(body.get("channel_id"))
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
    """Store the interaction and its job (committed when this returns); False for a
    redelivery. Records arriving together share one transaction (bot.slack.listen.recorder)."""
    key = interaction_key(body)
    return await _recorder(rt).record(body, key=key, kind=kind_of(body), locate=locate, also=also)


# The fingerprint of the Slack request being answered (set by bot.slack.listen.http): what does
# not store the interaction itself (answers, modals opened) stores this before it acts.
FINGERPRINT_OF_REQUEST: ContextVar[str | None] = ContextVar("slack_request", default=None)


async def remember_request(rt: Runtime, fingerprint: str, kind: str) -> bool:
    """Store an accepted request's fingerprint (committed with the records arriving along with
    it); False when it was stored before: a replay."""
    body = {"kind": kind[:80]}
    return await _recorder(rt).record(
        body, key=fingerprint, kind=FINGERPRINT, locate=None, also=None
    )


def _recorder(rt: Runtime) -> Recorder:
    found = rt.extras.get("slack.recorder")
    if not isinstance(found, Recorder):
        found = rt.extras["slack.recorder"] = Recorder(rt, lambda: wake_after_acks(rt))
    return found


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
    """The incident of the channel. Remembered once found (the recorder keeps the memo across
    its transactions): an incident's channel never changes hands."""
    channel = channel_id(body)
    known = session.info.setdefault(CHANNELS, {})
    if channel in known:
        return int(known[channel])
    number = await stored.incident_for_channel(session, channel)
    if number is not None:
        known[channel] = number
    return number


def json_object(text: Any) -> dict[str, Any]:
    """A button value or private_metadata the bot wrote as a JSON object; {} for anything
    else (strict decoding: no depth, NUL or 64-bit surprises reach the handlers)."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json_values.decode(text.encode("utf-8"))
    except json_values.BodyError:
        return {}
    return value if isinstance(value, dict) else {}


# ---- for the job that replays it (bot.slack.listen.interaction_job) -----------------------


def responder(body: dict[str, Any]) -> AsyncRespond:
    """`respond` for a stored interaction: its response_url outlives the request."""
    return AsyncRespond(response_url=body.get("response_url"))


# ---- what runs after the acks --------------------------------------------------------------


class Acks:
    """Slack requests being answered in this process. Work that follows an ack (jobs, answers)
    waits until every ack then pending is out: on this event loop it would hold them up."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.answering = 0
        self.wake_owed = False
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.answering += 1
        self.idle.clear()

    def leave(self) -> None:
        self.answering -= 1
        if self.answering:
            return
        self.idle.set()
        if self.wake_owed:
            self.wake_owed = False
            self.rt.worker.wake()

    async def quiet(self, longest: float = AFTER_ACK_WAIT) -> None:
        """Until no ack is pending, or `longest` seconds (requests may never stop coming)."""
        if not self.idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), longest)


def acks(rt: Runtime) -> Acks:
    found = rt.extras.get("slack.acks")
    if not isinstance(found, Acks):
        found = rt.extras["slack.acks"] = Acks(rt)
    return found


def wake_after_acks(rt: Runtime) -> None:
    """Wake the worker for new jobs, once the pending acks are out (else its next poll)."""
    state = acks(rt)
    if state.answering:
        state.wake_owed = True
    else:
        rt.worker.wake()


def _tasks(rt: Runtime) -> set[asyncio.Task[None]]:
    tasks = rt.extras.setdefault("slack.after_ack", set())
    assert isinstance(tasks, set)
    return tasks


def after_ack(rt: Runtime, body: dict[str, Any], work: Coroutine[Any, Any, None]) -> None:
    """Finish a listener's answer after its ack, in a tracked task; failures reach the user.
    A replayed request (its fingerprint stored before) gets its ack and nothing more."""
    fingerprint = FINGERPRINT_OF_REQUEST.get()

    async def finish() -> None:
        try:
            await acks(rt).quiet()
            if fingerprint and not await remember_request(rt, fingerprint, kind_of(body)):
                log.info("ignored a replayed Slack %s", kind_of(body))
                work.close()
                return
            await work
        except Exception as exc:
            await report_failure(rt, body, exc)

    _track(rt, finish())


def _track(rt: Runtime, work: Coroutine[Any, Any, None]) -> None:
    tasks = _tasks(rt)
    task = asyncio.create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def after_ack_done(rt: Runtime) -> None:
    """Wait until every listener's after-ack work in this process has finished."""
    tasks = _tasks(rt)
    while tasks:
        await asyncio.wait(set(tasks))


def after_ack_running(rt: Runtime) -> int:
    return len(_tasks(rt))


def log_failure(error: Exception) -> None:
    """A refusal by Slack (an expired trigger_id, a user not in the channel) is not our bug:
    a warning with Slack's error; anything else is an error with its traceback."""
    if isinstance(error, SlackApiError):
        log.warning("Slack refused a listener's call: %s", error.response.get("error"))
    else:
        log.error("Slack listener failed: %s", error, exc_info=error)


async def report_failure(rt: Runtime, body: dict[str, Any], error: Exception) -> None:
    """A listener or its job raised: log it and tell the person who acted."""
    log_failure(error)
    await _tell_failure(rt, body, error)


def report_after_ack(rt: Runtime, body: dict[str, Any], error: Exception) -> None:
    """Log it now, tell the person in a tracked task: the answer to Slack does not wait."""
    log_failure(error)
    _track(rt, _tell_failure(rt, body, error))


async def _tell_failure(rt: Runtime, body: dict[str, Any], error: Exception) -> None:
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
