"""The cards people act on: `/incident status`, the pinned live summary, confirmation dialogs on
buttons that act at once, and typed stage commands moving the loop like the buttons do."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.devstack import DevStack
from tests.helpers.decide_act import (
    WebhookReceiver,
    config_with,
    incident_row,
    incident_stack,
    latest,
    pick_other,
    set_roles,
    stage_spans,
)
from tests.helpers.pagerduty import CONFIG, deliver, observe_card, seed_incident
from tests.helpers.slack import ALICE, BOB, declare, responses, texts
from tests.helpers.stack import MakeStack


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every button of a message by action_id (accessories and actions blocks)."""
    found: dict[str, dict[str, Any]] = {}
    for block in message["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else []
        for element in [*elements, block.get("accessory") or {}]:
            if element.get("type") == "button":
                found[element["action_id"]] = element
    return found


def assert_confirm_dialog(button: dict[str, Any], *, mentions: str) -> None:
    dialog = button.get("confirm")
    assert dialog is not None, f"{button['action_id']} has no confirmation dialog"
    assert dialog["title"]["type"] == "plain_text" and dialog["title"]["text"]
    assert dialog["confirm"]["type"] == "plain_text" and dialog["deny"]["type"] == "plain_text"
    assert mentions in dialog["text"]["text"]


async def test_status_card_shows_stage_time_severity_roles_and_alerts(
    make_stack: MakeStack,
) -> None:
    async with incident_stack(make_stack) as (stack, opened):
        alice, bob = opened.scenario.alice, opened.scenario.bob
        await set_roles(stack, 1, {"commander": alice, "scribe": bob})
        row = await incident_row(stack)
        alerts = (row.observation or {}).get("alerts") or []
        assert alerts, "the demo incident has firing alerts"

        response = await stack.command("status", user=alice, channel=opened.channel)
        assert response.status_code == 200
        await stack.settle()
        status = responses(stack)[-1]

        assert status.startswith("*INC-1*")
        stage = row.stage.capitalize()
        assert re.search(rf"stage \*{stage}\* for \S+", status), status
        assert f"SEV{row.severity} · " in status
        assert f"Commander: <@{alice}>" in status and f"Scribe: <@{bob}>" in status
        assert "Comms: " in status
        assert "*Latest alerts:*" in status
        assert f"• {alerts[0]['summary']}" in status
        # Ephemeral: nothing new was posted to the channel.
        assert not any(m["text"] == status for m in stack.slack.messages(opened.channel))


async def test_live_summary_is_pinned_and_updated_on_severity_change(stack: DevStack) -> None:
    channel = await declare(stack)
    [summary] = [m for m in stack.slack.messages(channel) if "live summary" in m["text"]]
    pins = [c for c in stack.slack.calls("pins.add") if c.params.get("channel") == channel]
    assert [c.params.get("timestamp") for c in pins] == [summary["ts"]]

    updates_before = len(stack.slack.calls("chat.update"))
    await stack.command("sev 1", user=ALICE, channel=channel)
    await stack.settle()

    updates = [
        c
        for c in stack.slack.calls("chat.update")[updates_before:]
        if c.params.get("ts") == summary["ts"]
    ]
    assert updates, "the summary message was not updated in place"
    assert "SEV1" in str(updates[-1].params.get("blocks"))
    [current] = [m for m in stack.slack.messages(channel) if m["ts"] == summary["ts"]]
    assert "SEV1" in str(current["blocks"])
    # Still pinned once, no second summary message.
    assert len([m for m in stack.slack.messages(channel) if "live summary" in m["text"]]) == 1
    assert (
        len([c for c in stack.slack.calls("pins.add") if c.params.get("channel") == channel]) == 1
    )


async def test_split_out_asks_for_confirmation(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        seed_incident(stack, "PINC001", number=101)
        seed_incident(stack, "PINC002", number=102, title="Checkout <latency>")
        await deliver(stack, "incident.triggered", "PINC001")
        await deliver(stack, "incident.triggered", "PINC002")
        [channel] = [c["id"] for c in stack.slack.channels if c["name"].startswith("inc-1-")]
        split = buttons(observe_card(stack, channel))["pagerduty_split"]
        assert_confirm_dialog(split, mentions="#102 Checkout &lt;latency&gt;")


async def test_second_approval_buttons_ask_for_confirmation(make_stack: MakeStack) -> None:
    with WebhookReceiver() as receiver:
        config = config_with(webhooks={"failover": f"{receiver.url}/failover"})
        async with incident_stack(make_stack, config=config) as (stack, opened):
            alice = opened.scenario.alice
            await set_roles(stack, 1, {"commander": alice})
            pushed = await pick_other(stack, opened, "failover-region", user=alice)
            await stack.submit(pushed["view"], {"reason": "region down"}, user=alice)
            await stack.settle()
            found = buttons(latest(stack, opened.channel, ":lock:"))
            title = "Fail checkout over to standby"
            assert_confirm_dialog(found["act_approve"], mentions=title)
            assert_confirm_dialog(found["act_cancel"], mentions=title)
            assert receiver.requests == []


async def test_verdict_and_navigation_buttons_need_no_confirmation(make_stack: MakeStack) -> None:
    """Reversible clicks stay one click: a verdict can be changed, a stage moved back."""
    async with incident_stack(make_stack) as (stack, opened):
        await stack.command("orient", user=opened.scenario.alice, channel=opened.channel)
        await stack.settle()
        orient = latest(stack, opened.channel, "INC-1 Orient")
        found = buttons(orient)
        assert {"verdict_caused", "verdict_suspect", "stage_decide"} <= set(found)
        assert all("confirm" not in b for b in found.values())


@pytest.mark.parametrize("stages", [["orient", "decide", "act", "observe"]])
async def test_typed_stage_commands_move_the_loop(stack: DevStack, stages: list[str]) -> None:
    channel = await declare(stack)
    for stage in stages:
        response = await stack.command(stage, user=BOB, channel=channel)
        assert response.status_code == 200
        await stack.settle()
        assert any(
            f"Stage → *{stage.capitalize()}*" in t and BOB in t for t in texts(stack, channel)
        )
    spans = await stage_spans(stack)
    assert spans == [(1, "observe"), (1, "orient"), (1, "decide"), (1, "act"), (2, "observe")]

    # The same stage again is refused with a reason, and no span is added.
    await stack.command("observe", user=BOB, channel=channel)
    await stack.settle()
    assert "already in observe" in responses(stack)[-1]
    assert len(await stage_spans(stack)) == len(spans)
