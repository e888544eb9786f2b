from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import httpx
import pytest

from bot.domain.model import ChangeKind, ChangeStatus
from integrations.http import UpstreamError
from integrations.webhook import change_event_to_change, post_signed, sign, verify

SECRET = "whsec-test-secret"
BODY = b'{"action":"restart","service":"checkout"}'
TS = 1_700_000_000


def test_sign_matches_independent_hmac():
    expected = hmac.new(SECRET.encode(), f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, TS) == f"t={TS},v1={expected}"


def test_sign_verify_roundtrip():
    header = sign(SECRET, BODY, TS)
    assert verify(SECRET, header, BODY, now=TS + 10)


@pytest.mark.parametrize(
    ("secret", "body", "header_ts"),
    [
        ("wrong-secret", BODY, TS),
        (SECRET, BODY + b" ", TS),  # body tampered
        (SECRET, BODY, TS + 1),  # timestamp swapped without re-signing
    ],
)
def test_verify_rejects_tampering(secret, body, header_ts):
    good = sign(SECRET, BODY, TS)
    header = good.replace(f"t={TS}", f"t={header_ts}")
    assert not verify(secret, header, body, now=TS)


def test_verify_rejects_expired_and_future_timestamps():
    header = sign(SECRET, BODY, TS)
    assert verify(SECRET, header, BODY, now=TS + 300)
    assert not verify(SECRET, header, BODY, now=TS + 301)
    assert not verify(SECRET, header, BODY, now=TS - 301)
    assert verify(SECRET, header, BODY, now=TS + 1000, tolerance=1000)


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", f"t={TS}", "v1=abcd"])
def test_verify_rejects_malformed_headers(header):
    assert not verify(SECRET, header, BODY, now=TS)


def test_verify_accepts_any_of_several_signatures():
    good = sign(SECRET, BODY, TS).split(",")[1]
    assert verify(SECRET, f"t={TS},v1=deadbeef,{good}", BODY, now=TS)


async def test_post_signed_sends_verifiable_json(respx_mock):
    route = respx_mock.post("https://hooks.example.com/restart").mock(
        return_value=httpx.Response(202)
    )
    payload = {"service": "checkout", "incident": "INC-42", "key": "abc"}
    response = await post_signed("https://hooks.example.com/restart", payload, secret=SECRET)
    assert response.status_code == 202
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == payload
    assert verify(
        SECRET, request.headers["X-Ooda-Signature"], request.content, now=int(time.time())
    )
    assert SECRET not in request.headers["X-Ooda-Signature"]


async def test_post_signed_retries_with_identical_signature(respx_mock):
    route = respx_mock.post("https://hooks.example.com/restart").mock(
        side_effect=[httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200)]
    )
    response = await post_signed(
        "https://hooks.example.com/restart", {"a": 1}, secret=SECRET, backoff=0
    )
    assert response.status_code == 200
    assert route.call_count == 3
    signatures = {c.request.headers["X-Ooda-Signature"] for c in route.calls}
    assert len(signatures) == 1  # receivers can dedupe redeliveries


async def test_post_signed_gives_up(respx_mock):
    route = respx_mock.post("https://hooks.example.com/restart").mock(
        return_value=httpx.Response(500)
    )
    with pytest.raises(UpstreamError) as info:
        await post_signed(
            "https://hooks.example.com/restart", {"a": 1}, secret=SECRET, backoff=0, max_retries=1
        )
    assert route.call_count == 2
    assert str(info.value) == "Webhook API returned 500 for POST /restart"
    assert SECRET not in str(info.value)


def test_change_event_to_change_on_real_sample(load_sample):
    body = load_sample("pagerduty_events_v2_change_enqueue.request.json")
    change = change_event_to_change(body, service="snapshots")
    assert change.source == "webhook"
    assert change.summary == "Build Success: Increase snapshot create timeout to 30 seconds"
    # "2015-07-17T08:42:58.315+0000": an offset without a colon.
    assert change.created_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert change.created_at.tzinfo is not None
    assert change.url == "https://buildpipeline.com/pagerduty/deployment/builds/220"
    assert change.kind is ChangeKind.DEPLOY  # "Build"
    assert change.status is ChangeStatus.SUCCESS  # build_state: passed
    assert change.service == "snapshots"
    assert change.data["build_number"] == "220"
    assert change.data["event_source"] == "prod-build-agent-i-0b148d1040d565540"
    assert change.external_id.startswith("sha256:")
    assert "737ea619db564d41bd9824063e1f6b08" not in json.dumps(change.data)


def test_external_id_is_stable_and_ignores_routing_key(load_sample):
    body = load_sample("pagerduty_events_v2_change_enqueue.request.json")
    first = change_event_to_change(body, service=None).external_id
    redelivered = json.loads(json.dumps(body, indent=4))
    redelivered["routing_key"] = "another-key"
    assert change_event_to_change(redelivered, service=None).external_id == first
    changed = copy.deepcopy(body)
    changed["payload"]["custom_details"]["build_number"] = "221"
    assert change_event_to_change(changed, service=None).external_id != first


def test_custom_details_drive_fields():
    body = {
        "payload": {
            "summary": "Turn on new checkout",
            "timestamp": "2024-05-01T12:00:00Z",
            "custom_details": {
                "id": 991,
                "kind": "feature_flag",
                "service": "checkout",
                "commit": "0123456789abcdef",
                "branch": "main",
                "repository": "acme/checkout",
                "environment": "production",
                "author": "alice",
                "status": "failed",
            },
        }
    }
    change = change_event_to_change(body, service="fallback")
    assert change.external_id == "991"
    assert change.kind is ChangeKind.FLAG
    assert change.service == "checkout"
    assert (change.sha, change.ref, change.repo) == ("0123456789abcdef", "main", "acme/checkout")
    assert (change.environment, change.author) == ("production", "alice")
    assert change.status is ChangeStatus.FAILURE
    assert change.url is None


@pytest.mark.parametrize(
    ("summary", "details", "kind"),
    [
        ("Enable flag new-cart for 10%", {}, ChangeKind.FLAG),
        ("Raise pool size in configuration", {}, ChangeKind.CONFIG),
        ("Deployed api v2.3.1", {}, ChangeKind.DEPLOY),
        ("Rotated on-call schedule", {}, ChangeKind.OTHER),
        ("Deployed api", {"type": "config"}, ChangeKind.CONFIG),
    ],
)
def test_kind_inference(summary, details, kind):
    body = {"payload": {"summary": summary, "custom_details": details}}
    assert change_event_to_change(body, service=None).kind is kind


def test_missing_timestamp_uses_received_time():
    received = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = {"payload": {"summary": "Deploy"}}
    assert change_event_to_change(body, service=None, received_at=received).created_at == received


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "body must be a JSON object"),
        ({}, "payload is required"),
        ({"payload": {"timestamp": "2024-01-01T00:00:00Z"}}, "payload.summary is required"),
        ({"payload": {"summary": "  "}}, "payload.summary is required"),
        ({"payload": {"summary": "x", "timestamp": "yesterday"}}, "payload.timestamp"),
        ({"payload": {"summary": "x", "custom_details": "nope"}}, "payload.custom_details"),
        ({"payload": {"summary": "x"}, "links": "http://x"}, "links must be a list"),
    ],
)
def test_malformed_bodies_raise_precise_value_error(body, reason):
    with pytest.raises(ValueError, match=reason):
        change_event_to_change(body, service=None)
