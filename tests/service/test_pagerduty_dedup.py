"""A second PagerDuty incident on the same service is attached, listed, and can be split out."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devstack import DevStack
from tests.helpers.pagerduty import (
    CONFIG,
    deliver,
    incidents,
    links,
    observe_card,
    seed_incident,
    timeline,
)
from tests.helpers.stack import MakeStack


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


def split_buttons(card: dict[str, Any]) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in card["blocks"]
        if b.get("accessory", {}).get("action_id") == "pagerduty_split"
    ]


async def test_second_incident_on_same_service_is_attached_then_split_out(stack: DevStack) -> None:
    alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    seed_incident(stack, "PINC001", number=101)
    seed_incident(stack, "PINC002", number=102, title="Checkout latency", urgency="low")
    await deliver(stack, "incident.triggered", "PINC001")
    await deliver(stack, "incident.triggered", "PINC002")

    [host] = await incidents(stack)
    assert len(stack.slack.calls("conversations.create")) == 1
    assert [(k.incident_id, k.pd_incident_id) for k in await links(stack)] == [
        (1, "PINC001"),
        (1, "PINC002"),
    ]
    card = observe_card(stack, host.channel_id)
    text = str(card["blocks"])
    assert "PINC001 5xx rate 12%" in text and "PINC002 5xx rate 12%" in text
    assert "#102 Checkout latency" in text
    assert split_buttons(card) == ["PINC002"]
    assert any("attached to INC-1" in m["text"] for m in stack.slack.messages(host.channel_id))

    # Events on the attached incident are noted; they do not move the host incident.
    stack.pagerduty.set_status("PINC002", "acknowledged")
    await deliver(stack, "incident.acknowledged", "PINC002")
    [host] = await incidents(stack)
    assert host.status == "triggered"
    assert "PagerDuty: acknowledged on attached #102" in [e.text for e in await timeline(stack)]

    stack.slack.join(host.channel_id, alice)  # a responder: in the channel
    await stack.click("pagerduty_split", "PINC002", user=alice, channel=host.channel_id)
    await stack.settle()
    host, split = await incidents(stack)
    assert split.id == 2 and split.pd_incident_id == "PINC002"
    assert split.channel_id and split.channel_id != host.channel_id
    assert split.title == "Checkout latency" and split.severity == 3  # low urgency
    assert [(k.incident_id, k.pd_incident_id) for k in await links(stack)] == [
        (1, "PINC001"),
        (2, "PINC002"),
    ]
    assert split_buttons(observe_card(stack, host.channel_id)) == []
    assert "PINC002 5xx rate 12%" in str(observe_card(stack, split.channel_id, 2)["blocks"])
    host_texts = [e.text for e in await timeline(stack, 1)]
    assert "PagerDuty incident #102 split out into INC-2" in host_texts

    # From now on PINC002's webhooks go to INC-2.
    stack.pagerduty.set_status("PINC002", "resolved")
    await deliver(stack, "incident.resolved", "PINC002")
    host, split = await incidents(stack)
    assert split.status == "resolved" and host.status == "triggered"

    # Splitting again (a stale button) changes nothing and says so.
    await stack.click("pagerduty_split", "PINC002", user=alice, channel=host.channel_id)
    await stack.click("pagerduty_split", "PINC001", user=alice, channel=host.channel_id)
    await stack.settle()
    assert len(await incidents(stack)) == 2
    assert len(stack.slack.ephemerals(host.channel_id)) == 2


async def test_outside_the_window_opens_a_new_incident(make_stack: MakeStack) -> None:
    config = CONFIG | {"dedup_window_minutes": 0}
    async with make_stack(config) as stack:
        seed_incident(stack, "PINC001", number=101)
        seed_incident(stack, "PINC002", number=102)
        await deliver(stack, "incident.triggered", "PINC001")
        await deliver(stack, "incident.triggered", "PINC002")
        assert len(await incidents(stack)) == 2


async def test_another_service_opens_a_new_incident(stack: DevStack) -> None:
    seed_incident(stack, "PINC001", number=101)
    seed_incident(stack, "PINC003", number=103, service_id="POTHER")
    await deliver(stack, "incident.triggered", "PINC001")
    await deliver(stack, "incident.triggered", "PINC003")
    assert len(await incidents(stack)) == 2
    assert len(stack.slack.calls("conversations.create")) == 2


async def test_a_resolved_incident_does_not_absorb_a_new_one(stack: DevStack) -> None:
    seed_incident(stack, "PINC001", number=101)
    seed_incident(stack, "PINC002", number=102)
    await deliver(stack, "incident.triggered", "PINC001")
    stack.pagerduty.set_status("PINC001", "resolved")
    await deliver(stack, "incident.resolved", "PINC001")
    await deliver(stack, "incident.triggered", "PINC002")
    assert [i.pd_incident_id for i in await incidents(stack)] == ["PINC001", "PINC002"]


async def test_ack_and_resolve_from_slack_reach_attached_incidents_too(stack: DevStack) -> None:
    alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    seed_incident(stack, "PINC001", number=101)
    seed_incident(stack, "PINC002", number=102)
    await deliver(stack, "incident.triggered", "PINC001")
    await deliver(stack, "incident.triggered", "PINC002")
    [host] = await incidents(stack)

    await stack.command("ack", user=alice, channel=host.channel_id)
    await stack.settle()
    assert stack.pagerduty.incident("PINC001")["status"] == "acknowledged"
    assert stack.pagerduty.incident("PINC002")["status"] == "acknowledged"
    # Both echoes come back; neither adds anything.
    await deliver(stack, "incident.acknowledged", "PINC001")
    await deliver(stack, "incident.acknowledged", "PINC002")

    await stack.command("resolve duplicate pages, one cause", user=alice, channel=host.channel_id)
    await stack.settle()
    assert stack.pagerduty.incident("PINC002")["status"] == "resolved"
    await deliver(stack, "incident.resolved", "PINC002")
    await deliver(stack, "incident.resolved", "PINC001")

    entries = [e for e in await timeline(stack) if e.kind in ("status", "resolved", "pagerduty")]
    assert [(e.kind, e.text) for e in entries] == [
        ("pagerduty", "PagerDuty incident #102 attached: Checkout 5xx errors"),
        ("status", "Acknowledged"),
        ("resolved", "Incident resolved"),
    ]


async def test_two_pages_on_one_service_queued_together_open_one_incident(stack: DevStack) -> None:
    """Both triggers are waiting before the worker looks: the second must still attach."""
    seed_incident(stack, "PINC001", number=101)
    seed_incident(stack, "PINC002", number=102, title="Checkout latency")
    await stack.runtime.worker.stop()  # queue both before any processing
    for pd_id in ("PINC001", "PINC002"):
        event = stack.pagerduty.webhook_event("incident.triggered", pd_id)
        assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()
    assert len(await incidents(stack)) == 1
    assert len(stack.slack.calls("conversations.create")) == 1
    assert {link.pd_incident_id for link in await links(stack)} == {"PINC001", "PINC002"}
