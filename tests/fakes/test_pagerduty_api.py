from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.fakes import FakePagerDuty
from bot.fakes.pagerduty_webhooks import sign_webhook as pd_sign
from bot.fakes.pagerduty_webhooks import webhook_body, webhook_headers
from bot.fakes.pagerduty_webhooks import webhook_event as pd_event
from tests.helpers.samples import vendor_sample

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AUTH = {
    "Authorization": "Token token=pd-test",
    "Accept": "application/vnd.pagerduty+json;version=2",
}


def seed(pd: FakePagerDuty, alerts: int = 0) -> dict:
    pd.add_user("PUALICE", "Alice Doe", "alice@example.com")
    inc = pd.add_incident(
        "PABC123",
        number=42,
        title="Checkout 5xx",
        service_id="PSVC1",
        service_name="checkout",
        created_at=T0,
        assignees=[{"id": "PUALICE"}],
    )
    for i in range(alerts):
        pd.add_alert("PABC123", summary=f"alert {i}", created_at=T0 + timedelta(seconds=i))
    return inc


async def test_get_incident_by_id_or_number_and_404(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty, alerts=3)
    async with httpx.AsyncClient(base_url=pagerduty.url, headers=AUTH) as http:
        by_id = (await http.get("/incidents/PABC123")).json()["incident"]
        by_number = (await http.get("/incidents/42")).json()["incident"]
        missing = await http.get("/incidents/PNOPE")
    assert by_id == by_number
    assert by_id["incident_number"] == 42 and by_id["summary"] == "[#42] Checkout 5xx"
    assert by_id["created_at"] == "2024-05-01T12:00:00Z"
    assert by_id["alert_counts"] == {"all": 3, "triggered": 3, "resolved": 0}
    assert by_id["assignments"][0]["assignee"]["summary"] == "Alice Doe"
    assert by_id["service"] == {
        "id": "PSVC1",
        "type": "service_reference",
        "summary": "checkout",
        "self": "https://api.pagerduty.com/services/PSVC1",
        "html_url": "https://fake.pagerduty.com/service-directory/PSVC1",
    }
    sample = vendor_sample("pagerduty_rest_get_incident.response.json")["incident"]
    assert set(sample) - set(by_id) <= {"custom_fields"}
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "Not Found", "code": 2100}}


