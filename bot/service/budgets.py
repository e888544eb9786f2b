"""Stage budgets that act: when one pass through a stage runs over its budget for the
incident's severity (OODA_CONFIG `stage_budgets:`), the channel is told, and for the
severities in `budget_help:` the PagerDuty incident is escalated one level, once per stage
pass, on the timeline (and so in the postmortem).

The check is a reminder job (kind "budget", dedup key `reminder:<n>:budget:<span>`), planned
when the stage starts and dropped with the others when the incident resolves. Its timeline
entry, keyed by the stage pass, is written before PagerDuty is called: a job that runs again,
on this replica or another, finds it and asks for nothing twice (at most once: a crash between
the entry and the call loses that escalation rather than paging twice).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.domain.model import Status, TimelineKind, utcnow
from bot.service import cards
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import repo

log = logging.getLogger(__name__)

BUDGET = "budget"
ESCALATED = "budget-escalated:"  # source key prefix of the escalations it asked for


def plan(
    rt: Runtime, number: int, severity_label: str, stage: str, span: int, started_at: datetime
) -> tuple[dict[str, Any], datetime] | None:
    """The budget check of this stage pass (payload, due time), or None without a budget."""
    minutes = rt.config.stage_budget(severity_label, stage)
    if not minutes:
        return None
    payload = {"incident": number, "kind": BUDGET, "stage": stage, "span": span, "budget": minutes}
    return payload, started_at + timedelta(minutes=minutes)


async def over_budget(rt: Runtime, payload: dict[str, Any]) -> None:
    number, stage, span = int(payload["incident"]), str(payload["stage"]), int(payload["span"])
    budget = timedelta(minutes=float(payload["budget"]))
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None or row.status == Status.RESOLVED.value:
            return
        inc = repo.to_view(row)
        spans = await repo.spans(session, number)
        if inc.stage.value != stage or len(spans) != span or spans[-1].ended_at is not None:
            return  # the loop moved on in time
        waited = utcnow() - spans[-1].started_at
        label = inc.severity.label
        wants_help = (
            label in rt.config.budget_help.severities
            and bool(inc.pd_incident_id)
            and rt.pagerduty is not None
            and not inc.is_drill
        )
        entry = await repo.add_entry(
            session,
            number,
            TimelineKind.STAGE,
            f"{stage.capitalize()} over its budget for {label} "
            f"({int(budget.total_seconds() // 60)} min)",
            actor="system",
            data={"stage": stage, "budget_minutes": payload["budget"], "help": wants_help},
            source_key=f"budget:{span}",
        )
        if entry is None:
            return  # this pass was reported (and help asked for) before
        level = 2 + await repo.count_entries(session, number, ESCALATED) if wants_help else None
        text = render(
            "budget_over",
            stage=stage,
            waited=waited,
            budget=budget,
            severity=label,
            help=wants_help,
        )
        await cards.say(session, number, text)
    if level is not None and inc.pd_incident_id and rt.pagerduty is not None:
        await _escalate(rt, number, inc.pd_incident_id, level, stage, span)


async def _escalate(
    rt: Runtime, number: int, pd_id: str, level: int, stage: str, span: int
) -> None:
    assert rt.pagerduty is not None
    try:
        await rt.pagerduty.escalate(pd_id, level)
    except Exception as exc:  # the channel is told to page by hand; nothing is retried
        log.warning("INC-%s: escalation to level %s failed: %s", number, level, exc)
        error = str(exc)[:200] or type(exc).__name__
        text = render("budget_escalation_failed", error=error)
        entry_text = f"Could not escalate PagerDuty incident {pd_id} to level {level}: {error}"
        key = f"budget-failed:{span}"
    else:
        text = render("budget_escalated", level=level, stage=stage)
        entry_text = f"Escalated PagerDuty incident {pd_id} to level {level}: {stage} over budget"
        key = f"{ESCALATED}{span}"
    async with rt.db.transaction() as session:
        data = {"pd_incident_id": pd_id, "level": level, "stage": stage}
        await repo.add_entry(
            session,
            number,
            TimelineKind.PAGERDUTY,
            entry_text,
            actor="system",
            data=data,
            source_key=key,
        )
        await cards.say(session, number, text)
