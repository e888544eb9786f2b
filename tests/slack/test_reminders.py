"""Reminders: stage-stall nudges and status-update reminders, snooze, cancel on resolve, and
exactly-once firing with two workers on one database."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from bot.devstack import DevStack
from bot.job_handlers import register
from bot.service.runtime import build_runtime
from bot.storage import jobs
from tests.helpers.slack import (
    ALICE,
    add_people,
    click_on,
    config,
    declare,
    fast_forward,
    jobs_with_prefix,
)
from tests.helpers.stack import MakeStack


def nudges(stack: DevStack, channel: str, words: str) -> list[dict]:
    return [m for m in stack.slack.messages(channel) if words in m["text"]]


def buttons(message: dict) -> dict[str, str]:
    elements = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return {e["action_id"]: e["value"] for e in elements}


async def test_stall_reminder_is_scheduled_per_severity_and_fires(stack: DevStack) -> None:
    channel = await declare(stack)  # SEV3: 45 min stall, 120 min status by default
    [stall] = await jobs_with_prefix(stack, "reminder:1:stall:")
    [status] = await jobs_with_prefix(stack, "reminder:1:status:")
    assert stall.dedup_key == "reminder:1:stall:1" and stall.status == "pending"
    assert timedelta(minutes=44) < stall.due_at - stall.created_at <= timedelta(minutes=45)
    assert timedelta(minutes=119) < status.due_at - status.created_at <= timedelta(minutes=120)
    assert not nudges(stack, channel, "has been in")

    await fast_forward(stack, "reminder:1:stall:")
    await stack.settle()
    [nudge] = nudges(stack, channel, "has been in *Observe*")
    assert "still observing" in nudge["text"]
    assert {"reminder_snooze_15", "reminder_snooze_60", "stage_orient"} <= set(buttons(nudge))


async def test_stall_reminder_stays_quiet_once_the_stage_moved(stack: DevStack) -> None:
    channel = await declare(stack)
    await stack.command("orient", user=ALICE, channel=channel)
    await stack.settle()
    keys = [j.dedup_key for j in await jobs_with_prefix(stack, "reminder:1:stall:")]
    assert keys == ["reminder:1:stall:1", "reminder:1:stall:2"]

    await fast_forward(stack, "reminder:1:stall:1")
    await stack.settle()
    assert not nudges(stack, channel, "has been in")  # the Observe one no longer applies
    await fast_forward(stack, "reminder:1:stall:2")
    await stack.settle()
    [nudge] = nudges(stack, channel, "has been in")
    assert (
        "*Orient*" in nudge["text"] and "mark a suspect change or move to Decide" in nudge["text"]
    )


async def test_snooze_puts_the_nudge_off_once(stack: DevStack) -> None:
    channel = await declare(stack)
    await fast_forward(stack, "reminder:1:stall:")
    await stack.settle()
    [nudge] = nudges(stack, channel, "has been in")
    assert json.loads(buttons(nudge)["reminder_snooze_15"])["incident"] == 1

    for _ in range(2):  # a double click snoozes once
        await click_on(stack, nudge, "reminder_snooze_15", user=ALICE)
    await stack.settle()
    snoozed = [j for j in await jobs_with_prefix(stack, "reminder:1:stall:1:snooze:")]
    assert [j.status for j in snoozed] == ["pending"]
    assert timedelta(minutes=14) < snoozed[0].due_at - snoozed[0].created_at
    updated = next(m for m in stack.slack.messages(channel) if m["ts"] == nudge["ts"])
    assert "Snoozed for 15 min" in str(updated["blocks"]) and not buttons(updated)

    await fast_forward(stack, "reminder:1:stall:1:snooze:")
    await stack.settle()
    assert len(nudges(stack, channel, "has been in")) == 2


async def test_status_update_reminder_repeats_and_snoozes(stack: DevStack) -> None:
    channel = await declare(stack)
    await fast_forward(stack, "reminder:1:status:")
    await stack.settle()
    [nudge] = nudges(stack, channel, "status update due")
    pending = [
        j for j in await jobs_with_prefix(stack, "reminder:1:status:") if j.status == "pending"
    ]
    assert len(pending) == 1  # the next one in the chain

    await click_on(stack, nudge, "reminder_snooze_60", user=ALICE)
    await stack.settle()
    pending = [
        j for j in await jobs_with_prefix(stack, "reminder:1:status:") if j.status == "pending"
    ]
    assert len(pending) == 1 and ":snooze:" in (pending[0].dedup_key or "")
    await fast_forward(stack, "reminder:1:status:")
    await stack.settle()
    assert len(nudges(stack, channel, "status update due")) == 2
    pending = [
        j for j in await jobs_with_prefix(stack, "reminder:1:status:") if j.status == "pending"
    ]
    assert len(pending) == 1  # the chain carries on after a snooze


async def test_resolving_cancels_every_pending_reminder(stack: DevStack) -> None:
    channel = await declare(stack)
    await stack.command("resolve all good now", user=ALICE, channel=channel)
    await stack.settle()
    reminders = await jobs_with_prefix(stack, "reminder:1:")
    assert reminders and {j.status for j in reminders} == {"cancelled"}
    assert await fast_forward(stack, "reminder:1:") == 0


async def test_reminders_follow_the_config(make_stack: MakeStack) -> None:
    rules = {"reminders": {"SEV3": {"stage_stall_minutes": None, "status_update_minutes": 5}}}
    async with make_stack(config(**rules)) as stack:
        add_people(stack)
        await declare(stack)
        assert await jobs_with_prefix(stack, "reminder:1:stall:") == []
        [status] = await jobs_with_prefix(stack, "reminder:1:status:")
        assert status.due_at - status.created_at <= timedelta(minutes=5)


async def test_two_workers_fire_each_reminder_exactly_once(stack: DevStack) -> None:
    channels = [await declare(stack, f"Outage {n}") for n in range(3)]
    first = stack.runtime
    await first.worker.stop()  # from here on only the two racing workers run jobs
    second = build_runtime(stack.settings())
    register(second)
    try:
        assert await fast_forward(stack, "reminder:") == 6  # a stall and a status each
        for _ in range(50):
            await asyncio.gather(first.worker.run_once(), second.worker.run_once())
            if await jobs.pending_count(first.db) == 0:
                break
        assert await jobs.pending_count(first.db) == 0
    finally:
        await second.aclose()
    await first.sender.drain()  # the nudges were recorded; now they are delivered
    for channel in channels:
        assert len(nudges(stack, channel, "has been in")) == 1
        assert len(nudges(stack, channel, "status update due")) == 1
    fired = [j for j in await jobs_with_prefix(stack, "reminder:") if j.status == "done"]
    assert len(fired) == 6 and all(j.attempts == 1 for j in fired)


async def test_raising_severity_tightens_pending_reminders(stack: DevStack) -> None:
    channel = await declare(stack)  # SEV3: 45 / 120 min
    await stack.command("sev 1", user=ALICE, channel=channel)  # SEV1: 15 / 30 min
    await stack.settle()
    pending = [j for j in await jobs_with_prefix(stack, "reminder:1:") if j.status == "pending"]
    by_kind = {j.payload["kind"]: j for j in pending}
    # SEV3 has no stage budget; SEV1's Observe has 5 min (DEFAULT_STAGE_BUDGETS).
    assert sorted(j.payload["kind"] for j in pending) == ["budget", "stall", "status"]
    stall, status, budget = by_kind["stall"], by_kind["status"], by_kind["budget"]
    assert budget.dedup_key.startswith("reminder:1:budget:1:SEV1:")
    assert timedelta(minutes=4) < budget.due_at - budget.created_at <= timedelta(minutes=5)
    assert stall.dedup_key.startswith("reminder:1:stall:1:SEV1:")
    assert timedelta(minutes=14) < stall.due_at - stall.created_at <= timedelta(minutes=15)
    assert timedelta(minutes=29) < status.due_at - status.created_at <= timedelta(minutes=30)

    await fast_forward(stack, "reminder:1:")
    await stack.settle()
    assert len(nudges(stack, channel, "has been in")) == 1


async def test_a_recent_note_counts_as_the_status_update(stack: DevStack) -> None:
    channel = await declare(stack)
    await stack.command("note rolled back v1.44, error rate falling", user=ALICE, channel=channel)
    await stack.settle()
    await fast_forward(stack, "reminder:1:status:")
    await stack.settle()
    assert not nudges(stack, channel, "status update due")
    [following] = [
        j for j in await jobs_with_prefix(stack, "reminder:1:status:") if j.status == "pending"
    ]
    assert timedelta(minutes=119) < following.due_at - following.created_at  # from the note
