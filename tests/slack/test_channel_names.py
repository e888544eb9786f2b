"""Incident channels get a free, valid name: a taken name gets a suffix, a long or odd title a
name Slack takes (at most 80 characters)."""

from __future__ import annotations

import re

from bot.devstack import DevStack
from tests.helpers.pagerduty import incidents
from tests.helpers.slack import declare

VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


async def test_taken_channel_name_gets_a_suffix(stack: DevStack) -> None:
    stack.slack.add_channel("inc-1-checkout-down")
    channel = await declare(stack, "Checkout down")
    assert stack.slack.channel(channel)["name"] == "inc-1-checkout-down-2"
    [inc] = await incidents(stack)
    assert inc.channel_id == channel


async def test_long_title_gives_a_valid_name_of_at_most_80_chars(stack: DevStack) -> None:
    title = "Checkout: Ünïcode & <punctuation>! " + "very long words " * 20
    channel = await declare(stack, title)
    name = stack.slack.channel(channel)["name"]
    assert len(name) <= 80 and VALID_NAME.match(name) and not name.endswith("-"), name
    assert name.startswith("inc-1-checkout-unicode-punctuation-very-long")


async def test_long_title_with_a_taken_name_still_fits(stack: DevStack) -> None:
    title = "Payments " + "degraded " * 20
    expected = ("inc-1-payments-" + "degraded-" * 20)[:80].rstrip("-")
    stack.slack.add_channel(expected)
    channel = await declare(stack, title)
    name = stack.slack.channel(channel)["name"]
    assert name != expected and name.endswith("-2")
    assert len(name) <= 80 and VALID_NAME.match(name), name
