from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import httpx
import pytest

from bot.domain.model import ChangeKind, ChangeStatus
from integrations.http import UpstreamError
from integrations.pagerduty import INCIDENT_EVENTS, PagerDutyClient, related_change_to_change

BASE = "https://api.pagerduty.com"
TOKEN = "u+PDtok3n-VERY-secret"


@pytest.fixture
async def pd():
    async with PagerDutyClient(TOKEN, from_email="bot@example.com", backoff=0) as client:
        yield client


@pytest.fixture
async def pd_no_from():
    async with PagerDutyClient(TOKEN, backoff=0) as client:
        yield client


async def test_get_incident_sends_auth_and_version_headers(pd, respx_mock, load_sample):
    sample = load_sample("pagerduty_rest_get_incident.response.json")
    route = respx_mock.get(f"{BASE}/incidents/PT4KHLK").mock(
        return_value=httpx.Response(200, json=sample)
    )
    incident = await pd.get_incident("PT4KHLK")
    assert incident["id"] == "PT4KHLK"
    assert incident["escalation_policy"]["id"] == "PT20YPA"
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == f"Token token={TOKEN}"
    assert headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert headers["Content-Type"] == "application/json"
    assert "From" not in headers  # reads do not need it


def _paged(pages: dict[int, dict]):
    """Serve pages by offset, recording the query of each request."""
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        return httpx.Response(200, json=pages[int(params["offset"])])

    return handler, seen


async def test_list_alerts_follows_offset_pagination(pd, respx_mock, load_sample):
    first = load_sample("pagerduty_rest_list_incident_alerts.response.json")  # more: true
    assert first["more"] is True
    second = copy.deepcopy(first)
    second["alerts"][0]["id"] = "PALERT2"
    second.update(offset=1, more=True)
    third = copy.deepcopy(first)
    third["alerts"][0]["id"] = "PALERT3"
    third.update(offset=2, more=False)
    handler, seen = _paged({0: first, 1: second, 2: third})
    respx_mock.get(f"{BASE}/incidents/PT4KHLK/alerts").mock(side_effect=handler)

    alerts = await pd.list_alerts("PT4KHLK")

    assert [a["id"] for a in alerts] == ["PT4KHLK", "PALERT2", "PALERT3"]
    assert [(q["limit"], q["offset"]) for q in seen] == [("100", "0"), ("100", "1"), ("100", "2")]


async def test_list_log_entries_single_page_without_more(pd, respx_mock, load_sample):
    sample = load_sample("pagerduty_rest_list_incident_log_entries.response.json")
    assert "more" not in sample  # the real example omits it: must still stop
    route = respx_mock.get(f"{BASE}/incidents/PT4KHLK/log_entries").mock(
        return_value=httpx.Response(200, json=sample)
    )
    entries = await pd.list_log_entries("PT4KHLK")
    assert [e["type"] for e in entries] == ["trigger_log_entry"]
    assert route.call_count == 1


async def test_pagination_stops_on_empty_page_even_if_more(pd, respx_mock):
    route = respx_mock.get(f"{BASE}/incidents/P1/alerts").mock(
        return_value=httpx.Response(200, json={"alerts": [], "more": True})
    )
    assert await pd.list_alerts("P1") == []
    assert route.call_count == 1


async def test_update_status_puts_incident_reference_with_from(pd, respx_mock, load_sample):
    response = load_sample("pagerduty_rest_put_incidents.response.json")
    route = respx_mock.put(f"{BASE}/incidents/PT4KHLK").mock(
        return_value=httpx.Response(200, json={"incident": response["incidents"][0]})
    )
    incident = await pd.update_status("PT4KHLK", "resolved")
    assert incident["status"] == "resolved"
    request = route.calls.last.request
    assert request.headers["From"] == "bot@example.com"
    assert json.loads(request.content) == {
        "incident": {"type": "incident_reference", "status": "resolved"}
    }


async def test_update_status_body_matches_vendor_example(pd, respx_mock, load_sample):
    expected = load_sample("pagerduty_rest_put_incident.request.json")
    route = respx_mock.put(f"{BASE}/incidents/PT4KHLK").mock(
        return_value=httpx.Response(200, json={"incident": {"id": "PT4KHLK"}})
    )
    await pd.update_status("PT4KHLK", "acknowledged")
    assert json.loads(route.calls.last.request.content) == expected


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1001, "Incident Already Resolved"),
        (1002, "Incident Already Acknowledged"),
        # The code alone must be enough: messages are not a stable contract.
        (1001, "Arguments Caused Error"),
        (1002, ""),
    ],
)
async def test_already_resolved_or_acknowledged_is_success(pd, respx_mock, code, message):
    route = respx_mock.put(f"{BASE}/incidents/PX").mock(
        return_value=httpx.Response(
            400, json={"error": {"message": message, "code": code, "errors": []}}
        )
    )
    assert await pd.update_status("PX", "resolved") == {}
    assert route.call_count == 1


