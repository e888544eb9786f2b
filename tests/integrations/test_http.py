from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from integrations.http import UpstreamError, send

BASE = "https://api.pagerduty.com"
URL = f"{BASE}/incidents/PX"


@pytest.fixture
async def client():
    async with httpx.AsyncClient(base_url=BASE) as c:
        yield c


async def test_429_waits_for_ratelimit_reset_then_succeeds(client, respx_mock, sleeps):
    route = respx_mock.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"ratelimit-reset": "1"}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    response = await send(client, "GET", "/incidents/PX", vendor="PagerDuty", backoff=0.5)
    assert response.json() == {"ok": True}
    assert route.call_count == 2
    # The header (1 s) wins over the exponential backoff (0.5 s).
    assert sleeps == [1.0]


async def test_429_uses_retry_after_seconds_and_http_date(client, respx_mock, sleeps):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    respx_mock.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(429, headers={"Retry-After": later}),
            httpx.Response(200, json={}),
        ]
    )
    await send(client, "GET", "/incidents/PX", vendor="GitHub", backoff=0)
    assert sleeps[0] == 2.0
    assert 15 < sleeps[1] <= 20


async def test_429_wait_is_capped_by_max_wait(client, respx_mock, sleeps):
    respx_mock.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"ratelimit-reset": "120"}),
            httpx.Response(200, json={}),
        ]
    )
    await send(client, "GET", "/incidents/PX", vendor="PagerDuty", max_wait=30.0)
    assert sleeps == [30.0]


async def test_429_without_headers_falls_back_to_backoff(client, respx_mock, sleeps):
    respx_mock.get(URL).mock(side_effect=[httpx.Response(429), httpx.Response(200, json={})])
    await send(client, "GET", "/incidents/PX", vendor="PagerDuty", backoff=0.25)
    assert sleeps == [0.25]


async def test_429_gives_up_after_max_retries(client, respx_mock, sleeps):
    route = respx_mock.get(URL).mock(
        return_value=httpx.Response(
            429,
            headers={"ratelimit-reset": "0"},
            json={"error": {"message": "Rate Limit Exceeded", "code": 2020}},
        )
    )
    with pytest.raises(UpstreamError) as info:
        await send(client, "GET", "/incidents/PX", vendor="PagerDuty", max_retries=2)
    assert route.call_count == 3
    assert info.value.status == 429
    assert info.value.code == 2020
    assert sleeps == [0.0, 0.0]


async def test_5xx_retries_with_exponential_backoff_then_succeeds(client, respx_mock, sleeps):
    route = respx_mock.get(URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json={})]
    )
    response = await send(client, "GET", "/incidents/PX", vendor="PagerDuty", backoff=0.5)
    assert response.status_code == 200
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


async def test_5xx_exhausted_raises_with_clean_message(client, respx_mock):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(503))
    with pytest.raises(UpstreamError) as info:
        await send(client, "GET", "/incidents/PX?limit=5", vendor="PagerDuty", backoff=0)
    assert route.call_count == 4
    err = info.value
    assert str(err) == "PagerDuty API returned 503 for GET /incidents/PX"
    assert (err.vendor, err.status, err.code) == ("PagerDuty", 503, None)


async def test_timeout_raises_upstream_error_after_retries(client, respx_mock):
    route = respx_mock.get(URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(UpstreamError) as info:
        await send(client, "GET", "/incidents/PX", vendor="PagerDuty", backoff=0)
    assert route.call_count == 4
    assert info.value.status is None
    assert "timed out" in str(info.value)
    assert "/incidents/PX" in str(info.value)


async def test_transport_error_then_success(client, respx_mock):
    route = respx_mock.get(URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"a": 1})]
    )
    response = await send(client, "GET", "/incidents/PX", vendor="PagerDuty", backoff=0)
    assert response.json() == {"a": 1}
    assert route.call_count == 2


async def test_post_is_not_retried_when_it_may_have_been_processed(client, respx_mock):
    route = respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamError):
        await send(client, "POST", "/incidents/PX", vendor="GitHub", backoff=0)
    assert route.call_count == 1

    route_5xx = respx_mock.post(f"{BASE}/other").mock(return_value=httpx.Response(500))
    with pytest.raises(UpstreamError):
        await send(client, "POST", "/other", vendor="GitHub", backoff=0)
    assert route_5xx.call_count == 1


async def test_post_is_retried_when_never_sent_or_rate_limited(client, respx_mock, sleeps):
    route = respx_mock.post(URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"ratelimit-reset": "1"}),
            httpx.Response(201, json={}),
        ]
    )
    response = await send(client, "POST", "/incidents/PX", vendor="GitHub", backoff=0)
    assert response.status_code == 201
    assert route.call_count == 3
    assert sleeps == [0, 1.0]


async def test_4xx_raises_immediately_with_vendor_code_and_detail(client, respx_mock):
    route = respx_mock.get(URL).mock(
        return_value=httpx.Response(
            400,
            json={"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["x"]}},
        )
    )
    with pytest.raises(UpstreamError) as info:
        await send(client, "GET", "/incidents/PX", vendor="PagerDuty")
    assert route.call_count == 1
    assert info.value.code == 2001
    assert info.value.detail == "Invalid Input Provided: x"
    assert str(info.value).startswith("PagerDuty API returned 400 for GET /incidents/PX")


async def test_github_style_error_message_is_kept(client, respx_mock):
    respx_mock.get(URL).mock(
        return_value=httpx.Response(
            404, json={"message": "Not Found", "documentation_url": "https://docs.github.com"}
        )
    )
    with pytest.raises(UpstreamError) as info:
        await send(client, "GET", "/incidents/PX", vendor="GitHub")
    assert info.value.detail == "Not Found"
    assert info.value.code is None


async def test_error_never_contains_request_headers(respx_mock):
    token = "tok-SHOULD-NOT-LEAK"
    respx_mock.get(URL).mock(return_value=httpx.Response(401, text="denied"))
    async with httpx.AsyncClient(headers={"Authorization": f"Token token={token}"}) as c:
        with pytest.raises(UpstreamError) as info:
            await send(c, "GET", URL, vendor="PagerDuty")
    assert token not in str(info.value)
    assert token not in repr(info.value.args)


@respx.mock
async def test_absolute_url_without_base():
    respx.get("https://hooks.example.com/x").mock(return_value=httpx.Response(204))
    async with httpx.AsyncClient() as c:
        response = await send(c, "GET", "https://hooks.example.com/x", vendor="Webhook")
    assert response.status_code == 204
