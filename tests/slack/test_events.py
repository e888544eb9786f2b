"""📌 timeline capture: reaction_added / reaction_removed, retries, and the message shortcut."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.devstack import DevStack
from bot.domain.model import TimelineKind
from bot.storage.tables import InboundEvent
from tests.helpers.slack import (
    ALICE,
    BOB,
    CAROL,
    add_people,
    config,
    declare,
    general_id,
    message_shortcut,
    reaction,
    responses,
    slack_event,
    texts,
    timeline,
)
from tests.helpers.stack import MakeStack


async def pinned(stack: DevStack) -> list:
    return [e for e in await timeline(stack) if e.kind is TimelineKind.PINNED]


def reactions_on(stack: DevStack, channel: str, ts: str) -> list[str]:
    message = next(m for m in stack.slack.messages(channel) if m["ts"] == ts)
    return [r["name"] for r in message["reactions"]]


async def test_pushpin_adds_message_with_author_and_time(stack: DevStack) -> None:
    channel = await declare(stack)
    ts = stack.slack.user_says(channel, BOB, "Error rate spiked right after <!here> deploy 1.44")
    stack.slack.user_says(channel, CAROL, "a later message that must not be picked instead")

    response = await slack_event(
        stack, reaction("reaction_added", user=ALICE, channel=channel, ts=ts), event_id="Ev001"
    )
    assert response.status_code == 200
    await stack.settle()

    [entry] = await pinned(stack)
    assert entry.actor == BOB  # the message's author, not who reacted
    assert entry.at == datetime.fromtimestamp(float(ts), UTC)
    assert entry.text.startswith("Error rate spiked")
    assert entry.pinned and entry.data["added_by"] == ALICE
    assert "white_check_mark" in reactions_on(stack, channel, ts)
    history = stack.slack.calls("conversations.history")[-1].params
    assert history["latest"] == ts and history["limit"] in ("1", 1)


async def test_retries_and_duplicate_event_ids_never_add_twice(stack: DevStack) -> None:
    channel = await declare(stack)
    ts = stack.slack.user_says(channel, BOB, "the graph turned red at 10:02")
    added = reaction("reaction_added", user=ALICE, channel=channel, ts=ts)
    await slack_event(stack, added, event_id="Ev100")
    await stack.settle()
    # Slack retries the same delivery, then someone else pins it too (a new event id).
    assert (await slack_event(stack, added, event_id="Ev100", retry_num=1)).status_code == 200
    await slack_event(stack, added, event_id="Ev100", retry_num=2)
    await slack_event(
        stack, reaction("reaction_added", user=CAROL, channel=channel, ts=ts), event_id="Ev101"
    )
    await stack.settle()
    assert len(await pinned(stack)) == 1
    async with stack.runtime.db.session() as session:
        seen = await session.scalar(
            select(func.count()).select_from(InboundEvent).where(InboundEvent.source == "slack")
        )
    assert seen == 2  # Ev100 once, Ev101 once

    # Removal, then a late retry of the original "added": the entry stays removed.
    removed = reaction("reaction_removed", user=ALICE, channel=channel, ts=ts)
    await slack_event(stack, removed, event_id="Ev102")
    await stack.settle()
    await slack_event(stack, added, event_id="Ev100", retry_num=3)
    await stack.settle()
    assert await pinned(stack) == []


async def test_removing_the_reaction_removes_the_entry(stack: DevStack) -> None:
    channel = await declare(stack)
    ts = stack.slack.user_says(channel, BOB, "rollback started")
    await slack_event(
        stack, reaction("reaction_added", user=ALICE, channel=channel, ts=ts), event_id="Ev200"
    )
    await stack.settle()
    assert len(await pinned(stack)) == 1

    await slack_event(
        stack, reaction("reaction_removed", user=ALICE, channel=channel, ts=ts), event_id="Ev201"
    )
    await stack.settle()
    assert await pinned(stack) == []
    assert "white_check_mark" not in reactions_on(stack, channel, ts)


async def test_other_reactions_and_other_channels_are_ignored(stack: DevStack) -> None:
    channel = await declare(stack)
    ts = stack.slack.user_says(channel, BOB, "lunch?")
    elsewhere = stack.slack.user_says(general_id(stack), BOB, "not an incident")
    await slack_event(
        stack,
        reaction("reaction_added", user=ALICE, channel=channel, ts=ts, name="tada"),
        event_id="Ev300",
    )
    await slack_event(
        stack,
        reaction("reaction_added", user=ALICE, channel=general_id(stack), ts=elsewhere),
        event_id="Ev301",
    )
    # An unknown event type is acknowledged and ignored.
    other = await slack_event(stack, {"type": "app_mention", "user": ALICE}, event_id="Ev302")
    assert other.status_code == 200
    await stack.settle()
    assert await pinned(stack) == []
    assert reactions_on(stack, channel, ts) == []


async def test_pin_reaction_is_configurable(make_stack: MakeStack) -> None:
    env = {"OODA_PIN_REACTION": ":round_pushpin:"}
    async with make_stack(config(), env=env) as stack:
        add_people(stack)
        channel = await declare(stack)
        ts = stack.slack.user_says(channel, BOB, "customer reports coming in")
        await slack_event(
            stack, reaction("reaction_added", user=ALICE, channel=channel, ts=ts), event_id="E1"
        )
        await slack_event(
            stack,
            reaction("reaction_added", user=ALICE, channel=channel, ts=ts, name="round_pushpin"),
            event_id="E2",
        )
        await stack.settle()
        [entry] = await pinned(stack)
        assert entry.text == "customer reports coming in"


async def test_shortcut_in_the_incident_channel_adds_directly(stack: DevStack) -> None:
    channel = await declare(stack)
    ts = stack.slack.user_says(channel, BOB, "db failover done")
    response = await message_shortcut(
        stack, user=ALICE, channel=channel, ts=ts, author=BOB, text="db failover done"
    )
    assert response.status_code == 200
    await stack.settle()
    again = await message_shortcut(
        stack, user=CAROL, channel=channel, ts=ts, author=BOB, text="db failover done"
    )
    assert again.status_code == 200
    await stack.settle()
    [entry] = await pinned(stack)
    assert (entry.actor, entry.text) == (BOB, "db failover done")
    assert "white_check_mark" in reactions_on(stack, channel, ts)
    assert not stack.slack.views


async def test_shortcut_elsewhere_asks_which_incident(stack: DevStack) -> None:
    await declare(stack, "Checkout down")
    second = await declare(stack, "Search slow")
    general = general_id(stack)
    ts = stack.slack.user_says(general, BOB, "support: customers see <b>500</b> & timeouts")
    await message_shortcut(
        stack, user=ALICE, channel=general, ts=ts, author=BOB, text="support: customers see 500s"
    )
    await stack.settle()
    [modal] = stack.slack.views
    assert modal["callback_id"] == "timeline_pick"
    options = modal["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == ["1", "2"]

    await stack.submit(modal, {"incident": "2"}, user=ALICE)
    await stack.settle()
    entries = [e for e in await timeline(stack, 2) if e.kind is TimelineKind.PINNED]
    assert [(e.actor, e.text) for e in entries] == [(BOB, "support: customers see 500s")]
    assert await pinned(stack) == []  # not on INC-1
    assert any("added a message from" in t for t in texts(stack, second))


async def test_shortcut_without_active_incidents_answers_ephemerally(stack: DevStack) -> None:
    general = general_id(stack)
    ts = stack.slack.user_says(general, BOB, "is something broken?")
    await message_shortcut(stack, user=ALICE, channel=general, ts=ts, author=BOB, text="x")
    await stack.settle()
    assert "No active incident" in responses(stack)[-1]
    assert not stack.slack.views


async def test_shortcut_with_a_very_long_message_still_fits_the_modal(stack: DevStack) -> None:
    await declare(stack)
    general = general_id(stack)
    long_text = 'stack trace "quoted" ' * 400  # ~8,400 characters, many needing JSON escapes
    ts = stack.slack.user_says(general, BOB, long_text)
    await message_shortcut(stack, user=ALICE, channel=general, ts=ts, author=BOB, text=long_text)
    await stack.settle()
    [modal] = stack.slack.views
    assert len(modal["private_metadata"]) <= 3000
    await stack.submit(modal, {"incident": "1"}, user=ALICE)
    await stack.settle()
    [entry] = await pinned(stack)
    assert long_text.startswith(entry.text) and len(entry.text) > 1000
