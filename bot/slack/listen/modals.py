"""Modal submissions (view_submission). Validation errors go back into the modal, in the ack;
a valid submission is stored before its ack and handled by its `slack.interaction` job."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Severity
from bot.domain.playbooks import PlaybookError
from bot.service import act, cards, decide, incidents, postmortems
from bot.service.pagerduty_mirror import resolve_everywhere
from bot.service.runtime import Runtime
from bot.slack.ids import INCIDENT_TEXTS, BlockId, ViewId
from bot.slack.listen import authorize, events, interactions, payloads
from bot.slack.listen.interactions import Work
from bot.slack.out import forms, views
from bot.slack.out.blocks import view_values
from bot.storage import repo

log = logging.getLogger(__name__)


def register(app: AsyncApp, rt: Runtime) -> None:
    for callback_id in (ViewId.RESOLVE, ViewId.POSTMORTEM_EDIT, ViewId.TIMELINE_PICK):
        app.view(callback_id)(interactions.stored_listener(rt, locate))

    @app.view(ViewId.DECLARE)
    async def on_declare(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not (view_values(view).get(BlockId.TITLE) or "").strip():
            await ack(
                response_action="errors", errors={BlockId.TITLE: "Give the incident a title."}
            )
            return
        await interactions.record_then_ack(rt, ack, body)

    @app.view(ViewId.ACT_CONFIRM)
    async def on_confirm(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await _confirm(rt, ack, body, view)

    @app.view(ViewId.DECIDE_OTHER)
    async def on_other(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await _other(rt, ack, body, view)


async def locate(session: AsyncSession, body: dict[str, Any]) -> int | None:
    """The incident a submission names: for the job's ordering key and the authorization."""
    view = body.get("view") or {}
    if view.get("callback_id") == ViewId.TIMELINE_PICK:
        return interactions.number_in(view_values(view).get(BlockId.INCIDENT))
    if view.get("callback_id") == ViewId.ACT_CONFIRM:  # an action key: "<incident>:<playbook>:…"
        return interactions.number_in(_action_key(view).split(":", 1)[0])
    return interactions.number_in(view.get("private_metadata"))


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    """The JSON object the bot put in private_metadata ({} when it is anything else)."""
    return interactions.json_object(view.get("private_metadata"))


def _action_key(view: dict[str, Any]) -> str:
    key = _meta(view).get("k")
    return key if isinstance(key, str) else ""


def _user(body: dict[str, Any]) -> str:
    return interactions.user_id(body) or ""


def _number(view: dict[str, Any]) -> int | None:
    return interactions.number_in(view.get("private_metadata"))


async def _declared(rt: Runtime, body: dict[str, Any]) -> None:
    view = body["view"]
    values = view_values(view)
    try:
        severity = Severity.parse(values.get(BlockId.SEVERITY) or "SEV3")
    except ValueError:  # not one of the form's options
        severity = Severity.SEV3
    service = values.get(BlockId.SERVICE)
    origin = view.get("private_metadata")
    await incidents.open_incident(
        rt,
        title=(values.get(BlockId.TITLE) or "").strip(),
        severity=severity,
        service=service if rt.config.service(service) else None,  # a catalog service only
        description=values.get(BlockId.DESCRIPTION),
        declared_by=_user(body) or None,
        origin_channel=origin if payloads.SLACK_ID.fullmatch(origin or "") else None,
    )


async def _resolved(rt: Runtime, body: dict[str, Any]) -> None:
    view = body["view"]
    number = _number(view)
    if number is None:
        return
    values = view_values(view)
    fields = {k.value: values.get(k) for k in INCIDENT_TEXTS}
    await resolve_everywhere(rt, number, _user(body), fields=fields)


async def _postmortem_edited(rt: Runtime, body: dict[str, Any]) -> None:
    view = body["view"]
    values = view_values(view)
    number = _number(view)
    if number is None:
        return
    fields = {k: values.get(k) for k in postmortems.EDITABLE}
    if await postmortems.update_fields(rt, number, fields, by=_user(body)):
        await postmortems.publish(rt, number, announce=False)


