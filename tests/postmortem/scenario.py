"""Play the demo incident through the real app (webhook → ack → decide → act → resolve)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.demo import Scenario, seed_scenario
from bot.devstack import DevStack
from bot.domain.model import utcnow


@dataclass
class Played:
    scenario: Scenario
    channel_id: str


async def open_demo_incident(stack: DevStack) -> Played:
    """PagerDuty triggers INC-1; its channel is set up."""
    scenario = seed_scenario(stack, now=utcnow())
    response = await stack.pagerduty_webhook(scenario.triggered)
    assert response.status_code == 202, response.text
    await stack.settle()
    channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
    return Played(scenario, channel["id"])


async def play_demo_incident(stack: DevStack, *, resolve: bool = True) -> Played:
    """The whole demo incident; resolved by PagerDuty unless ``resolve`` is False."""
    played = await open_demo_incident(stack)
    alice, cid = played.scenario.alice, played.channel_id
    await stack.click("incident_ack", "1", user=alice, channel=cid)
    await stack.settle()
    await stack.click("stage_decide", "1", user=alice, channel=cid)
    await stack.settle()
    decide = next(m for m in stack.slack.messages(cid) if m["text"].startswith("INC-1 Decide"))
    button = next(
        b["accessory"]
        for b in decide["blocks"]
        if b.get("accessory", {}).get("action_id") == "decide_run"
    )
    await stack.click(
        "decide_run", button["value"], user=alice, channel=cid, message_ts=decide["ts"]
    )
    await stack.settle()
    modal = stack.slack.views[-1]
    assert modal["callback_id"] == "act_confirm"
    await stack.submit(modal, {"reason": "deploy lines up with the spike"}, user=alice)
    await stack.settle()
    if resolve:
        resolved = stack.pagerduty.webhook_event(
            "incident.resolved", played.scenario.pd_incident_id
        )
        assert (await stack.pagerduty_webhook(resolved)).status_code == 202
        await stack.settle()
    return played
