"""The Observe card redrawn after the resolve says resolved, even while PagerDuty's API still
answers with the incident's old status."""

from __future__ import annotations

from pathlib import Path

from bot.devstack import DevStack
from tests.helpers.decide_act import config_with
from tests.postmortem.scenario import play_demo_incident


async def test_observe_card_after_resolve_says_resolved(tmp_path: Path, database_url: str) -> None:
    async with DevStack(tmp_path, config=config_with(), database_url=database_url) as stack:
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