async def test_already_done_recognised_by_message_without_code(pd, respx_mock):
    respx_mock.put(f"{BASE}/incidents/PX").mock(
        return_value=httpx.Response(409, json={"error": {"message": "Incident already resolved"}})
    )
    assert await pd.update_status("PX", "acknowledged") == {}


async def test_other_update_errors_still_raise(pd, respx_mock):
    respx_mock.put(f"{BASE}/incidents/PX").mock(
        return_value=httpx.Response(
            400, json={"error": {"message": "Invalid Status Provided", "code": 1003}}
        )
    )
    with pytest.raises(UpstreamError) as info:
        await pd.update_status("PX", "resolved")
    assert info.value.code == 1003


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.update_status("PX", "acknowledged"),
        lambda c: c.create_note("PX", "hello"),
        lambda c: c.escalate("PX", 2),
    ],
)
async def test_writes_require_from_email(pd_no_from, respx_mock, call):
    with pytest.raises(ValueError, match="PAGERDUTY_FROM_EMAIL"):
        await call(pd_no_from)
    assert respx_mock.calls.call_count == 0  # refused before any request


async def test_create_note_uses_vendor_request_shape(pd, respx_mock, load_sample):
    request_body = load_sample("pagerduty_rest_create_note.request.json")
    response_body = load_sample("pagerduty_rest_create_note.response.json")
    route = respx_mock.post(f"{BASE}/incidents/PT4KHLK/notes").mock(
        return_value=httpx.Response(201, json=response_body)
    )
    note = await pd.create_note("PT4KHLK", "Firefighters are on the scene.")
    assert note["id"] == "PWL7QXS"
    request = route.calls.last.request
    assert json.loads(request.content) == request_body
    assert request.headers["From"] == "bot@example.com"


async def test_escalate_sends_escalation_level(pd, respx_mock):
    route = respx_mock.put(f"{BASE}/incidents/PX").mock(
        return_value=httpx.Response(200, json={"incident": {"id": "PX"}})
    )
    assert await pd.escalate("PX", 2) == {"id": "PX"}
    assert json.loads(route.calls.last.request.content) == {
        "incident": {"type": "incident_reference", "escalation_level": 2}
    }


async def test_related_change_events_returns_events(pd, respx_mock, load_sample):
    sample = load_sample("pagerduty_rest_related_change_events.response.json")
    respx_mock.get(f"{BASE}/incidents/PT4KHLK/related_change_events").mock(
        return_value=httpx.Response(200, json=sample)
    )
    events = await pd.related_change_events("PT4KHLK")
    assert [e["id"] for e in events] == [
        "01BBYA6PEVW6A852BUO6QYUE7O",
        "01BBYA6PDIXPL8KO1HPIUL9CZN",
    ]


@pytest.mark.parametrize("status", [402, 403, 404])
async def test_related_change_events_missing_feature_returns_empty(pd, respx_mock, status):
    respx_mock.get(f"{BASE}/incidents/PX/related_change_events").mock(
        return_value=httpx.Response(status, json={"error": {"message": "nope", "code": 2100}})
    )
    assert await pd.related_change_events("PX") == []


async def test_related_change_events_server_error_still_raises(pd, respx_mock):
    respx_mock.get(f"{BASE}/incidents/PX/related_change_events").mock(
        return_value=httpx.Response(500)
    )
    with pytest.raises(UpstreamError):
        await pd.related_change_events("PX")


async def test_oncall_users_distinct_level_one_first(pd, respx_mock):
    def oncall(user_id: str, level: int) -> dict:
        return {
            "user": {"id": user_id, "type": "user_reference", "summary": user_id},
            "escalation_policy": {"id": "PT20YPA", "type": "escalation_policy_reference"},
            "escalation_level": level,
        }

    route = respx_mock.get(f"{BASE}/oncalls").mock(
        return_value=httpx.Response(
            200,
            json={
                "oncalls": [oncall("PB", 2), oncall("PA", 1), oncall("PB", 1), oncall("PC", 3)],
                "more": False,
            },
        )
    )
    users = await pd.oncall_users("PT20YPA")
    assert [u["id"] for u in users] == ["PA", "PB", "PC"]
    assert route.calls.last.request.url.params["escalation_policy_ids[]"] == "PT20YPA"


async def test_get_user(pd, respx_mock):
    respx_mock.get(f"{BASE}/users/PXPGF42").mock(
        return_value=httpx.Response(
            200, json={"user": {"id": "PXPGF42", "email": "earline@example.com"}}
        )
    )
    assert (await pd.get_user("PXPGF42"))["email"] == "earline@example.com"


