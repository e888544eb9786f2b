"""The Observe card redrawn after the resolve says resolved, even while PagerDuty's API still
answers with the incident's old status."""

from __future__ import annotations

from bot.demo import DemoIncident
from tests.helpers.decide_act import config_with
from tests.helpers.stack import MakeStack


async def test_observe_card_after_resolve_says_resolved(make_stack: MakeStack) -> None:
    async with make_stack(config_with()) as stack:
        demo = await DemoIncident(stack).play()  # incident.resolved; the API still says acked
        pd_incident = stack.pagerduty.incident(demo.scenario.pd_incident_id)
        assert pd_incident["status"] == "acknowledged"

        [card] = [
            m for m in stack.slack.messages(demo.channel) if m["text"].startswith("INC-1 Observe")
        ]
        facts = card["blocks"][1]["text"]["text"]
        assert "*Status:* resolved" in facts, facts
        assert "acknowledged" not in facts
        assert card["text"] == "INC-1 Observe: 0 alert(s) firing"
