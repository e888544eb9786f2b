"""The Observe card redrawn after the resolve says resolved, even while PagerDuty's API still
answers with the incident's old status."""

from __future__ import annotations

from tests.helpers.decide_act import config_with
from tests.helpers.stack import MakeStack
from tests.postmortem.scenario import play_demo_incident


async def test_observe_card_after_resolve_says_resolved(make_stack: MakeStack) -> None:
    async with make_stack(config_with()) as stack:
        played = await play_demo_incident(stack)  # incident.resolved; the API still says acked
        pd_incident = stack.pagerduty.incident(played.scenario.pd_incident_id)
        assert pd_incident["status"] == "acknowledged"

        [card] = [
            m
            for m in stack.slack.messages(played.channel_id)
            if m["text"].startswith("INC-1 Observe")
        ]
        facts = card["blocks"][1]["text"]["text"]
        assert "*Status:* resolved" in facts, facts
        assert "acknowledged" not in facts
        assert card["text"] == "INC-1 Observe: 0 alert(s) firing"
