"""A PagerDuty incident's whole life as webhooks, with duplicates and redeliveries interleaved."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select

from bot.devstack import DevStack
from bot.fakes.pagerduty_webhooks import ref
from bot.storage.tables import Job, StageSpanRow
from tests.helpers.pagerduty import CONFIG, incidents, seed_incident, timeline
from tests.helpers.samples import vendor_sample
from tests.helpers.stack import MakeStack

PD = "PINC001"
# Timeline kinds PagerDuty events produce (Orient adds "context" entries of its own).
PD_KINDS = {"opened", "status", "pagerduty", "note", "resolved", "severity"}


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


async def deliver(stack: DevStack, event: dict[str, Any], webhook_id: str) -> None:
    response = await stack.pagerduty_webhook(event, webhook_id=webhook_id)
    assert response.status_code in (200, 202), response.text
    await stack.settle()


async def test_full_sequence_with_duplicates_and_redeliveries(stack: DevStack) -> None:
    pd = stack.pagerduty
    pd.add_user("PBOB001", "Bob Builder", "bob@example.com")
    seed_incident(stack)

    triggered = pd.webhook_event("incident.triggered", PD)
    await deliver(stack, triggered, "w-trig")
    await deliver(stack, triggered, "w-trig")  # redelivery: same webhook id

    pd.set_status(PD, "acknowledged")
    acked = pd.webhook_event("incident.acknowledged", PD)
    await deliver(stack, acked, "w-ack")
    await deliver(stack, triggered, "w-trig-2")  # late duplicate of the trigger
    await deliver(stack, acked, "w-ack-2")  # the same event under another webhook id

    bob = ref("user", "PBOB001", "Bob Builder", "users")
    escalated = pd.webhook_event("incident.escalated", PD, data_extra={"assignees": [bob]})
    await deliver(stack, escalated, "w-esc")
    await deliver(stack, escalated, "w-esc")

    annotated = pd.webhook_event(
        "incident.annotated", PD, data_extra={"content": "Rolled back <script> & friends"}
    )
    await deliver(stack, annotated, "w-note")
    await deliver(stack, annotated, "w-note-2")

    pd.set_status(PD, "resolved")
    resolved = pd.webhook_event("incident.resolved", PD)
    await deliver(stack, resolved, "w-res")
    await deliver(stack, resolved, "w-res")

    pd.set_status(PD, "triggered")
    reopened = pd.webhook_event("incident.reopened", PD)
    await deliver(stack, reopened, "w-reopen")
    # The first resolve redelivered under another id after the reopen: must not re-resolve.
    await deliver(stack, resolved, "w-res-late")
    [inc] = await incidents(stack)
    assert inc.status == "triggered" and inc.stage == "observe"

    pd.set_status(PD, "resolved")
    resolved_again = pd.webhook_event("incident.resolved", PD)
    await deliver(stack, resolved_again, "w-res-2")
    await deliver(stack, reopened, "w-reopen")  # stale redelivery of the reopen

    [inc] = await incidents(stack)
    assert inc.status == "resolved"
    assert inc.resolved_at is not None
    entries = [e for e in await timeline(stack) if e.kind in PD_KINDS]
    kinds = [e.kind for e in entries]
    assert kinds == [
        "opened",
        "status",  # acknowledged
        "pagerduty",  # escalated
        "note",  # annotated
        "resolved",
        "status",  # reopened
        "resolved",
    ], [(e.kind, e.text) for e in entries]
    assert "Bob Builder" in entries[2].text
    assert entries[3].text == "Rolled back <script> & friends"
    assert entries[3].data.get("source") == "pagerduty"

    async with stack.runtime.db.session() as session:
        spans = (
            await session.scalars(select(StageSpanRow).order_by(StageSpanRow.started_at))
        ).all()
    assert [(s.stage, s.iteration) for s in spans] == [
        ("observe", 1),
        ("orient", 1),
        ("observe", 2),  # the reopen starts a new loop iteration
    ]
    assert all(s.ended_at is not None for s in spans)

    # One postmortem per resolve: the second one includes the reopen.
    uploads = [f for f in stack.slack.files if f["title"] == "INC-1 postmortem"]
    assert len(uploads) == 2
    second = uploads[1]["content"]
    second = second.decode() if isinstance(second, bytes) else second
    assert "Reopened" in second

    # The annotated note was shown in the channel too, escaped.
    channel = inc.channel_id
    texts = "\n".join(m["text"] for m in stack.slack.messages(channel))
    assert "Rolled back &lt;script&gt; &amp; friends" in texts
    # The Observe card is still refreshed, but offers no stage buttons once resolved.
    [card] = [m for m in stack.slack.messages(channel) if m["text"].startswith("INC-1 Observe")]
    assert "stage_orient" not in str(card["blocks"])


async def test_ack_from_slack_then_pagerduty_echo_is_one_entry(stack: DevStack) -> None:
    alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    seed_incident(stack)
    await deliver(stack, stack.pagerduty.webhook_event("incident.triggered", PD), "w-1")
    [inc] = await incidents(stack)
    await stack.command("ack", user=alice, channel=inc.channel_id)
    await stack.settle()
    assert stack.pagerduty.incident(PD)["status"] == "acknowledged"
    echo = stack.pagerduty.webhook_event("incident.acknowledged", PD)
    await deliver(stack, echo, "w-echo")
    statuses = [e for e in await timeline(stack) if e.kind == "status"]
    assert [(e.text, e.actor) for e in statuses] == [("Acknowledged", alice)]


async def test_unacknowledged_goes_back_to_triggered(stack: DevStack) -> None:
    seed_incident(stack)
    await deliver(stack, stack.pagerduty.webhook_event("incident.triggered", PD), "w-1")
    pd = stack.pagerduty
    pd.set_status(PD, "acknowledged")
    await deliver(stack, pd.webhook_event("incident.acknowledged", PD), "w-2")
    await deliver(stack, pd.webhook_event("incident.unacknowledged", PD), "w-3")
    [inc] = await incidents(stack)
    assert inc.status == "triggered"
    kinds = [e.kind for e in await timeline(stack) if e.kind in PD_KINDS]
    assert kinds == ["opened", "status", "status"]


def priority_event(pd_id: str, priority: str) -> dict[str, Any]:
    """The vendor's incident.priority_updated sample, pointed at our incident."""
    event = copy.deepcopy(vendor_sample("pagerduty_v3_incident.priority_updated.json"))
    event["event"]["id"] = f"prio-{priority}"  # each change is its own event
    data = event["event"]["data"]
    data["id"] = pd_id
    data["service"]["id"] = "PCHKOUT"
    data["priority"]["summary"] = priority
    return event