async def _confirm(rt: Runtime, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Approve before the ack (a refusal goes back into the modal), then store the rest."""
    if await interactions.seen(rt, body):  # a redelivery: approved once already
        await ack()
        return
    meta = _meta(view)
    key = _action_key(view)
    user = _user(body)
    async with rt.db.session() as session:
        row = await repo.action_run(session, key) if key else None
    playbook = decide.find_playbook(rt, row.playbook_id) if row else None
    if row is None or playbook is None:
        await ack(
            response_action="errors", errors={BlockId.REASON: "This action expired; pick it again."}
        )
        return
    why = await authorize.submission_refusal(rt, body, row.incident_id)
    if why is not None:  # before anything is approved: nothing runs
        await ack(response_action="errors", errors={BlockId.REASON: why[:150]})
        interactions.after_ack(rt, body, authorize.tell(rt, body, row.incident_id, why))
        return
    reason = (view_values(view).get(BlockId.REASON) or "").strip()
    # Database work only before the ack (role check, approval, queued run): Slack gives a
    # view_submission 3 s. Every post (the decision, the run) comes from a job.
    try:
        status = await act.approve(
            rt,
            key,
            user=user,
            reason=reason,
            roles_required=list(playbook.requires.roles),
            evidence=_evidence(meta),
        )
    except act.NotAllowed as exc:
        # The modal error is only seen while the modal is open; the ephemeral stays.
        await ack(response_action="errors", errors={BlockId.REASON: str(exc)[:150]})
        interactions.after_ack(rt, body, _refused(rt, row.incident_id, user, str(exc)))
        return
    if status == "cancelled":
        await ack(
            response_action="errors",
            errors={BlockId.REASON: "This action was cancelled; pick it again from Decide."},
        )
        return
    await interactions.record_then_ack(rt, ack, body, locate=locate)


def _evidence(meta: dict[str, Any]) -> list[str]:
    found = meta.get("e")
    return [e for e in found if isinstance(e, str)][:20] if isinstance(found, list) else []


async def _refused(rt: Runtime, number: int, user: str, why: str) -> None:
    inc = await incidents.load(rt, number)
    if inc is not None and inc.channel_id:
        await rt.slack.ephemeral(inc.channel_id, user, f":no_entry: {why}")


async def _confirmed(rt: Runtime, body: dict[str, Any]) -> None:
    """After the first of two approvals: ask for the second one in the channel."""
    key = _action_key(body["view"])
    user = _user(body)
    async with rt.db.session() as session:
        row = await repo.action_run(session, key) if key else None
    if row is None or row.status != "awaiting_approval" or list(row.approved_by) != [user]:
        return
    text, blocks = views.needs_second_approval(row.title, key, user)
    await cards.say_now(rt, row.incident_id, text, blocks, once=f"act:{key}:approval")


async def _other(rt: Runtime, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = view_values(view)
    number = _number(view)
    user = _user(body)
    own = (values.get(BlockId.DECISION) or "").strip()
    playbook_id = values.get(BlockId.PLAYBOOK)
    if number is None:
        await ack()  # not a modal the bot opened: nothing to decide on
        return
    if not own and not playbook_id:
        await ack(
            response_action="errors",
            errors={BlockId.DECISION: "Pick a playbook or write your decision."},
        )
        return
    if own:
        await interactions.record_then_ack(rt, ack, body, locate=locate)
        return
    why = await authorize.submission_refusal(rt, body, number)
    if why is not None:  # before a run is prepared
        await ack(response_action="errors", errors={BlockId.PLAYBOOK: why[:150]})
        interactions.after_ack(rt, body, authorize.tell(rt, body, number, why))
        return
    # A playbook: its confirmation modal is pushed in the ack; only a pending run is stored.
    try:
        suggestion = await decide.resolve_choice(rt, number, playbook_id or "")
    except PlaybookError as exc:
        await ack(response_action="errors", errors={BlockId.PLAYBOOK: str(exc)[:150]})
        return
    key = act.action_key(number, suggestion.playbook.id, str(view.get("id") or "")[:40])
    await act.prepare(rt, number, suggestion, key=key, requested_by=user)
    inc = await incidents.load(rt, number)
    if inc is None:
        await ack(response_action="errors", errors={BlockId.PLAYBOOK: f"No incident INC-{number}."})
        return
    modal = forms.confirm_action(
        inc,
        suggestion,
        dry_run=act.runs_dry(rt, suggestion.playbook, is_drill=inc.is_drill),
        key=key,
    )
    await ack(response_action="push", view=modal)


async def _decided(rt: Runtime, body: dict[str, Any]) -> None:
    view = body["view"]
    values = view_values(view)
    number = _number(view)
    if number is None:
        return
    await decide.record_decision(
        rt,
        number,
        by=_user(body),
        text=(values.get(BlockId.DECISION) or "").strip(),
        reason=values.get(BlockId.REASON) or "",
    )


# Submissions that change something, by callback_id: what their `slack.interaction` job runs.
STORED: dict[str, Work] = {
    ViewId.DECLARE: _declared,
    ViewId.RESOLVE: _resolved,
    ViewId.POSTMORTEM_EDIT: _postmortem_edited,
    ViewId.ACT_CONFIRM: _confirmed,
    ViewId.DECIDE_OTHER: _decided,
    ViewId.TIMELINE_PICK: events.on_pick,
}
