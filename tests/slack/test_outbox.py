"""The Slack outbox: said means delivered — once, in order, even before the channel exists,
through 429 storms, lost answers and two senders on one database."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.devstack import DevStack
from bot.domain.model import Severity, utcnow
from bot.job_handlers import register
from bot.service import cards, incidents
from bot.service.runtime import build_runtime
from bot.slack.delivery.operations import METADATA_EVENT
from bot.storage import outbox_delivery
from bot.storage.tables import OutboxRow, SlackLaneRow
from tests.helpers.slack import ALICE


async def open_quietly(stack: DevStack, title: str = "Checkout down") -> int:
    return await incidents.open_incident(
        stack.runtime, title=title, severity=Severity.SEV3, declared_by=ALICE
    )


def texts(stack: DevStack, channel: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel)]


def numbered(said: list[str], word: str) -> list[int]:
    """The n of each "<word> n" in the messages, in channel order."""
    return [int(m.group(1)) for t in said if (m := re.search(rf"{word} (\d+)", t))]


def incident_channel(stack: DevStack, number: int) -> str:
    [chan] = [c for c in stack.slack.channels if c["name"].startswith(f"inc-{number}-")]
    return str(chan["id"])


async def test_messages_said_before_the_channel_exists_arrive_in_order(stack: DevStack) -> None:
    await stack.runtime.sender.stop()  # nothing is delivered while the notes are said
    number = await open_quietly(stack)
    for n in range(5):
        await incidents.add_note(stack.runtime, number, f"note {n}", by=ALICE)
    assert stack.slack.channel_by_name(f"inc-{number}-checkout-down") is None
    stack.runtime.sender.start()
    await stack.settle()
    said = texts(stack, incident_channel(stack, number))
    assert numbered(said, "note") == [0, 1, 2, 3, 4], said


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(stack: DevStack) -> None:
    number = await open_quietly(stack)
    await stack.settle()
    channel = incident_channel(stack, number)
    # Slack posts the note, but its answer never arrives (HTTP 500 after the fact).
    stack.slack.fail_next("chat.postMessage", status=500, applied=True, channel=channel)
    await incidents.add_note(stack.runtime, number, "the one and only", by=ALICE)
    await stack.settle()
    assert sum("the one and only" in t for t in texts(stack, channel)) == 1
    assert stack.slack.calls("conversations.history")  # it looked before sending again
    async with stack.runtime.db.session() as session:
        [row] = (
            await session.scalars(
                select(OutboxRow).where(OutboxRow.payload["text"].as_string().like("%only%"))
            )
        ).all()
    assert row.status == "sent" and row.result.get("recovered") is True


async def test_a_post_that_never_reached_slack_is_sent_after_the_check(stack: DevStack) -> None:
    number = await open_quietly(stack)
    await stack.settle()
    channel = incident_channel(stack, number)
    stack.slack.fail_next("chat.postMessage", status=503, channel=channel)  # not applied
    await incidents.add_note(stack.runtime, number, "must arrive", by=ALICE)
    await stack.settle()
    assert sum("must arrive" in t for t in texts(stack, channel)) == 1


async def test_a_429_storm_delivers_everything_once_in_order_and_coalesces_cards(
    stack: DevStack,
) -> None:
    number = await open_quietly(stack)
    await stack.settle()
    channel = incident_channel(stack, number)
    stack.slack.reset_calls()
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=3)
    stack.slack.fail_next("chat.update", status=429, retry_after=1, times=2)
    for n in range(6):
        await incidents.add_note(stack.runtime, number, f"storm {n}", by=ALICE)
        await cards.refresh(stack.runtime, number)  # six renders of the summary
    await stack.settle()
    assert numbered(texts(stack, channel), "storm") == list(range(6))
    updates = [c for c in stack.slack.calls("chat.update") if c.ok]
    assert 1 <= len(updates) <= 3, len(updates)  # not one per render
    posts_ok = [c for c in stack.slack.calls("chat.postMessage") if c.ok]
    assert len(posts_ok) == 6


async def test_two_senders_on_one_database_deliver_each_message_once_in_order(
    stack: DevStack,
) -> None:
    number = await open_quietly(stack)
    await stack.settle()
    channel = incident_channel(stack, number)
    second = build_runtime(stack.settings())
    register(second)
    second.sender.start()
    try:
        for n in range(10):
            rt = stack.runtime if n % 2 == 0 else second
            await incidents.add_note(rt, number, f"alternate {n}", by=ALICE)
        await second.sender.drain()
        await stack.settle()
    finally:
        await second.aclose()
    said = texts(stack, channel)
    assert numbered(said, "alternate") == list(range(10)), said


async def test_an_announcement_names_the_channel_once_it_exists(stack: DevStack) -> None:
    number = await open_quietly(stack)
    await stack.settle()
    announced = stack.slack.messages(stack.slack.channel_by_name("incidents")["id"])
    [opened] = [m for m in announced if f"INC-{number} opened" in m["text"]]
    assert f"join <#{incident_channel(stack, number)}>" in opened["text"]
    async with stack.runtime.db.session() as session:
        assert await outbox_delivery.undelivered(session) == 0


async def test_a_channel_created_by_a_call_whose_answer_was_lost_is_adopted(
    stack: DevStack,
) -> None:
    stack.slack.fail_next("conversations.create", status=500, applied=True)
    number = await open_quietly(stack)
    await stack.settle()
    made = [c for c in stack.slack.channels if c["name"].startswith(f"inc-{number}-")]
    assert len(made) == 1, [c["name"] for c in made]  # no "-2" twin
    assert stack.slack.calls("conversations.list")
    assert any(t.startswith(f"INC-{number} Observe") for t in texts(stack, made[0]["id"]))


async def test_a_sender_that_died_mid_post_is_not_repeated_by_the_next(stack: DevStack) -> None:
    number = await open_quietly(stack)
    await stack.settle()
    channel = incident_channel(stack, number)
    await stack.runtime.sender.stop()
    await incidents.add_note(stack.runtime, number, "said by the dead", by=ALICE)
    async with stack.runtime.db.transaction() as session:
        [item] = (
            await session.scalars(select(OutboxRow).where(OutboxRow.status == "pending"))
        ).all()
        # The dead sender had claimed the lane and posted; its answer never got recorded.
        lane = await session.get(SlackLaneRow, item.lane)
        assert lane is not None
        lane.leased_by, lane.lease_until = "dead-host:1:x", utcnow() - timedelta(seconds=1)
    await stack.runtime.sender.slack.client.chat_postMessage(
        channel=channel,
        text="said by the dead",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_id": item.id}},
    )
    stack.runtime.sender.start()
    await stack.settle()
    assert sum("said by the dead" in t for t in texts(stack, channel)) == 1
    async with stack.runtime.db.session() as session:
        done = await session.get(OutboxRow, item.id)
    assert done is not None and done.status == "sent" and done.result.get("recovered")
