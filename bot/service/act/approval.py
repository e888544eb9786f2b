"""Act, approval: store what would run, collect approvals, queue the run once; or cancel it."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from bot.domain.action_runs import FINISHED, RunStatus, check_transition
from bot.domain.jobs import JobKind
from bot.domain.model import Status, TimelineKind, utcnow
from bot.domain.playbooks import Playbook, Suggestion
from bot.service import incidents
from bot.service.decide import add_decision
from bot.service.runtime import Runtime
from bot.storage import jobs, repo
from bot.storage.tables import ActionRunRow

MAX_ATTEMPTS_PER_CARD = 50


class NotAllowed(Exception):
    """The user may not approve this action; the message says why and what to do."""


def action_key(number: int, playbook_id: str, message_ts: str | None) -> str:
    """One key per decision card and playbook: a double click or a Slack retry maps to one run."""
    return f"{number}:{playbook_id}:{message_ts or 'direct'}"


def runs_dry(rt: Runtime, playbook: Playbook, *, is_drill: bool) -> bool:
    """Nothing reaches production for a drill, a dry-run playbook, or with OODA_DRY_RUN."""
    return rt.settings.dry_run or playbook.dry_run or is_drill


def _new_row(
    rt: Runtime, number: int, s: Suggestion, key: str, requested_by: str, *, is_drill: bool
) -> ActionRunRow:
    playbook = s.playbook
    return ActionRunRow(
        incident_id=number,
        key=key,
        playbook_id=playbook.id,
        title=s.label,
        action=", ".join(step.action for step in s.steps)[:60],
        params=dict(s.params),
        steps=[{"action": step.action, "with": step.with_} for step in s.steps],
        requested_by=requested_by,
        approved_by=[],
        approvals_needed=s.approvals,
        status=RunStatus.AWAITING_APPROVAL.value,
        dry_run=runs_dry(rt, playbook, is_drill=is_drill),
        verify=playbook.verify.model_dump() if playbook.verify else {},
        response={},
    )


async def prepare(
    rt: Runtime, number: int, suggestion: Suggestion, *, key: str, requested_by: str
) -> ActionRunRow:
    """Store what would run (resolved params) before anyone approves it.

    Idempotent per key: a double click or a Slack retry gets the same pending run. Once that run
    has finished, the same card starts a new attempt (`key#2`, `key#3`, ...)."""
    for attempt in range(1, MAX_ATTEMPTS_PER_CARD + 1):
        candidate = key if attempt == 1 else f"{key}#{attempt}"
        try:
            async with rt.db.transaction() as session:
                row = await repo.action_run(session, candidate)
                if row is None:
                    incident = await repo.get_incident(session, number)
                    drill = bool(incident and incident.is_drill)
                    row = _new_row(rt, number, suggestion, candidate, requested_by, is_drill=drill)
                    session.add(row)
        except IntegrityError:  # a concurrent click stored the same key first: use that one
            async with rt.db.session() as session:
                row = await repo.action_run(session, candidate)
            assert row is not None
        if row.status not in FINISHED:
            return row
    raise NotAllowed("This card has run too often; use a fresh Decide card.")


def _may_run(roles_required: list[str], incident_roles: dict[str, str], user: str) -> bool:
    if not roles_required or {"anyone", "responder"} & set(roles_required):
        return True
    return any(incident_roles.get(role) == user for role in roles_required)


def role_refusal(rt: Runtime, title: str, roles_required: list[str], number: int) -> str:
    need = " or ".join(roles_required)
    return (
        f"Only the {need} of INC-{number} may run {title}. Ask them to run it, "
        f"or take the role first: `{rt.settings.slash_command} role {roles_required[0]} @you`."
    )


async def approve(
    rt: Runtime,
    key: str,
    *,
    user: str,
    reason: str,
    roles_required: list[str],
    evidence: list[str],
) -> str:
    """Record an approval; when enough approvals are in, queue the run (exactly once).

    The first approver must hold an allowed role; a second approver (high risk) must be a
    different person. Returns the run's status after this approval."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None:
            raise NotAllowed("That action is no longer available: pick it again from Decide.")
        if row.status != RunStatus.AWAITING_APPROVAL:
            return row.status  # double submit or retry: nothing runs twice
        incident = await repo.get_incident(session, row.incident_id)
        assert incident is not None
        if incident.status == Status.RESOLVED.value:
            raise NotAllowed(f"INC-{incident.id} is resolved; nothing to run.")
        approvers = list(row.approved_by or [])
        if user in approvers:
            raise NotAllowed(f"You already approved {row.title}; a second person must approve it.")
        if not approvers and not _may_run(roles_required, incident.roles or {}, user):
            raise NotAllowed(role_refusal(rt, row.title, roles_required, incident.id))
        approvers.append(user)
        response = dict(row.response or {})
        if len(approvers) == 1:  # the confirming responder's reason is the decision's reason
            response |= {"reason": reason or "", "evidence": list(evidence)}
        queued = len(approvers) >= row.approvals_needed
        status = check_transition(
            row.status, RunStatus.QUEUED if queued else RunStatus.AWAITING_APPROVAL
        )
        # Compare-and-set on the status: of two concurrent approvals only one queues the run.
        if not await repo.update_action_run_if(
            session,
            key,
            status_was=RunStatus.AWAITING_APPROVAL,
            status=status,
            approved_by=approvers,
            response=response,
        ):
            return RunStatus.QUEUED.value
        number, title, dry_run = row.incident_id, row.title, row.dry_run
        decision = f"{'Dry run of' if dry_run else 'Run'} {title}"
        if queued:
            await add_decision(
                session,
                number,
                by=approvers[0],
                text=decision,
                reason=response.get("reason") or "—",
                playbook_id=row.playbook_id,
                evidence=list(response.get("evidence") or []),
            )
            jobs.add_job(
                session,
                JobKind.ACTION_RUN,
                {"key": key, "incident": number},  # the incident: for its log lines
                ordering_key=incidents.incident_key(number),
                max_attempts=1,  # never retried: a rollback must not run twice
            )
    # Only database work before this returns: the modal's ack must not wait on Slack. The
    # action.run job announces the decision in the channel before it runs anything.
    return status


