"""PagerDuty hand-offs (escalated, reassigned, delegated) bring the new assignees to the channel."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devstack import DevStack
from bot.fakes.pagerduty_webhooks import ref
from tests.helpers.pagerduty import CONFIG, PD, deliver, incidents, invited, seed_incident, timeline


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.mark.parametrize("kind", ["escalated", "reassigned", "delegated"])
async def test_new_assignees_are_invited_and_noted(kind: str, stack: DevStack) -> None:
    pd, slack = stack.pagerduty, stack.slack
    bob = slack.add_user("bob@example.com", "U0BOB0001", name="bob")
    pd.add_user("PBOB001", "Bob Builder", "bob@example.com")
    seed_incident(stack)
    await deliver(stack, "incident.triggered")
    [inc] = await incidents(stack)
    assert bob not in invited(stack, inc.channel_id)
    lookups_before = len(slack.calls("users.lookupByEmail"))

    bob_ref = ref("user", "PBOB001", "Bob Builder", "users")
    event = pd.webhook_event(f"incident.{kind}", PD, data_extra={"assignees": [bob_ref]})
    assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()

    lookups = slack.calls("users.lookupByEmail")[lookups_before:]
    assert any(c.params.get("email") == "bob@example.com" for c in lookups)
    assert bob in invited(stack, inc.channel_id)
    texts = [e.text for e in await timeline(stack)]
    assert f"PagerDuty: {kind} → Bob Builder" in texts, texts
