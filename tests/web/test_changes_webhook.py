"""POST /webhooks/changes through the real app: bearer or HMAC auth, PagerDuty change-event
bodies, service resolution from the catalog, dedupe and updates."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.devstack import DevStack
from bot.storage.tables import ChangeRow, InboundEvent
from integrations.webhook import sign
from tests.helpers.samples import vendor_sample
from tests.helpers.stack import MakeStack

SECRET = "changes-shared-secret"
CONFIG: dict[str, Any] = {
    "services": [
        {
            "name": "checkout",
            "github_repo": "acme/checkout",
            "argocd_app": "checkout-prod",
            "depends_on": ["payments"],
        },
        {"name": "payments", "github_repo": "acme/payments"},
    ]
}


def vendor_change_event() -> dict[str, Any]:
    return vendor_sample("pagerduty_events_v2_change_enqueue.request.json")


def event(summary: str = "Deploy checkout v1.43.0", **details: Any) -> dict[str, Any]:
    return {
        "payload": {
            "summary": summary,
            "timestamp": "2026-11-24T09:30:00Z",
            "source": "ci.example.com",
            "custom_details": details,
        },
        "links": [{"href": "https://ci.example.com/builds/220", "text": "Build 220"}],
    }


async def post(
    stack: DevStack,
    body: dict[str, Any] | bytes,
    *,
    bearer: str | None = SECRET,
    signature: str | None = None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if signature is not None:
        headers["X-Ooda-Signature"] = signature
    assert stack.http is not None
    return await stack.http.post("/webhooks/changes", content=raw, headers=headers)


async def stored(stack: DevStack) -> tuple[list[ChangeRow], int]:
    async with stack.runtime.db.session() as session:
        changes = list((await session.scalars(select(ChangeRow).order_by(ChangeRow.id))).all())
        inbound = await session.scalar(select(func.count()).select_from(InboundEvent))
    return changes, int(inbound or 0)


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"OODA_CHANGES_SECRET": SECRET}


async def test_vendor_change_event_with_bearer_token(stack: DevStack) -> None:
    body = vendor_change_event()
    response = await post(stack, body)
    assert response.status_code == 202, response.text
    changes, inbound = await stored(stack)
    assert len(changes) == 1 and inbound == 1
    change = changes[0]
    assert change.source == "webhook" and change.external_id.startswith("sha256:")
    assert change.summary == "Build Success: Increase snapshot create timeout to 30 seconds"
    assert change.status == "success"  # custom_details.build_state "passed"
    assert change.url == "https://buildpipeline.com/pagerduty/deployment/builds/220"
    assert change.service is None  # prod-build-agent-… is not in the catalog
    assert change.created_at.year == 2015

    again = await post(stack, body)
    assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert (await stored(stack))[1] == 1


async def test_hmac_signature(stack: DevStack) -> None:
    raw = json.dumps(event(id="build-1", service="checkout")).encode()
    response = await post(stack, raw, bearer=None, signature=sign(SECRET, raw, int(time.time())))
    assert response.status_code == 202, response.text
    assert response.json()["service"] == "checkout"


@pytest.mark.parametrize(
    ("bearer", "signature", "status", "reason"),
    [
        (None, None, 401, "missing Authorization: Bearer <secret> or X-Ooda-Signature"),
        ("wrong", None, 403, "bearer token or signature does not match"),
        (None, "t=1,v1=abc", 403, "X-Ooda-Signature timestamp is outside the 5-minute window"),
        (None, "garbage", 403, "bearer token or signature does not match"),
    ],
)
async def test_bad_credentials_store_nothing(
    stack: DevStack, bearer: str | None, signature: str | None, status: int, reason: str
) -> None:
    response = await post(stack, event(id="x"), bearer=bearer, signature=signature)
    assert response.status_code == status
    assert response.json()["error"] == reason
    assert await stored(stack) == ([], 0)


async def test_signature_with_the_wrong_secret_or_a_replay(stack: DevStack) -> None:
    raw = json.dumps(event(id="build-2")).encode()
    now = int(time.time())
    forged = await post(stack, raw, bearer=None, signature=sign("not-the-secret", raw, now))
    assert forged.status_code == 403
    replayed = await post(stack, raw, bearer=None, signature=sign(SECRET, raw, now - 301))
    assert replayed.status_code == 403
    assert "5-minute window" in replayed.json()["error"]
    tampered = await post(stack, raw + b" ", bearer=None, signature=sign(SECRET, raw, now))
    assert tampered.status_code == 403
    assert await stored(stack) == ([], 0)


async def test_not_configured_refuses(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        response = await post(stack, event(id="x"))
        assert response.status_code == 403
        assert "OODA_CHANGES_SECRET" in response.json()["error"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.pop("payload"), "payload is required and must be an object"),
        (lambda b: b["payload"].pop("summary"), "payload.summary is required"),
        (lambda b: b["payload"].update(summary="  "), "payload.summary is required"),
        (
            lambda b: b["payload"].update(custom_details=["a"]),
            "payload.custom_details must be an object",
        ),
        (lambda b: b.update(links="https://x"), "links must be a list"),
        (lambda b: b["payload"].update(timestamp="last tuesday"), "payload.timestamp"),
        (
            lambda b: b["payload"]["custom_details"].update(id="x" * 201),
            "custom_details.id is longer than 200 characters",
        ),
    ],
)
async def test_malformed_bodies_get_the_precise_reason(
    stack: DevStack, mutate: Any, reason: str
) -> None:
    body = copy.deepcopy(event(id="build-3"))
    mutate(body)
    response = await post(stack, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert await stored(stack) == ([], 0)


async def test_invalid_json_and_non_objects(stack: DevStack) -> None:
    broken = await post(stack, b"{not json")
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    array = await post(stack, b"[1, 2]")
    assert array.status_code == 400 and array.json()["error"] == "body must be a JSON object"


@pytest.mark.parametrize(
    ("details", "source", "service"),
    [
        ({"service": "payments"}, "ci", "payments"),
        ({"service": "acme/checkout"}, "ci", "checkout"),  # an alias becomes the catalog name
        ({"repo": "ACME/Payments"}, "ci", "payments"),
        ({}, "acme/checkout", "checkout"),
        ({}, "checkout-prod", "checkout"),  # the Argo CD application
        ({"service": "search"}, "ci", "search"),  # not in the catalog: kept as sent
        ({"service": "search"}, "acme/checkout", "search"),  # explicit beats the source
        ({}, "ci", None),
    ],
)
async def test_service_resolution(
    stack: DevStack, details: dict[str, Any], source: str, service: str | None
) -> None:
    body = event(id="build-4", **details)
    body["payload"]["source"] = source
    response = await post(stack, body)
    assert response.status_code == 202, response.text
    assert response.json()["service"] == service
    changes, _ = await stored(stack)
    assert [c.service for c in changes] == [service]


async def test_same_id_updates_the_change(stack: DevStack) -> None:
    started = await post(
        stack, event("Flip flag new-retry", id="flag-7", kind="flag", status="in_progress")
    )
    assert started.json()["kind"] == "flag"
    finished = await post(
        stack, event("Flip flag new-retry", id="flag-7", kind="flag", status="success")
    )
    assert finished.status_code == 202
    changes, inbound = await stored(stack)
    assert [(c.external_id, c.kind, c.status) for c in changes] == [("flag-7", "flag", "success")]
    assert inbound == 2
