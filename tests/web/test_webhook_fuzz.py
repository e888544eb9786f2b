"""Property-based fuzzing of the three webhook routes with mutated real vendor deliveries.

Per route and run: 1,000 correctly signed mutated bodies and 300 unsigned or badly signed ones,
against the real app (DevStack: loopback fakes, real database). Never a 5xx, never an ERROR in
the log, every malformed body 400 with a reason, unknown events 2xx and ignored, nothing stored
for what was refused; then the stored jobs run and none dies of the payload.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.fakes.github_api import sign_webhook as github_sign
from bot.fakes.pagerduty_webhooks import sign_webhook as pagerduty_sign
from bot.service.pagerduty_payload import HANDLED
from integrations.webhook import sign as changes_sign
from tests.helpers.fuzz import Harness, check_answer, fuzz_settings, mutated, strict_object
from tests.helpers.samples import vendor_sample
from tests.helpers.stack import MakeStack

# 1,300 generated bodies per run: minutes on a loaded 2-core machine (a bound, not a wait).
pytestmark = pytest.mark.timeout(1200)

SIGNED = 1000
UNSIGNED = 300
PD_SECRET = "local-pagerduty-secret"
GH_SECRET = "fuzz-github-secret"
CH_SECRET = "fuzz-changes-secret"
CONFIG: dict[str, Any] = {
    "services": [
        {
            "name": "hello",
            "pagerduty_service_ids": ["PF9KMXH"],
            "github_repo": "Codertocat/Hello-World",
            "github_environment": "production",
        }
    ]
}
ENV = {"GITHUB_WEBHOOK_SECRET": GH_SECRET, "OODA_CHANGES_SECRET": CH_SECRET}


# ---- bases built from the vendor samples ------------------------------------------------------


def pagerduty_bases() -> list[dict[str, Any]]:
    real = vendor_sample("pagerduty_v3_incident.priority_updated.json")
    bases = [real]
    for event_type in [*sorted(HANDLED), "service.updated", "incident.workflow.started"]:
        body = copy.deepcopy(real)
        body["event"]["event_type"] = event_type
        if event_type == "incident.annotated":
            incident = {"id": "PGR0VU2", "type": "incident_reference"}
            body["event"]["data"] = {
                "id": "PNOTE01",
                "type": "incident_note",
                "content": "Restarted the API pods",
                "incident": incident,
            }
        elif event_type.startswith("incident.responder."):
            body["event"]["data"] = {
                "incident": {"id": "PGR0VU2", "type": "incident_reference"},
                "user": real["event"]["agent"],
                "message": "Please help",
                "state": "pending",
                "type": "incident_responder",
            }
        bases.append(body)
    return bases


def github_bases() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("deployment", vendor_sample("github_deployment.created.json")),
        ("deployment_status", vendor_sample("github_deployment_status.created.json")),
    ]


def changes_bases() -> list[dict[str, Any]]:
    real = vendor_sample("pagerduty_events_v2_change_enqueue.request.json")
    aimed = copy.deepcopy(real)
    aimed["payload"]["custom_details"].update(
        service="hello", sha="6113728f27ae82c7b1a177c8d03f9e96e0adf246", environment="production"
    )
    return [real, aimed]


# ---- the harness, one per test ----------------------------------------------------------------


@pytest.fixture
def harness(make_stack: MakeStack) -> Iterator[Harness]:
    running = Harness(make_stack(CONFIG, env=ENV))
    stack = running.stack
    stack.pagerduty.add_incident(
        "PGR0VU2",
        number=2,
        title="A little bump in the road",
        service_id="PF9KMXH",
        service_name="API Service",
    )
    stack.pagerduty.add_alert("PGR0VU2", summary="API 5xx rate 12%")
    opening = copy.deepcopy(vendor_sample("pagerduty_v3_incident.priority_updated.json"))
    opening["event"]["event_type"] = "incident.triggered"
    raw = json.dumps(opening).encode()
    response = running.post("/webhooks/pagerduty", raw, pagerduty_headers(raw))
    assert response.status_code == 202, response.text
    running.settle()  # an open incident on "hello": changes get ranked against it
    running.tally.sent = 0
    running.expected_inbound = running.count_inbound()
    try:
        yield running
    finally:
        running.close()


def pagerduty_headers(raw: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": pagerduty_sign(raw, [PD_SECRET]),
        "X-Webhook-Id": hashlib.sha256(raw).hexdigest()[:32],
    }


def finish(harness: Harness, caplog: pytest.LogCaptureFixture, sent_at_least: int) -> None:
    assert harness.tally.sent >= sent_at_least, harness.tally
    harness.settle()
    assert harness.failed_jobs() == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def check_stored(harness: Harness, answer: dict[str, Any], status: int) -> None:
    """One more inbound event after an accepted delivery; none after a refusal, an ignored
    event, a ping or a duplicate."""
    accepted = status < 300 and ("accepted" in answer or "change" in answer)
    harness.expected_inbound += int(accepted)
    assert harness.count_inbound() == harness.expected_inbound, (status, answer)


# ---- signed bodies ----------------------------------------------------------------------------


def test_pagerduty_signed_mutations(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    @fuzz_settings(SIGNED)
    @given(raw=mutated(pagerduty_bases()))
    def fuzz(raw: bytes) -> None:
        response = harness.post("/webhooks/pagerduty", raw, pagerduty_headers(raw))
        body = strict_object(raw)
        answer = check_answer(response, malformed=body is None)
        event = body.get("event") if body else None
        event_type = event.get("event_type") if isinstance(event, dict) else None
        if isinstance(event_type, str) and event_type not in HANDLED:
            assert response.status_code == 200 and "ignored" in answer, answer
        check_stored(harness, answer, response.status_code)

    fuzz()
    finish(harness, caplog, SIGNED)


def test_github_signed_mutations(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    names = st.sampled_from(["deployment", "deployment_status"] * 4 + ["ping", "push", "issues"])

    @fuzz_settings(SIGNED)
    @given(raw=mutated([b for _, b in github_bases()]), event_name=names, n=st.integers())
    def fuzz(raw: bytes, event_name: str, n: int) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": github_sign(GH_SECRET, raw),
            "X-GitHub-Event": event_name,
            "X-GitHub-Delivery": f"{hashlib.sha256(raw).hexdigest()[:24]}-{event_name}-{n}",
        }
        response = harness.post("/webhooks/github", raw, headers)
        body = strict_object(raw)
        answer = check_answer(response, malformed=body is None)
        if body is not None and event_name in ("push", "issues"):
            assert response.status_code == 200 and answer.get("ignored") == event_name
        check_stored(harness, answer, response.status_code)

    fuzz()
    finish(harness, caplog, SIGNED)


def test_changes_signed_mutations(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    @fuzz_settings(SIGNED)
    @given(raw=mutated(changes_bases()), bearer=st.booleans())
    def fuzz(raw: bytes, bearer: bool) -> None:
        headers = {"Content-Type": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {CH_SECRET}"
        else:
            headers["X-Ooda-Signature"] = changes_sign(CH_SECRET, raw, int(time.time()))
        response = harness.post("/webhooks/changes", raw, headers)
        answer = check_answer(response, malformed=strict_object(raw) is None)
        check_stored(harness, answer, response.status_code)

    fuzz()
    finish(harness, caplog, SIGNED)


# ---- unsigned and badly signed ----------------------------------------------------------------

ODD_HEADER_VALUES = [
    b"",
    b"v1=",
    b"v1=\xc3\xa9\xc3\xa9",
    b"sha256=\xff\xfe",
    b"t=1,v1=abc",
    b"t=\xc3\xa9,v1=\xc3\xa9",
    b"t={now},v1=\xc3\xa9\xc3\xa9",  # a fresh timestamp: the comparison itself runs
    b"t=99999999999999999999999,v1=00",
    b"garbage",
    b"v1=" + b"0" * 64,
    b"sha256=" + b"0" * 64,
]


def _bad_headers(route: str, raw: bytes, kind: int, odd: bytes) -> dict[str, Any]:
    """kind 0: no credentials; 1: the wrong secret; 2: an odd header value; 3: another body's
    signature (or a stale timestamp for /webhooks/changes)."""
    other = raw + b" "
    odd = odd.replace(b"{now}", str(int(time.time())).encode())
    headers: dict[str, Any] = {"Content-Type": "application/json"}
    if route == "pagerduty":
        headers["X-Webhook-Id"] = hashlib.sha256(raw).hexdigest()[:32]
        values = [None, pagerduty_sign(raw, ["wrong"]), odd, pagerduty_sign(other, [PD_SECRET])]
        if values[kind] is not None:
            headers["X-PagerDuty-Signature"] = values[kind]
    elif route == "github":
        headers |= {"X-GitHub-Event": "deployment", "X-GitHub-Delivery": "d-" + str(kind)}
        values = [None, github_sign("wrong", raw), odd, github_sign(GH_SECRET, other)]
        if values[kind] is not None:
            headers["X-Hub-Signature-256"] = values[kind]
    else:
        stale = changes_sign(CH_SECRET, raw, int(time.time()) - 900)
        values = [None, changes_sign("wrong", raw, int(time.time())), odd, stale]
        if kind == 2:
            headers["Authorization"] = b"Bearer " + odd
        if values[kind] is not None:
            headers["X-Ooda-Signature"] = values[kind]
    return headers


@pytest.mark.parametrize("route", ["pagerduty", "github", "changes"])
def test_unsigned_or_badly_signed_store_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    caplog.set_level(logging.WARNING)
    bases: list[Any] = {
        "pagerduty": pagerduty_bases(),
        "github": [b for _, b in github_bases()],
        "changes": changes_bases(),
    }[route]
    stored_before = harness.stored()

    @fuzz_settings(UNSIGNED)
    @given(raw=mutated(bases), kind=st.integers(0, 3), odd=st.sampled_from(ODD_HEADER_VALUES))
    def fuzz(raw: bytes, kind: int, odd: bytes) -> None:
        response = harness.post(f"/webhooks/{route}", raw, _bad_headers(route, raw, kind, odd))
        assert response.status_code in (400, 401, 403, 413), (response.status_code, response.text)
        answer = response.json()
        assert answer["ok"] is False and answer["error"].strip()
        if kind == 0:
            assert response.status_code == 401
        elif kind in (1, 3):
            assert response.status_code == 403

    fuzz()
    assert harness.tally.sent >= UNSIGNED
    assert harness.stored() == stored_before  # no inbound event, change or job
    finish(harness, caplog, UNSIGNED)