async def test_webhook_subscription_account_wide(pd, respx_mock):
    created = {
        "webhook_subscription": {
            "id": "PY1OL64",
            "delivery_method": {"type": "http_delivery_method", "secret": "whsec"},
        }
    }
    route = respx_mock.post(f"{BASE}/webhook_subscriptions").mock(
        return_value=httpx.Response(200, json=created)
    )
    subs = await pd.create_webhook_subscription(
        "https://bot.example.com/webhooks/pagerduty", service_ids=None, description="ooda-bot"
    )
    assert subs[0]["delivery_method"]["secret"] == "whsec"
    body = json.loads(route.calls.last.request.content)["webhook_subscription"]
    assert body["filter"] == {"type": "account_reference"}
    assert body["delivery_method"] == {
        "type": "http_delivery_method",
        "url": "https://bot.example.com/webhooks/pagerduty",
    }
    assert body["events"] == list(INCIDENT_EVENTS)
    assert "incident.triggered" in body["events"] and "incident.resolved" in body["events"]
    assert all(e.startswith("incident.") for e in body["events"])


async def test_webhook_subscription_one_per_service(pd, respx_mock):
    route = respx_mock.post(f"{BASE}/webhook_subscriptions").mock(
        side_effect=[
            httpx.Response(200, json={"webhook_subscription": {"id": "S1"}}),
            httpx.Response(200, json={"webhook_subscription": {"id": "S2"}}),
        ]
    )
    subs = await pd.create_webhook_subscription(
        "https://bot.example.com/webhooks/pagerduty",
        service_ids=["PIJ90N7", "PF9KMXH"],
        description="ooda-bot",
    )
    assert [s["id"] for s in subs] == ["S1", "S2"]
    filters = [json.loads(c.request.content)["webhook_subscription"]["filter"] for c in route.calls]
    assert filters == [
        {"type": "service_reference", "id": "PIJ90N7"},
        {"type": "service_reference", "id": "PF9KMXH"},
    ]


async def test_token_never_in_upstream_error(respx_mock):
    # A server that echoes the Authorization header back in its error message.
    respx_mock.get(f"{BASE}/incidents/PX").mock(
        return_value=httpx.Response(
            401, json={"error": {"message": f"bad credentials Token token={TOKEN}", "code": 2006}}
        )
    )
    async with PagerDutyClient(TOKEN, backoff=0) as client:
        with pytest.raises(UpstreamError) as info:
            await client.get_incident("PX")
        assert TOKEN not in repr(client)
    assert TOKEN not in str(info.value)
    assert TOKEN not in (info.value.detail or "")
    assert "[redacted]" in str(info.value)
    assert info.value.status == 401


async def test_upstream_error_message_after_5xx(pd, respx_mock):
    respx_mock.get(f"{BASE}/incidents/PX").mock(return_value=httpx.Response(503))
    with pytest.raises(UpstreamError) as info:
        await pd.get_incident("PX")
    assert str(info.value) == "PagerDuty API returned 503 for GET /incidents/PX"
    assert info.value.vendor == "PagerDuty"


def test_related_change_to_change_on_real_sample(load_sample):
    event = load_sample("pagerduty_rest_related_change_events.response.json")["change_events"][0]
    change = related_change_to_change(event, "mail")
    assert change.source == "pagerduty"
    assert change.external_id == "01BBYA6PEVW6A852BUO6QYUE7O"
    assert change.summary == "Build Success - Increase snapshot create timeout to 30 seconds"
    assert change.created_at == datetime(2020, 7, 17, 8, 42, 58, tzinfo=UTC)
    assert change.created_at.utcoffset().total_seconds() == 0
    assert change.url == "https://acme.pagerduty.dev/build/2"
    assert change.data == {"build_state": "passed", "build_number": "2", "run_time": "1236s"}
    assert change.kind is ChangeKind.DEPLOY
    assert change.status is ChangeStatus.SUCCESS
    assert change.service == "mail"


@pytest.mark.parametrize(
    ("summary", "details", "kind", "status"),
    [
        ("Toggle checkout-v2 feature flag", {}, ChangeKind.FLAG, ChangeStatus.UNKNOWN),
        ("Update rate limits", {"config_file": "limits.yaml"}, ChangeKind.CONFIG, None),
        ("Deploy api", {"build_state": "failed"}, ChangeKind.DEPLOY, ChangeStatus.FAILURE),
        ("Deploy api", {"build_state": "success"}, ChangeKind.DEPLOY, ChangeStatus.SUCCESS),
    ],
)
def test_related_change_kind_and_status(summary, details, kind, status):
    event = {
        "id": "E1",
        "summary": summary,
        "timestamp": "2020-07-17T10:42:58+02:00",
        "custom_details": details,
        "links": [],
    }
    change = related_change_to_change(event, None)
    assert change.kind is kind
    assert change.status is (status or ChangeStatus.UNKNOWN)
    assert change.created_at == datetime(2020, 7, 17, 8, 42, 58, tzinfo=UTC)
    assert change.url is None
