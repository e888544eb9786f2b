"""`/incident sev`, `role`, `timeline`, and the answers outside an incident channel."""

from __future__ import annotations

from bot.devstack import DevStack
from bot.domain.model import TimelineKind
from tests.helpers.slack import (
    ALICE,
    BOB,
    announce_id,
    declare,
    general_id,
    responses,
    texts,
    timeline,
)


def summary_text(stack: DevStack, channel: str) -> str:
    card = next(m for m in stack.slack.messages(channel) if "live summary" in m["text"])
    return str(card["blocks"])


async def test_sev_changes_severity_everywhere(stack: DevStack) -> None:
    channel = await declare(stack)
    assert "SEV3" in summary_text(stack, channel)

    await stack.command("sev 1", user=ALICE, channel=channel)
    await stack.settle()

    entries = [e for e in await timeline(stack) if e.kind is TimelineKind.SEVERITY]
    assert [(e.text, e.actor) for e in entries] == [("Severity SEV3 → SEV1", ALICE)]
    assert "SEV1" in summary_text(stack, channel)
    assert stack.slack.channel(channel)["topic"]["value"].startswith("SEV1")
    assert any("severity SEV3 → *SEV1*" in t for t in texts(stack, channel))
    assert any("severity SEV3 → *SEV1*" in t for t in texts(stack, announce_id(stack)))


async def test_sev_rejects_bad_values_with_usage(stack: DevStack) -> None:
    channel = await declare(stack)
    for bad in ("", "5", "high"):
        await stack.command(f"sev {bad}".strip(), user=ALICE, channel=channel)
    await stack.settle()
    answers = responses(stack)[-3:]
    assert all("Usage: `/incident sev <1-4>`" in a for a in answers), answers
    assert not [e for e in await timeline(stack) if e.kind is TimelineKind.SEVERITY]


async def test_sev_to_the_same_value_says_so(stack: DevStack) -> None:
    channel = await declare(stack)
    await stack.command("sev 3", user=ALICE, channel=channel)
    await stack.settle()
    assert "already SEV3" in responses(stack)[-1]


async def test_role_parses_escaped_mention_and_invites(stack: DevStack) -> None:
    channel = await declare(stack)
    assert BOB not in stack.slack.channel(channel)["members"]

    await stack.command(f"role comms <@{BOB}|bob>", user=ALICE, channel=channel)
    await stack.command(f"role commander <@{BOB}>", user=ALICE, channel=channel)
    await stack.settle()

    assert BOB in stack.slack.channel(channel)["members"]
    roles = [e.data for e in await timeline(stack) if e.kind is TimelineKind.ROLE]
    assert roles == [{"role": "comms", "user": BOB}, {"role": "commander", "user": BOB}]
    summary = summary_text(stack, channel)
    assert f"*Comms:* <@{BOB}>" in summary and f"*Commander:* <@{BOB}>" in summary
    assert f"Commander: <@{BOB}>" in stack.slack.channel(channel)["topic"]["value"]


async def test_role_usage_errors(stack: DevStack) -> None:
    channel = await declare(stack)
    for bad in ("role", "role pilot <@U0BOB0001>", "role comms bob", "role comms"):
        await stack.command(bad, user=ALICE, channel=channel)
    await stack.settle()
    answers = responses(stack)[-4:]
    assert all("Usage: `/incident role <commander|comms|scribe> @user`" in a for a in answers)
    assert not [e for e in await timeline(stack) if e.kind is TimelineKind.ROLE]


async def test_timeline_is_ephemeral_and_limited(stack: DevStack) -> None:
    channel = await declare(stack)
    for n in range(4):
        await stack.command(f"note step {n}", user=ALICE, channel=channel)
    await stack.settle()
    posted_before = len(stack.slack.messages(channel))

    await stack.command("timeline 2", user=ALICE, channel=channel)
    await stack.settle()
    answer = responses(stack)[-1]
    assert "(last 2)" in answer
    assert "step 2" in answer and "step 3" in answer and "step 1" not in answer
    assert len(stack.slack.messages(channel)) == posted_before  # nothing posted in the channel

    await stack.command("timeline lots", user=ALICE, channel=channel)
    await stack.settle()
    assert "Usage: `/incident timeline [n]`" in responses(stack)[-1]


async def test_incident_commands_elsewhere_list_active_incidents(stack: DevStack) -> None:
    channel = await declare(stack)
    for word in ("sev 1", "role comms <@U0BOB0001>", "timeline", "status"):
        await stack.command(word, user=ALICE, channel=general_id(stack))
    await stack.settle()
    answers = responses(stack)[-4:]
    assert all("not an incident channel" in a and f"<#{channel}>" in a for a in answers), answers
    assert not [e for e in await timeline(stack) if e.kind is TimelineKind.SEVERITY]


async def test_help_lists_the_new_commands(stack: DevStack) -> None:
    await stack.command("help", user=ALICE, channel=general_id(stack))
    await stack.settle()
    answer = responses(stack)[-1]
    for usage in ("sev <1-4>", "role <commander|comms|scribe> @user", "timeline [n]", "ack"):
        assert usage in answer
