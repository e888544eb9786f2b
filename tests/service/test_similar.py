"""Similar past incidents through the app: INC-1 on checkout is rolled back (verify passes) and
resolved; INC-2 on checkout then shows INC-1 on its Orient card, and Decide cites the rollback
that worked last time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.demo import CONFIG, DemoIncident, Step
from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.service import stats as service_stats
from tests.helpers.stack import FAST_VERIFY, MakeStack


def card(stack: DevStack, prefix: str) -> dict[str, Any]:
    found = [m for m in stack.slack.messages() if m["text"].startswith(prefix)]
    assert found, stack.slack.transcript()
    return found[-1]


def texts(message: dict[str, Any]) -> str:
    """Every section and context text of a card, joined."""
    parts = []
    for block in message["blocks"]:
        if block["type"] == "section":
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts.extend(e.get("text", "") for e in block["elements"])
    return "\n".join(parts)


async def test_second_checkout_incident_recalls_the_rollback_that_fixed_the_first(
    make_stack: MakeStack,
) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        # INC-1, the demo's story: the rollback clears the alerts, PagerDuty resolves.
        demo = DemoIncident(stack)
        scenario = demo.scenario
        await demo.play(through=Step.PAGE)
        assert "Similar past incidents" not in texts(card(stack, "INC-1 Orient"))  # none resolved
        await demo.play(through=Step.DECIDE)
        assert "mitigated an incident" not in texts(demo.decide_card)  # no history yet
        assert "Roll back checkout" in demo.run_button["text"]["text"]
        await demo.play(through=Step.ACT)
        assert "Alerts cleared" in "\n".join(m["text"] for m in stack.slack.messages(demo.channel))
        await demo.play()

        # INC-2: checkout fails again after another deploy.
        now = utcnow()
        stack.github.add_deployment(
            "acme/checkout",
            sha="d00dfeedd00dfeedd00dfeedd00dfeedd00dfeed",
            created_at=now - timedelta(minutes=10),
            description="v1.44.0",
        )
        pd = stack.pagerduty
        pd.add_incident(
            "PDEMO02",
            number=4712,
            title="Checkout 5xx errors above SLO",
            service_id="PCHKOUT",
            service_name="checkout",
            urgency="high",
            created_at=now - timedelta(minutes=1),
        )
        pd.add_alert("PDEMO02", summary="checkout-api 5xx rate 9%", created_at=now)
        triggered = pd.webhook_event("incident.triggered", "PDEMO02")
        assert (await stack.pagerduty_webhook(triggered)).status_code == 202
        await stack.settle()

        orient = texts(card(stack, "INC-2 Orient"))
        assert "Similar past incidents" in orient, orient
        assert "INC-1 “Checkout 5xx errors above SLO” — last time: " in orient
        assert "last time: Roll back checkout to 9a8b7c6, mitigated in " in orient

        second = card(stack, "INC-2 Orient")["channel"]
        stack.slack.join(second, scenario.alice)  # a responder: in the channel
        await stack.click("stage_decide", "2", user=scenario.alice, channel=second)
        await stack.settle()
        decide2 = card(stack, "INC-2 Decide")
        rollback = next(
            b["text"]["text"]
            for b in decide2["blocks"]
            if b["type"] == "section" and "Roll back checkout" in b["text"]["text"]
        )
        assert "worked 1 of 1 time on checkout; alerts cleared in " in rollback, rollback

        # `ooda stats --playbooks` reads the same record.
        records = await service_stats.playbook_records(stack.runtime.db, service="checkout")
        assert [(r.playbook_id, r.runs, r.effective) for r in records] == [
            ("rollback-github-actions", 1, 1)
        ]
        assert records[0].median_clear is not None
        table = service_stats.format_playbooks(records, days=30)
        assert "rollback-github-actions" in table and "100%" in table
