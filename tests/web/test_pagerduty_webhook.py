"""POST /webhooks/pagerduty through the real app: signatures, rotation, bad input, dedup."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.devstack import PD_SECRET, DevStack
from bot.fakes.pagerduty_webhooks import sign_webhook
from bot.storage.tables import InboundEvent, Incident
from tests.helpers.pagerduty import CONFIG, count, incidents, seed_incident
from tests.helpers.stack import MakeStack

OLD, NEW = "old-rotating-secret", "new-rotating-secret"


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


async def post_raw(stack: DevStack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    assert stack.http is not None
    return await stack.http.post("/webhooks/pagerduty", content=body, headers=headers)


async def test_header_with_two_signatures_is_accepted(stack: DevStack) -> None:
    # During rotation PagerDuty signs with the old and the new secret; we only know the new one.
    seed_incident(stack)
    event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
    response = await stack.pagerduty_webhook(event, secrets=["someone-elses", PD_SECRET])
    assert response.status_code == 202, response.text
    await stack.settle()
    assert len(await incidents(stack)) == 1


@pytest.mark.parametrize("signing_secret", [OLD, NEW])
async def test_either_configured_secret_matches(make_stack: MakeStack, signing_secret: str) -> None:
    env = {"PAGERDUTY_WEBHOOK_SECRETS": f"{OLD}, {NEW}"}
    async with make_stack(CONFIG, env=env) as stack:
        seed_incident(stack)
        event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
        response = await stack.pagerduty_webhook(event, secrets=[signing_secret])
        assert response.status_code == 202, response.text
        assert await count(stack, InboundEvent) == 1


async def test_wrong_signature_is_403_and_nothing_is_stored(stack: DevStack) -> None:
    seed_incident(stack)
    event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
    response = await stack.pagerduty_webhook(event, secrets=["not-our-secret"])
    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    await stack.settle()
    assert await count(stack, InboundEvent) == 0
    assert await count(stack, Incident) == 0
    assert stack.slack.calls("conversations.create") == []


async def test_missing_malformed_and_non_json(stack: DevStack) -> None:
    body = json.dumps({"event": {"event_type": "incident.triggered"}}).encode()
    missing = await post_raw(stack, body, {"Content-Type": "application/json"})
    assert missing.status_code == 401
    assert "X-PagerDuty-Signature" in missing.json()["error"]

    for header in ("sha256=abc", "v1=", "v1=abc,,", "v2=abc"):
        malformed = await post_raw(stack, body, {"X-PagerDuty-Signature": header})
        assert malformed.status_code == 400, header
        assert "v1=" in malformed.json()["error"]

    not_json = b"{not json"
    bad = await post_raw(
        stack, not_json, {"X-PagerDuty-Signature": sign_webhook(not_json, [PD_SECRET])}
    )
    assert bad.status_code == 400
    assert "not valid JSON" in bad.json()["error"]

    no_event = b'{"messages": []}'
    shape = await post_raw(
        stack, no_event, {"X-PagerDuty-Signature": sign_webhook(no_event, [PD_SECRET])}
    )
    assert shape.status_code == 400
    assert "event.event_type" in shape.json()["error"]

    for data in ({}, [], {"incident": "PINC001"}, {"type": "incident", "id": 7}):
        body = {"event": {"event_type": "incident.acknowledged", "data": data}}
        raw = json.dumps(body).encode()
        orphan = await post_raw(
            stack, raw, {"X-PagerDuty-Signature": sign_webhook(raw, [PD_SECRET])}
        )
        assert orphan.status_code == 400, data
        assert "incident id" in orphan.json()["error"]
    assert await count(stack, InboundEvent) == 0


async def test_body_over_2_mb_is_refused(stack: DevStack) -> None:
    seed_incident(stack)
    event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
    event["event"]["data"]["padding"] = "x" * (2 * 1024 * 1024)
    response = await stack.pagerduty_webhook(event)
    assert response.status_code == 413
    assert "2 MB" in response.json()["error"]
    assert await count(stack, InboundEvent) == 0


@pytest.mark.parametrize(
    "event_type", ["service.created", "service.updated", "incident.conference_bridge.updated"]
)
async def test_unknown_and_service_events_are_ignored(stack: DevStack, event_type: str) -> None:
    seed_incident(stack)
    event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
    event["event"]["event_type"] = event_type
    response = await stack.pagerduty_webhook(event)
    assert response.status_code in (200, 202)
    assert response.json() == {"ok": True, "ignored": event_type}
    await stack.settle()
    assert await count(stack, Incident) == 0
    assert stack.slack.calls("conversations.create") == []


async def test_duplicate_webhook_id_opens_one_incident_and_one_channel(stack: DevStack) -> None:
    seed_incident(stack)
    event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
    first = await stack.pagerduty_webhook(event, webhook_id="wh-1")
    again = await stack.pagerduty_webhook(event, webhook_id="wh-1")
    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["duplicate"] is True
    await stack.settle()
    # The same event delivered under another webhook id (a second subscription) too.
    other = await stack.pagerduty_webhook(event, webhook_id="wh-2")
    assert other.status_code == 202
    await stack.settle()
    assert len(await incidents(stack)) == 1
    assert len(stack.slack.calls("conversations.create")) == 1
    assert await count(stack, InboundEvent) == 2


async def test_pagerduty_webhook_is_acknowledged_before_any_rest_call(stack: DevStack) -> None:
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
