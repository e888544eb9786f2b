"""Orient merges PagerDuty's related change events with our own change sources."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.domain.model import utcnow
from tests.helpers.pagerduty import seed_incident

PD = "PINC001"
CONFIG = {
    "services": [
        {"name": "checkout", "pagerduty_service_ids": ["PCHKOUT"], "github_repo": "acme/checkout"}
    ]
}


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


def orient_text(stack: DevStack) -> str:
    channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
    cards = [m for m in stack.slack.messages(channel["id"]) if m["text"].startswith("INC-1 Orient")]
    assert len(cards) == 1
    return str(cards[0]["blocks"])


async def test_related_change_events_are_ranked_with_deploys(stack: DevStack) -> None:
    now = utcnow()
    seed_incident(stack, created_at=now - timedelta(minutes=2))
    stack.github.add_deployment(
        "acme/checkout",
        sha="9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d",
        created_at=now - timedelta(hours=6),
        description="v1.42.0",
    )
    stack.pagerduty.add_change_event(
        PD,
        summary="Feature flag checkout.retry_v2 enabled",
        timestamp=now - timedelta(minutes=9),
    )
    event = stack.pagerduty.webhook_event("incident.triggered", PD)
    assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()
    text = orient_text(stack)
    assert "Feature flag checkout.retry_v2 enabled" in text
    assert "9a8b7c6" in text
    # The change closest before the first alert ranks first.
    assert text.index("retry_v2") < text.index("9a8b7c6")


async def test_account_without_related_changes_is_not_an_error(stack: DevStack) -> None:
    seed_incident(stack)
    # 402: the account lacks the feature (PagerDuty's answer for a missing ability).
    stack.pagerduty.fail_next(f"/incidents/{PD}/related_change_events", status=402)
    event = stack.pagerduty.webhook_event("incident.triggered", PD)
    assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()
    text = orient_text(stack)
    assert "PagerDuty related changes" not in text
    assert [
        c.status for c in stack.pagerduty.calls if c.path.endswith("related_change_events")
    ] == [402]