async def cancel(rt: Runtime, key: str, *, user: str) -> str:
    """Withdraw an action still waiting for approval. Returns its title.

    Whoever requested or approved it may cancel it, and so may anyone allowed to run it."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != RunStatus.AWAITING_APPROVAL:
            state = row.status.replace("_", " ") if row else "gone"
            raise NotAllowed(f"Too late to cancel: that action is {state}.")
        incident = await repo.get_incident(session, row.incident_id)
        assert incident is not None
        playbook = next((p for p in rt.playbooks if p.id == row.playbook_id), None)
        roles: list[str] = list(playbook.requires.roles) if playbook else []
        involved = user == row.requested_by or user in (row.approved_by or [])
        if not involved and not _may_run(roles, incident.roles or {}, user):
            need = " or ".join(roles)
            raise NotAllowed(
                f"Only whoever asked for {row.title}, its approvers or the {need} of "
                f"INC-{incident.id} may cancel it."
            )
        if not await repo.update_action_run_if(
            session,
            key,
            status_was=RunStatus.AWAITING_APPROVAL,
            status=check_transition(row.status, RunStatus.CANCELLED),
            finished_at=utcnow(),
        ):
            raise NotAllowed("Too late to cancel: it was just approved.")
        await repo.add_entry(
            session,
            row.incident_id,
            TimelineKind.ACTION,
            f"{row.title}: cancelled",
            actor=user,
            data={"key": key, "params": row.params, "approved_by": list(row.approved_by or [])},
        )
        return row.title