async def test_priority_updated_sets_severity_through_priority_map(make_stack: MakeStack) -> None:
    config = CONFIG | {"priority_map": {"P1": "SEV1", "Sev-Low": "SEV4"}}
    async with make_stack(config) as stack:
        seed_incident(stack)
        await deliver(stack, stack.pagerduty.webhook_event("incident.triggered", PD), "w-1")
        [inc] = await incidents(stack)
        assert inc.severity == 2  # high urgency, no priority yet

        await deliver(stack, priority_event(PD, "P1"), "w-p1")
        [inc] = await incidents(stack)
        assert inc.severity == 1
        await deliver(stack, priority_event(PD, "Sev-Low"), "w-low")
        [inc] = await incidents(stack)
        assert inc.severity == 4
        severity = [e for e in await timeline(stack) if e.kind == "severity"]
        assert [e.text for e in severity] == [
            "Severity → SEV1 (PagerDuty priority P1)",
            "Severity → SEV4 (PagerDuty priority Sev-Low)",
        ]
        assert severity[0].actor == "Tenex Engineer"
        # An unmapped priority leaves the severity alone and says so nowhere else.
        await deliver(stack, priority_event(PD, "Unmapped"), "w-un")
        [inc] = await incidents(stack)
        assert inc.severity == 4


async def test_reopen_after_resolving_in_observe_is_a_new_iteration(stack: DevStack) -> None:
    pd = stack.pagerduty
    seed_incident(stack)
    await deliver(stack, pd.webhook_event("incident.triggered", PD), "w-1")
    pd.set_status(PD, "resolved")
    await deliver(stack, pd.webhook_event("incident.resolved", PD), "w-2")
    pd.set_status(PD, "triggered")
    await deliver(stack, pd.webhook_event("incident.reopened", PD), "w-3")
    async with stack.runtime.db.session() as session:
        spans = (
            await session.scalars(select(StageSpanRow).order_by(StageSpanRow.started_at))
        ).all()
    assert [(s.stage, s.iteration, s.ended_at is None) for s in spans] == [
        ("observe", 1, False),
        ("observe", 2, True),
    ]
    [inc] = await incidents(stack)
    assert inc.status == "triggered" and inc.resolved_at is None
    messages = [m["text"] for m in stack.slack.messages(inc.channel_id)]
    assert any("reopened, back to Observe" in t for t in messages)
    async with stack.runtime.db.session() as session:
        pending = (
            await session.scalars(
                select(Job.payload).where(Job.kind == "incident.reminder", Job.status == "pending")
            )
        ).all()
    # The reminders are back, and the stage budget (SEV2's defaults).
    assert {p["kind"] for p in pending} == {"budget", "stall", "status"}
