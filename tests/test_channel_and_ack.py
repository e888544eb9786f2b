"""Incident channels get a free, valid name; the PagerDuty webhook is acknowledged before any
slow PagerDuty call; the Observe card carries the page's essentials."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devstack import DevStack
from tests.helpers.pagerduty import CONFIG, incidents, observe_card, seed_incident
from tests.helpers.slack import add_people, config, declare

VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@pytest.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[DevStack]:
    async with DevStack(tmp_path, config=config(), database_url=database_url) as running:
        add_people(running)
        yield running


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


async def test_pagerduty_webhook_is_acknowledged_before_any_rest_call(
    tmp_path: Path, database_url: str
) -> None:
    async with DevStack(tmp_path, config=CONFIG, database_url=database_url) as stack:
        seed_incident(stack)
        gate = stack.pagerduty.hold("/")  # every PagerDuty REST call waits for the test
        try:
            event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
            response = await stack.pagerduty_webhook(event)
            assert response.status_code == 202
            # No REST call has finished: the webhook answered without waiting on PagerDuty.
            assert stack.pagerduty.calls == []
            assert not gate.is_set()
        finally:
            gate.set()
        await stack.settle()
        [inc] = await incidents(stack)
        assert inc.channel_id
        assert any(c.path == "/incidents/PINC001" for c in stack.pagerduty.calls)


async def test_observe_card_shows_urgency_firing_since_service_and_link(
    tmp_path: Path, database_url: str
) -> None:
    async with DevStack(tmp_path, config=CONFIG, database_url=database_url) as stack:
        pd_incident = seed_incident(stack, urgency="high")
        event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
        assert (await stack.pagerduty_webhook(event)).status_code == 202
        await stack.settle()
        [inc] = await incidents(stack)
        text = str(observe_card(stack, inc.channel_id)["blocks"])
        assert "*Service:* checkout" in text
        assert "*Urgency:* high" in text
        assert re.search(r"\*Firing since:\* \d{2}:\d{2}", text), text
        assert f"<{pd_incident['html_url']}|Open in PagerDuty>" in text
