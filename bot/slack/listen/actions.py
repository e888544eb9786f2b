"""Button clicks (block_actions). A click that changes something is stored before its ack and
handled by its `slack.interaction` job (bot.slack.listen.interaction_job); one that opens a modal
is acked and opens it at once."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Stage, Verdict
from bot.domain.playbooks import PlaybookError
from bot.service import (
    act,
    decide,
    incidents,
    observation,
    reminders,
    verdicts,
)
from bot.service.pagerduty_mirror import acknowledge_everywhere
from bot.service.pagerduty_split import split_out
from bot.service.runtime import Runtime
from bot.slack.ids import ActionId, snooze_button, stage_button, verdict_button
from bot.slack.listen import authorize, interactions
from bot.slack.listen.channels import incident_by_number
from bot.slack.listen.interactions import Work
from bot.slack.out import forms, views
from bot.storage import repo

log = logging.getLogger(__name__)


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return (body.get("actions") or [{}])[0]


def _json_value(body: dict[str, Any]) -> dict[str, Any]:
    return interactions.json_object(_action(body).get("value"))


def _user(body: dict[str, Any]) -> str:
    return interactions.user_id(body) or ""


async def _ephemeral(rt: Runtime, body: dict[str, Any], text: str) -> None:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    user = (body.get("user") or {}).get("id")
    if channel and user:
        await rt.slack.ephemeral(channel, user, text)


def register(app: AsyncApp, rt: Runtime) -> None:
    # State changes: stored with a job before the ack; the job runs the handler in STORED.
    for action_id in STORED:
        app.action(action_id)(interactions.stored_listener(rt, locate))
    # Answers that open a modal with the trigger_id: acked, then opened at once.
    for action_id, opener in OPENERS.items():
        app.action(action_id)(_opening(rt, opener))


def _opening(rt: Runtime, opener: Work) -> Any:
    async def ack_and_open(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        interactions.after_ack(rt, body, _checked(rt, body, opener))

    return ack_and_open


async def _checked(rt: Runtime, body: dict[str, Any], opener: Work) -> None:
    """Open the modal only for a responder clicking in the incident's own channel."""
    async with rt.db.session() as session:
        named = await locate(session, body)
    why = await authorize.click_refusal(rt, body, named)
    if why is not None:
        await authorize.tell(rt, body, named, why)
        return
    await opener(rt, body)


async def locate(session: AsyncSession, body: dict[str, Any]) -> int | None:
    """The incident a click names: for the job's ordering key and the authorization check."""
    action = _action(body)
    action_id, value = str(action.get("action_id")), str(action.get("value") or "")
    if action_id in (ActionId.ACT_APPROVE, ActionId.ACT_CANCEL):  # "<incident>:<playbook>:…"
        return interactions.number_in(value.split(":", 1)[0])
    if action_id in _JSON_VALUED:
        payload = _json_value(body)
        return interactions.number_in(payload.get("i", payload.get("incident")))
    if action_id == ActionId.PAGERDUTY_SPLIT:
        row = await repo.incident_by_pagerduty(session, value)
        return row.id if row else None
    return interactions.number_in(value)


async def _on_ack(rt: Runtime, body: dict[str, Any]) -> None:
    inc = await incident_by_number(rt, _action(body).get("value"))
    if inc is not None:
        await acknowledge_everywhere(rt, inc.number, _user(body))
        await observation.observe(rt, inc.number)


async def _on_run(rt: Runtime, body: dict[str, Any]) -> None:
    value = _json_value(body)
    number, playbook_id = value.get("i"), value.get("p")
    inc = await incident_by_number(rt, number)
    if inc is None or not isinstance(playbook_id, str) or not playbook_id:
        return
    try:
        suggestion = await decide.resolve_choice(rt, inc.number, playbook_id)
    except PlaybookError as exc:
        await _ephemeral(rt, body, f"Cannot run that now: {exc}")
        return
    message_ts = str((body.get("container") or {}).get("message_ts") or "")[:40]
    try:
        row = await act.prepare(
            rt,
            inc.number,
            suggestion,
            key=act.action_key(inc.number, playbook_id, message_ts),
            requested_by=_user(body),
        )
    except act.NotAllowed as exc:
        await _ephemeral(rt, body, str(exc))
        return
    modal = forms.confirm_action(
        inc,
        suggestion,
        dry_run=act.runs_dry(rt, suggestion.playbook, is_drill=inc.is_drill),
        key=row.key,
    )
    await rt.slack.open_view(body.get("trigger_id") or "", modal)


async def _on_other(rt: Runtime, body: dict[str, Any]) -> None:
    inc = await incident_by_number(rt, _action(body).get("value"))
    if inc is not None:
        choices = [(p.title, p.id) for p in rt.playbooks]
        await rt.slack.open_view(
            body.get("trigger_id") or "", forms.other_decision_modal(inc, choices)
        )


async def _on_resolve(rt: Runtime, body: dict[str, Any]) -> None:
    inc = await incident_by_number(rt, _action(body).get("value"))
    if inc is not None:
        await rt.slack.open_view(body.get("trigger_id") or "", forms.resolve_modal(inc))


