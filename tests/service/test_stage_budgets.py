"""Stage budgets that act: a stage over its budget is told in the channel and, for the
severities that ask for help, escalates the PagerDuty incident one level — once per stage
pass, whatever retries or replicas run the check."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devstack import DevStack
from bot.domain.model import Stage, TimelineKind, utcnow
from bot.job_handlers import register
from bot.service import budgets, incidents
from bot.service.runtime import build_runtime
from bot.storage import repo
from tests.helpers.stack import MakeStack

PD_ID = "PBUDGET1"
# 0.01 min: the check comes due while the test waits for the jobs (stack.settle's horizon).
CONFIG: dict[str, Any] = {
    "services": [{"name": "checkout", "pagerduty_service_ids": ["PCHKOUT"]}],
    "stage_budgets": {"SEV1": {"orient": 0.01}, "SEV3": {"orient": 0.01}},
}


async def paged(stack: DevStack, priority: str) -> int:
    stack.pagerduty.add_incident(
        PD_ID,
        number=31,
        title="Checkout 5xx",
        service_id="PCHKOUT",
        service_name="checkout",
        created_at=utcnow(),
        priority=priority,
    )
    stack.pagerduty.add_alert(PD_ID, summary="5xx above SLO", created_at=utcnow())
    event = stack.pagerduty.webhook_event("incident.triggered", PD_ID)
    assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()
    return 1


def escalations(stack: DevStack) -> list[int]:
    return [
        c.json["incident"]["escalation_level"]
        for c in stack.pagerduty.calls
        if c.method == "PUT"
        and c.path == f"/incidents/{PD_ID}"
        and "escalation_level" in ((c.json or {}).get("incident") or {})
    ]


async def entries(stack: DevStack, number: int) -> list[str]:
    async with stack.runtime.db.session() as session:
        found = await repo.timeline(session, number)
    return [e.text for e in found if e.kind in (TimelineKind.STAGE, TimelineKind.PAGERDUTY)]


def said(stack: DevStack) -> str:
    return "\n".join(m["text"] for m in stack.slack.messages())


@pytest.mark.db
async def test_a_sev1_over_its_orient_budget_escalates_once(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        number = await paged(stack, "P1")
        assert escalations(stack) == []  # Observe has no budget here
        await incidents.move_stage(stack.runtime, number, Stage.ORIENT, by=None)
        await stack.settle()

        assert escalations(stack) == [2]
        assert stack.pagerduty.incident(PD_ID)["escalation_level"] == 2
        text = said(stack)
        assert "*Orient* has taken" in text and "budget for SEV1" in text
        assert "Escalated the PagerDuty incident to level 2" in text
        timeline = await entries(stack, number)
        assert any(t.startswith("Orient over its budget for SEV1") for t in timeline)
        assert f"Escalated PagerDuty incident {PD_ID} to level 2: orient over budget" in timeline

        # The same check run again (a retried job) asks for nothing more.
        async with stack.runtime.db.session() as session:
            spans = await repo.spans(session, number)
        payload = {"incident": number, "kind": "budget", "stage": "orient", "span": len(spans)}
        await budgets.over_budget(stack.runtime, payload | {"budget": 0.01})
        await stack.settle()
        assert escalations(stack) == [2]
        assert said(stack).count("has taken") == 1


@pytest.mark.db
async def test_two_replicas_escalate_a_stage_pass_once(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        second = build_runtime(stack.settings())
        register(second)
        second.worker.start()
        try:
            number = await paged(stack, "P1")
            await incidents.move_stage(stack.runtime, number, Stage.ORIENT, by=None)
            await second.drain(30, horizon=2.0)
            await stack.settle()
            # Back to Orient after Decide: a new pass, a new budget, one more level.
            await incidents.move_stage(stack.runtime, number, Stage.DECIDE, by=None)
            await incidents.move_stage(stack.runtime, number, Stage.ORIENT, by=None)
            await second.drain(30, horizon=2.0)
            await stack.settle()
        finally:
            await second.aclose()
        assert escalations(stack) == [2, 3]


@pytest.mark.db
async def test_a_sev3_over_budget_is_told_but_pages_nobody(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        number = await paged(stack, "P3")
        await incidents.move_stage(stack.runtime, number, Stage.ORIENT, by=None)
        await stack.settle()
        assert "budget for SEV3" in said(stack)
        assert "Asking PagerDuty" not in said(stack)
        assert escalations(stack) == []