async def test_auth_is_required(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty)
    async with httpx.AsyncClient(base_url=pagerduty.url) as http:
        for headers in ({}, {"Authorization": "Bearer pd-test"}):
            response = await http.get("/incidents/PABC123", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == 2006
    assert pagerduty.calls[-1].status == 401
    assert "authorization" not in pagerduty.calls[-1].headers


async def test_alerts_and_log_entries_paginate_with_offset_limit_more(
    pagerduty: FakePagerDuty,
) -> None:
    seed(pagerduty, alerts=60)
    seen: list[str] = []
    pages = []
    async with httpx.AsyncClient(base_url=pagerduty.url, headers=AUTH) as http:
        offset = 0
        while True:
            body = (await http.get("/incidents/PABC123/alerts", params={"offset": offset})).json()
            pages.append((body["offset"], body["limit"], len(body["alerts"]), body["more"]))
            seen += [a["summary"] for a in body["alerts"]]
            if not body["more"]:
                break
            offset += body["limit"]
        total = (await http.get("/incidents/PABC123/alerts?limit=10&total=true")).json()
        logs = (await http.get("/incidents/PABC123/log_entries", params={"limit": 1})).json()
    assert pages == [(0, 25, 25, True), (25, 25, 25, True), (50, 25, 10, False)]
    assert seen == [f"alert {i}" for i in range(60)]
    assert total["total"] == 60 and len(total["alerts"]) == 10
    assert logs["log_entries"][0]["type"] == "trigger_log_entry" and logs["more"] is False
    sample = vendor_sample("pagerduty_rest_list_incident_alerts.response.json")["alerts"][0]
    assert set(sample) <= set(total["alerts"][0])


async def test_notes_require_a_from_header(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty)
    note = {"note": {"content": "Rolled back checkout to abc123"}}
    async with httpx.AsyncClient(base_url=pagerduty.url, headers=AUTH) as http:
        refused = await http.post("/incidents/PABC123/notes", json=note)
        created = await http.post(
            "/incidents/PABC123/notes", json=note, headers={"From": "alice@example.com"}
        )
        empty = await http.post(
            "/incidents/PABC123/notes", json={"note": {}}, headers={"From": "alice@example.com"}
        )
    assert refused.status_code == 400 and '"From" header' in refused.json()["error"]["message"]
    assert created.status_code == 201
    body = created.json()["note"]
    assert body["content"] == "Rolled back checkout to abc123"
    assert body["user"]["id"] == "PUALICE"
    assert empty.status_code == 400
    assert [n["content"] for n in pagerduty.notes("PABC123")] == [note["note"]["content"]]
    method, path, headers, sent = pagerduty.calls[1]
    assert (method, path, headers["from"], sent) == (
        "POST",
        "/incidents/PABC123/notes",
        "alice@example.com",
        note,
    )


async def test_status_changes_and_already_in_status_errors(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty)
    headers = {**AUTH, "From": "alice@example.com"}

    def body(status: str) -> dict:
        return {"incident": {"type": "incident_reference", "status": status}}

    async with httpx.AsyncClient(base_url=pagerduty.url, headers=headers) as http:
        ack = await http.put("/incidents/PABC123", json=body("acknowledged"))
        again = await http.put("/incidents/PABC123", json=body("acknowledged"))
        bogus = await http.put("/incidents/PABC123", json=body("snoozed"))
        resolved = await http.put("/incidents/PABC123", json=body("resolved"))
        late = await http.put("/incidents/PABC123", json=body("acknowledged"))
        log = (await http.get("/incidents/PABC123/log_entries")).json()["log_entries"]
    assert ack.status_code == 200 and ack.json()["incident"]["status"] == "acknowledged"
    assert ack.json()["incident"]["acknowledgements"][0]["acknowledger"]["id"] == "PUALICE"
    assert (again.status_code, again.json()["error"]["code"]) == (400, 1002)
    assert (bogus.status_code, bogus.json()["error"]["code"]) == (400, 1003)
    assert resolved.json()["incident"]["resolved_at"] is not None
    assert late.json() == {"error": {"message": "Incident Already Resolved", "code": 1001}}
    kinds = [entry["type"] for entry in log]
    assert kinds == ["trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry"]


async def test_fail_next_with_retry_after(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty)
    pagerduty.fail_next("/incidents/PABC123/alerts", status=429, retry_after=3)
    async with httpx.AsyncClient(base_url=pagerduty.url, headers=AUTH) as http:
        limited = await http.get("/incidents/PABC123/alerts")
        ok = await http.get("/incidents/PABC123/alerts")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert ok.status_code == 200


async def test_oncalls_users_changes_and_subscriptions(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty)
    pagerduty.add_user("PUBOB", "Bob", "bob@example.com")
    pagerduty.add_oncall("PUALICE", escalation_policy_id="PEP1")
    pagerduty.add_oncall("PUBOB", escalation_policy_id="PEP2", escalation_level=2)
    pagerduty.add_change_event("PABC123", summary="Deploy abc123", timestamp=T0)
    async with httpx.AsyncClient(base_url=pagerduty.url, headers=AUTH) as http:
        oncalls = (await http.get("/oncalls?escalation_policy_ids[]=PEP1")).json()["oncalls"]
        user = (await http.get("/users/PUBOB")).json()["user"]
        changes = (await http.get("/incidents/PABC123/related_change_events")).json()
        sub = await http.post(
            "/webhook_subscriptions",
            json={
                "webhook_subscription": {
                    "delivery_method": {"type": "http_delivery_method", "url": "https://x/y"},
                    "events": ["incident.triggered"],
                    "filter": {"type": "account_reference"},
                }
            },
        )
    assert [o["user"]["summary"] for o in oncalls] == ["Alice Doe"]
    assert user["email"] == "bob@example.com"
    assert changes["change_events"][0]["summary"] == "Deploy abc123"
    assert changes["more"] is False
    assert sub.status_code == 201
    assert len(sub.json()["webhook_subscription"]["delivery_method"]["secret"]) >= 32


def test_resolve_alerts_resolves_the_incident(pagerduty: FakePagerDuty) -> None:
    seed(pagerduty, alerts=2)
    seen: list[dict] = []
    pagerduty.on_status_change = seen.append
    inc = pagerduty.resolve_alerts("PABC123")
    assert inc["status"] == "resolved"
    assert inc["alert_counts"] == {"all": 2, "triggered": 0, "resolved": 2}
    assert seen == [{"incident_id": "PABC123", "status": "resolved"}]


def test_webhook_event_matches_the_v3_sample_shape(pagerduty: FakePagerDuty) -> None:
    inc = seed(pagerduty)
    event = pd_event("incident.priority_updated", inc, occurred_at=T0)
    sample = vendor_sample("pagerduty_v3_incident.priority_updated.json")
    assert set(event["event"]) == set(sample["event"])
    assert set(sample["event"]["data"]) - set(event["event"]["data"]) == {"reopened_at"}
    data = event["event"]["data"]
    assert (data["id"], data["number"], data["type"]) == ("PABC123", 42, "incident")
    assert data["assignees"][0]["id"] == "PUALICE"
    assert event["event"]["occurred_at"] == "2024-05-01T12:00:00.000Z"
    assert event["event"]["agent"]["type"] == "user_reference"

    note = pagerduty.webhook_event(
        "incident.annotated", "PABC123", data_extra={"content": "Looking at the DB"}
    )["event"]
    assert note["data"]["type"] == "incident_note"
    assert note["data"]["content"] == "Looking at the DB"
    assert note["data"]["incident"]["id"] == "PABC123"
    assert note["data"]["incident"]["type"] == "incident_reference"
    triggered = pd_event("incident.triggered", inc)["event"]
    assert triggered["agent"]["type"] == "service_reference"


def test_sign_webhook_v1_hmac_for_each_secret() -> None:
    body = webhook_body({"event": {"id": "1"}})
    header = pd_sign(body, ["old-secret", "new-secret"])
    parts = header.split(",")
    assert len(parts) == 2 and all(p.startswith("v1=") for p in parts)
    expected = hmac.new(b"new-secret", body, hashlib.sha256).hexdigest()
    assert parts[1] == f"v1={expected}"
    assert FakePagerDuty.sign_webhook(body, ["new-secret"]) == parts[1]
    headers = webhook_headers(body, ["new-secret"], webhook_id="wh-1")
    assert headers["X-Webhook-Id"] == "wh-1" and headers["X-PagerDuty-Signature"] == parts[1]
    assert json.loads(body) == {"event": {"id": "1"}}


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_use_pagerduty_error_json(
    pagerduty: FakePagerDuty, status: int
) -> None:
    seed(pagerduty)
    pagerduty.fail_next("/incidents", status=status)
    async with httpx.AsyncClient(base_url=pagerduty.url, headers=AUTH) as http:
        response = await http.get("/incidents/PABC123")
    assert response.status_code == status
    assert response.json()["error"]["code"] == 2000
