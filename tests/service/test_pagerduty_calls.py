"""Slack → PagerDuty through the real app: notes, resolve, ack, already-done errors, 429."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devstack import DevStack
from tests.helpers.pagerduty import CONFIG, incidents, seed_incident, timeline

PD = "PINC001"
FROM = "ooda-bot@example.com"  # PAGERDUTY_FROM_EMAIL in DevStack


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


async def opened(stack: DevStack) -> tuple[str, str]:
    """Alice's Slack id and the incident channel, after PagerDuty paged."""
    alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    seed_incident(stack)
    response = await stack.pagerduty_webhook(
        stack.pagerduty.webhook_event("incident.triggered", PD)
    )
    assert response.status_code == 202
    await stack.settle()
    [inc] = await incidents(stack)
    assert inc.channel_id
    return alice, inc.channel_id


def pd_writes(stack: DevStack, method: str, suffix: str = "") -> list:
    return [
        c
        for c in stack.pagerduty.calls
        if c.method == method and c.path == f"/incidents/{PD}{suffix}"
    ]


def warnings(stack: DevStack, channel: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel) if ":warning:" in m["text"]]


async def test_note_goes_to_pagerduty_and_its_echo_lands_once(stack: DevStack) -> None:
    alice, channel = await opened(stack)
    await stack.command("note restarted the canary <b>", user=alice, channel=channel)
    await stack.settle()

    [post] = pd_writes(stack, "POST", "/notes")
    assert post.headers.get("from") == FROM
    assert post.json == {"note": {"content": "restarted the canary <b>"}}
    [note] = stack.pagerduty.notes(PD)
    assert note["content"] == "restarted the canary <b>"

    # PagerDuty echoes the note as incident.annotated, with the note's id.
    echo = stack.pagerduty.webhook_event(
        "incident.annotated", PD, data_extra={"id": note["id"], "content": note["content"]}
    )
    assert (await stack.pagerduty_webhook(echo)).status_code == 202
    await stack.settle()
    notes = [e for e in await timeline(stack) if e.kind == "note"]
    assert [(e.text, e.actor) for e in notes] == [("restarted the canary <b>", alice)]
    shown = [m["text"] for m in stack.slack.messages(channel) if "restarted" in m["text"]]
    assert len(shown) == 1 and "&lt;b&gt;" in shown[0]

    # A note written in PagerDuty by someone else does land.
    other = stack.pagerduty.webhook_event(
        "incident.annotated", PD, data_extra={"content": "customer comms sent"}
    )
    await stack.pagerduty_webhook(other)
    await stack.settle()
    notes = [e.text for e in await timeline(stack) if e.kind == "note"]
    assert notes == ["restarted the canary <b>", "customer comms sent"]


async def test_resolve_command_resolves_in_pagerduty(stack: DevStack) -> None:
    alice, channel = await opened(stack)
    await stack.command("resolve rolled back", user=alice, channel=channel)
    await stack.settle()
    [put] = pd_writes(stack, "PUT")
    assert put.headers.get("from") == FROM
    assert put.json["incident"]["status"] == "resolved"
    assert stack.pagerduty.incident(PD)["status"] == "resolved"
    [inc] = await incidents(stack)
    assert inc.status == "resolved" and inc.summary == "rolled back"
    # The echo changes nothing.
    echo = stack.pagerduty.webhook_event("incident.resolved", PD)
    await stack.pagerduty_webhook(echo)
    await stack.settle()
    assert [e.kind for e in await timeline(stack)].count("resolved") == 1
    assert warnings(stack, channel) == []


async def test_already_resolved_and_acknowledged_are_success(stack: DevStack) -> None:
    alice, channel = await opened(stack)
    stack.pagerduty.set_status(PD, "acknowledged")  # someone acked in PagerDuty meanwhile
    await stack.command("ack", user=alice, channel=channel)
    await stack.settle()
    assert [c.status for c in pd_writes(stack, "PUT")] == [400]  # 1002
    [inc] = await incidents(stack)
    assert inc.status == "acknowledged"

    stack.pagerduty.set_status(PD, "resolved")
    await stack.command("resolve fixed upstream", user=alice, channel=channel)
    await stack.settle()
    assert [c.status for c in pd_writes(stack, "PUT")] == [400, 400]  # 1002, then 1001
    [inc] = await incidents(stack)
    assert inc.status == "resolved"
    assert warnings(stack, channel) == []


async def test_rate_limited_ack_is_retried(stack: DevStack) -> None:
    alice, channel = await opened(stack)
    stack.pagerduty.fail_next(f"/incidents/{PD}", status=429, retry_after=0)
    await stack.command("ack", user=alice, channel=channel)
    await stack.settle()
    assert [c.status for c in pd_writes(stack, "PUT")] == [429, 200]
    assert stack.pagerduty.incident(PD)["status"] == "acknowledged"
    assert warnings(stack, channel) == []


async def test_pagerduty_failure_is_reported_in_the_channel(stack: DevStack) -> None:
    alice, channel = await opened(stack)
    stack.pagerduty.fail_next(f"/incidents/{PD}/notes", status=403)
    await stack.command("note checking the queue", user=alice, channel=channel)
    await stack.settle()
    # The note is kept on our side; the channel says PagerDuty did not get it.
    assert [e.text for e in await timeline(stack) if e.kind == "note"] == ["checking the queue"]
    [warning] = warnings(stack, channel)
    assert "Could not add the note in PagerDuty" in warning