async def _on_split(rt: Runtime, body: dict[str, Any]) -> None:
    """Split an attached PagerDuty incident out into its own ooda incident."""
    pd_id = _action(body).get("value") or ""
    if await split_out(rt, pd_id, by=_user(body)) is None:
        await _ephemeral(rt, body, "That PagerDuty incident is not attached here any more.")


async def _on_approve(rt: Runtime, body: dict[str, Any]) -> None:
    """A second approver for a high-risk action."""
    key = _action(body).get("value") or ""
    async with rt.db.session() as session:
        row = await repo.action_run(session, key)
    if row is None:
        return
    playbook = decide.find_playbook(rt, row.playbook_id)
    user = _user(body)
    try:
        status = await act.approve(
            rt,
            key,
            user=user,
            reason="second approval",
            roles_required=list(playbook.requires.roles) if playbook else [],
            evidence=[],
        )
    except act.NotAllowed as exc:
        await _ephemeral(rt, body, str(exc))
        return
    if status == "cancelled":
        await _ephemeral(rt, body, f"{row.title} was cancelled; nothing to approve.")
        return
    channel = (body.get("container") or {}).get("channel_id")
    message_ts = str((body.get("container") or {}).get("message_ts") or "")[:40]
    if status == "queued" and channel and message_ts:
        # The Approve button has done its job: show who approved instead.
        first = (row.approved_by or [None])[0]
        text, blocks = views.second_approval_given(row.title, first, user)
        await rt.slack.update(channel, message_ts, text, blocks)


def _reminder(value: dict[str, Any]) -> dict[str, Any] | None:
    """The reminder payload a snooze button carries, checked field by field."""
    number = interactions.number_in(value.get("incident"))
    kind, stage = value.get("kind"), value.get("stage")
    if number is None or not isinstance(kind, str) or not isinstance(stage, str | None):
        return None
    counters: dict[str, Any] = {k: value[k] for k in ("span", "seq") if k in value}
    if not all(type(c) is int and 0 <= c < 2**40 for c in counters.values()):
        return None
    known = {"stage": stage[:20]} if stage is not None else {}
    return {"incident": number, "kind": kind[:20], **known, **counters}


def _snoozer(minutes: int) -> Work:
    async def snooze(rt: Runtime, body: dict[str, Any]) -> None:
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        payload = _reminder(_json_value(body))
        if not channel or not ts or payload is None:
            return
        user = _user(body)
        if await reminders.snooze(rt, payload, minutes, message_ts=ts[:40]):
            original = (body.get("message") or {}).get("text") or "Reminder"
            text, blocks = views.reminder_snoozed(original, minutes=minutes, by=user)
            await rt.slack.update(channel, ts, text, blocks)

    return snooze


async def _on_cancel(rt: Runtime, body: dict[str, Any]) -> None:
    """Withdraw a high-risk action still waiting for its second approver."""
    user = _user(body)
    try:
        title = await act.cancel(rt, _action(body).get("value") or "", user=user)
    except act.NotAllowed as exc:
        await _ephemeral(rt, body, str(exc))
        return
    container = body.get("container") or {}
    if container.get("channel_id") and container.get("message_ts"):
        text, blocks = views.action_cancelled(title, user)
        await rt.slack.update(container["channel_id"], container["message_ts"], text, blocks)


def _stage_mover(stage: Stage) -> Work:
    async def move(rt: Runtime, body: dict[str, Any]) -> None:
        inc = await incident_by_number(rt, _action(body).get("value"))
        if inc is not None:
            await incidents.move_stage(rt, inc.number, stage, by=_user(body))

    return move


def _verdict_marker(verdict: Verdict) -> Work:
    async def mark(rt: Runtime, body: dict[str, Any]) -> None:
        value = _json_value(body)
        number, change_id = interactions.number_in(value.get("i")), value.get("c")
        if number is None or not isinstance(change_id, str):
            return
        await verdicts.set_verdict(rt, number, change_id, verdict, by=_user(body))

    return mark


# Clicks that change something, by action_id: what their `slack.interaction` job runs.
STORED: dict[str, Work] = {
    ActionId.INCIDENT_ACK: _on_ack,
    **{stage_button(s): _stage_mover(s) for s in Stage},
    **{verdict_button(v): _verdict_marker(v) for v in Verdict},
    ActionId.PAGERDUTY_SPLIT: _on_split,
    ActionId.ACT_APPROVE: _on_approve,
    ActionId.ACT_CANCEL: _on_cancel,
    **{snooze_button(m): _snoozer(m) for m in reminders.SNOOZE_MINUTES},
}

# Clicks that open a modal (trigger_id valid 3 s): nothing to store. decide_run stores only
# the pending run the modal confirms, idempotent per decision card.
OPENERS: dict[str, Work] = {
    ActionId.DECIDE_RUN: _on_run,
    ActionId.DECIDE_OTHER: _on_other,
    ActionId.INCIDENT_RESOLVE: _on_resolve,
}

# Buttons whose value is JSON naming the incident: {"i": n}, or a reminder's {"incident": n}.
_JSON_VALUED = frozenset(
    {
        ActionId.DECIDE_RUN,
        *(verdict_button(v) for v in Verdict),
        *(snooze_button(m) for m in reminders.SNOOZE_MINUTES),
    }
)
