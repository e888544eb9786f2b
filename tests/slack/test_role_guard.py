"""A held role changes hands only by its holder, the commander or the declarer."""

from __future__ import annotations

from bot.devstack import DevStack
from bot.domain.model import TimelineKind
from tests.helpers.slack import ALICE, BOB, CAROL, declare, responses, timeline


async def role(stack: DevStack, text: str, *, user: str, channel: str) -> None:
    """One /incident role command, done before the next one starts."""
    assert (await stack.command(f"role {text}", user=user, channel=channel)).status_code == 200
    await stack.settle()


async def roles_given(stack: DevStack) -> list[dict[str, str]]:
    return [e.data for e in await timeline(stack) if e.kind is TimelineKind.ROLE]


async def test_anyone_may_not_take_a_held_role(stack: DevStack) -> None:
    channel = await declare(stack, user=ALICE)  # ALICE declared it and is its commander
    await role(stack, f"comms <@{BOB}>", user=CAROL, channel=channel)  # nobody held it
    assert await roles_given(stack) == [{"role": "comms", "user": BOB}]

    await role(stack, f"commander <@{CAROL}>", user=CAROL, channel=channel)
    refusal = responses(stack)[-1]
    assert refusal.startswith(":no_entry: The commander of INC-1 is <@U0ALICE01>")
    assert f"only <@{ALICE}> (the commander) may hand it to someone else" in refusal
    await role(stack, f"comms <@{CAROL}>", user=CAROL, channel=channel)
    refusal = responses(stack)[-1]
    assert f"only <@{BOB}> (the comms) or <@{ALICE}> (the commander) may" in refusal
    assert await roles_given(stack) == [{"role": "comms", "user": BOB}]  # nothing changed
    assert CAROL not in stack.slack.channel(channel)["members"]


async def test_holder_commander_and_declarer_may_reassign(stack: DevStack) -> None:
    channel = await declare(stack, user=ALICE)
    await role(stack, f"comms <@{BOB}>", user=ALICE, channel=channel)
    await role(stack, f"comms <@{CAROL}>", user=BOB, channel=channel)  # the holder
    await role(stack, f"commander <@{BOB}>", user=ALICE, channel=channel)  # the commander
    await role(stack, f"scribe <@{CAROL}>", user=CAROL, channel=channel)
    await role(stack, f"scribe <@{ALICE}>", user=BOB, channel=channel)  # new commander
    await role(stack, f"commander <@{ALICE}>", user=ALICE, channel=channel)  # declarer
    assert not [r for r in responses(stack) if "no_entry" in r], responses(stack)
    assert await roles_given(stack) == [
        {"role": "comms", "user": BOB},
        {"role": "comms", "user": CAROL},
        {"role": "commander", "user": BOB},
        {"role": "scribe", "user": CAROL},
        {"role": "scribe", "user": ALICE},
        {"role": "commander", "user": ALICE},
    ]

    # CAROL is only the comms now: she may hand on comms, not the commander's role.
    await role(stack, f"commander <@{CAROL}>", user=CAROL, channel=channel)
    assert "only <@U0ALICE01> (the commander) may" in responses(stack)[-1]
