"""Modal submissions (view_submission). Validation errors go back into the modal."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.model import Severity
from bot.domain.playbooks import PlaybookError
from bot.service import act, cards, decide, incidents, postmortems
from bot.service.runtime import Runtime
from bot.service.sync import resolve_everywhere
from bot.slack import views
from bot.slack.blocks import view_values
from bot.storage import repo

log = logging.getLogger(__name__)


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.view("declare")
    async def on_declare(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view_values(view)
        title = (values.get("title") or "").strip()
        if not title:
            await ack(response_action="errors", errors={"title": "Give the incident a title."})
            return
        await ack()
        await incidents.open_incident(
            rt,
            title=title,
            severity=Severity.parse(values.get("severity") or "SEV3"),
            service=values.get("service"),
            description=values.get("description"),
            declared_by=body["user"]["id"],
            origin_channel=view.get("private_metadata") or None,
        )

    @app.view("resolve")
    async def on_resolve(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        values = view_values(view)
        await resolve_everywhere(
            rt,
            int(view["private_metadata"]),
            body["user"]["id"],
            fields={k: values.get(k) for k in ("summary", "impact", "root_cause")},
        )

    @app.view("postmortem_edit")
    async def on_postmortem_edit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        values = view_values(view)
        number = int(view["private_metadata"])
        fields = {k: values.get(k) for k in postmortems.EDITABLE}
        if await postmortems.update_fields(rt, number, fields, by=body["user"]["id"]):
            await postmortems.publish(rt, number, announce=False)

    @app.view("act_confirm")
    async def on_confirm(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        key = meta.get("k", "")
        user = body["user"]["id"]
        async with rt.db.session() as session:
            row = await repo.action_run(session, key)
        playbook = decide.find_playbook(rt, row.playbook_id) if row else None
        if row is None or playbook is None:
            await ack(
                response_action="errors", errors={"reason": "This action expired; pick it again."}
            )
            return
        reason = (view_values(view).get("reason") or "").strip()
        # Database work only before the ack (role check, approval, queued run): Slack gives a
        # view_submission 3 s. Every post (the decision, the run) comes after, or from the job.
        try:
            status = await act.approve(
                rt,
                key,
                user=user,
                reason=reason,
                roles_required=list(playbook.requires.roles),
                evidence=meta.get("e", []),
            )
        except act.NotAllowed as exc:
            # The modal error is only seen while the modal is open; the ephemeral stays.
            await ack(response_action="errors", errors={"reason": str(exc)[:150]})
            inc = await incidents.load(rt, row.incident_id)
            if inc is not None and inc.channel_id:
                await rt.slack.ephemeral(inc.channel_id, user, f":no_entry: {exc}")
            return
        if status == "cancelled":
            await ack(
                response_action="errors",
                errors={"reason": "This action was cancelled; pick it again from Decide."},
            )
            return
        await ack()
        if status == "awaiting_approval":
            text, blocks = views.needs_second_approval(row.title, key, user)
            await cards.say_now(rt, row.incident_id, text, blocks, once=f"act:{key}:approval")

    @app.view("decide_other")
    async def on_other(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view_values(view)
        number = int(view["private_metadata"])
        user = body["user"]["id"]
        own = (values.get("decision") or "").strip()
        playbook_id = values.get("playbook")
        if not own and not playbook_id:
            await ack(
                response_action="errors",
                errors={"decision": "Pick a playbook or write your decision."},
            )
            return
        if own:
            await ack()
            await decide.record_decision(
                rt, number, by=user, text=own, reason=values.get("reason") or ""
            )
            return
        try:
            suggestion = await decide.resolve_choice(rt, number, playbook_id or "")
        except PlaybookError as exc:
            await ack(response_action="errors", errors={"playbook": str(exc)[:150]})
            return
        key = act.action_key(number, suggestion.playbook.id, view.get("id"))
        await act.prepare(rt, number, suggestion, key=key, requested_by=user)
        inc = await incidents.load(rt, number)
        assert inc is not None
        modal = views.confirm_action(
            inc, suggestion, dry_run=rt.settings.dry_run or suggestion.playbook.dry_run, key=key
        )
        await ack(response_action="push", view=modal)
