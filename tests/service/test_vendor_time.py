"""PagerDuty facts carry PagerDuty's time, whenever their webhooks reach us: an incident
created at 13:35 and resolved at 14:05 whose deliveries came hours late lasted 30 minutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.service import postmortems
from tests.helpers.pagerduty import CONFIG, seed_incident, timeline


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


async def test_a_late_delivered_incident_keeps_pagerdutys_times(stack: DevStack) -> None:
    created = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    resolved = created + timedelta(minutes=30)
    seed_incident(stack, created_at=created)
    pd = stack.pagerduty
    triggered = pd.webhook_event("incident.triggered", "PINC001", occurred_at=created)
    assert (await stack.pagerduty_webhook(triggered)).status_code == 202
    await stack.settle()
    pd.set_status("PINC001", "resolved")
    done = pd.webhook_event("incident.resolved", "PINC001", occurred_at=resolved)
    assert (await stack.pagerduty_webhook(done)).status_code == 202
    await stack.settle()

    entries = await timeline(stack)
    assert [e.kind for e in entries if e.kind in ("opened", "resolved")] == [
        "opened",
        "resolved",
    ]
    assert [e.at for e in entries] == sorted(e.at for e in entries)  # in order
    opened = next(e for e in entries if e.kind == "opened")
    assert opened.at == created and "learned_at" in opened.data
    assert next(e for e in entries if e.kind == "resolved").at == resolved
    text = await postmortems.render(stack.runtime, 1)
    assert text is not None
    assert "| Time to resolve | 30m |" in text, text[:1500]
