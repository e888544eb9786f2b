"""Odd input to the webhook routes, one case each (the ones fuzzing turned up): a 400 with a
reason (or a 2xx for an unknown event), never a 500, and nothing odd reaches storage."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.catalog import OodaConfig
from bot.devstack import PD_SECRET, DevStack
from bot.domain.json_values import BodyError, decode
from bot.domain.model import Change, ChangeKind, ChangeStatus
from bot.fakes.github_api import sign_webhook as github_sign
from bot.fakes.pagerduty_webhooks import sign_webhook as pagerduty_sign
from bot.service import pagerduty_payload as pdp
from bot.storage import repo
from bot.storage.db import Database, upgrade
from bot.storage.tables import ChangeRow, InboundEvent
from integrations._common import parse_timestamp
from integrations.webhook import sign, verify
from tests.helpers.samples import vendor_sample

GH_SECRET, CH_SECRET = "gh-secret", "ch-secret"
CONFIG: dict[str, Any] = {
    "services": [{"name": "hello", "github_repo": "Codertocat/Hello-World"}],
}
DEEP = b'{"event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"GITHUB_WEBHOOK_SECRET": GH_SECRET, "OODA_CHANGES_SECRET": CH_SECRET}


async def _post(stack: DevStack, route: str, raw: bytes, **headers: str) -> httpx.Response:
    signed = {
        "pagerduty": {"X-PagerDuty-Signature": pagerduty_sign(raw, [PD_SECRET])},
        "github": {
            "X-Hub-Signature-256": github_sign(GH_SECRET, raw),
            "X-GitHub-Event": "deployment",
            "X-GitHub-Delivery": f"d-{time.monotonic_ns()}",
        },
        "changes": {"X-Ooda-Signature": sign(CH_SECRET, raw, int(time.time()))},
    }[route]
    assert stack.http is not None
    return await stack.http.post(
        f"/webhooks/{route}", content=raw, headers={"X-Webhook-Id": "w1"} | signed | headers
    )


async def _inbound(stack: DevStack) -> int:
    async with stack.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundEvent)) or 0)


@pytest.mark.parametrize("route", ["pagerduty", "github", "changes"])
async def test_deep_nesting_and_odd_json_are_400_with_a_reason(stack: DevStack, route: str) -> None:
    for raw, reason in [
        (DEEP, "nested deeper than 64 levels"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": "\\u0000"}', "a holds a NUL character"),
        (b'{"a": 1e999}', "a is a number too large to represent"),
        (b'{"a": "\xff"}', "body is not UTF-8"),
        (b'{"a": [1, 18446744073709551616]}', "a[1] is an integer outside the 64-bit range"),
    ]:
        response = await _post(stack, route, raw)
        assert response.status_code == 400, (raw[:30], response.text)
        assert reason in response.json()["error"]
    assert await _inbound(stack) == 0


@pytest.mark.parametrize("route", ["pagerduty", "github", "changes"])
async def test_oversize_body_is_413_and_stores_nothing(stack: DevStack, route: str) -> None:
    raw = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await _post(stack, route, raw)
    assert response.status_code == 413 and response.json()["error"] == "body larger than 2 MB"
    assert await _inbound(stack) == 0


def test_decode_replaces_lone_surrogates_and_keeps_pairs() -> None:
    value = decode(b'{"a\\ud800": ["x\\udfffy", "\\ud83d\\ude00"]}')
    assert value == {"a\ufffd": ["x\ufffdy", "\U0001f600"]}
    with pytest.raises(BodyError):
        decode(b"[" * 5000 + b"]" * 5000)


async def test_unknown_pagerduty_event_type_is_ignored_with_a_safe_echo(stack: DevStack) -> None:
    raw = b'{"event": {"event_type": "incident.\\ud800odd\\nline", "data": {}}}'
    response = await _post(stack, "pagerduty", raw)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "ignored": "incident.\ufffdodd?line"}
    assert await _inbound(stack) == 0


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("data", "assignees"), [{"summary": "A"}, "PUSER"], "assignees must be a list of objects"),
        (("data", "assignees"), {"id": "P1"}, "event.data.assignees must be a list"),
        (("occurred_at",), "9999-12-31T23:59:59-23:59", "event.occurred_at is not a valid"),
        (("occurred_at",), 1601664322, "event.occurred_at must be a string"),
        (("data", "number"), 10**15, "event.data.number must be a non-negative 32-bit"),
        (("data", "id"), "PGR\nFORGED", "event.data.id holds control characters"),
        (("data", "title"), ["a", "list"], "event.data.title must be a string"),
        (("agent",), "Tenex Engineer", "event.agent must be an object"),
    ],
)
async def test_pagerduty_fields_the_jobs_read_are_checked_first(
    stack: DevStack, path: tuple[str, ...], value: Any, reason: str
) -> None:
    body = vendor_sample("pagerduty_v3_incident.priority_updated.json")
    node = body["event"]
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    response = await _post(stack, "pagerduty", json.dumps(body).encode())
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert await _inbound(stack) == 0


async def test_github_non_string_environment_is_400(stack: DevStack) -> None:
    body = vendor_sample("github_deployment.created.json")
    body["deployment"]["environment"] = ["production"]
    response = await _post(stack, "github", json.dumps(body).encode())
    assert response.status_code == 400
    assert response.json()["error"] == "deployment.environment must be a string"
    body["deployment"]["environment"] = "production"
    body["deployment"]["sha"] = {"x": 1}
    response = await _post(stack, "github", json.dumps(body).encode())
    assert response.status_code == 400 and "deployment.sha" in response.json()["error"]


async def test_changes_non_ascii_signature_is_403_not_500(stack: DevStack) -> None:
    raw = json.dumps({"payload": {"summary": "Deploy"}}).encode()
    header = f"t={int(time.time())},v1=éé".encode()
    assert stack.http is not None
    response = await stack.http.post(
        "/webhooks/changes", content=raw, headers={"X-Ooda-Signature": header}
    )
    assert response.status_code == 403
    assert not verify("s", f"t={int(time.time())},v1=\u00e9", raw, now=int(time.time()))
    assert not verify("s", "t=\u00b2,v1=00", raw, now=2)


@pytest.mark.parametrize(
    "value",
    [
        None,
        5,
        ["2020-01-01"],
        "",
        "not a date",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+01:00",
        "2020-02-30T00:00:00Z",
        "\ud800",
        "2020-01-01T00:00:00Z" * 10,
    ],
)
def test_parse_timestamp_raises_only_a_clear_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^when (must be|is not a valid)"):
        parse_timestamp(value, field="when")


def test_catalog_lookups_are_total() -> None:
    config = OodaConfig.model_validate(CONFIG)
    assert config.service_for_repo("codertocat/hello-world", "production") is not None
    assert config.service_for_repo("codertocat/hello-world", ["production"]) is None  # type: ignore[arg-type]
    assert config.service_for_repo(["codertocat/hello-world"], None) is None  # type: ignore[arg-type]
    assert config.service_for_source(["hello"], 7, "hello") is not None  # type: ignore[arg-type]


def test_pagerduty_readers_never_raise_on_odd_types() -> None:
    odd: list[Any] = [None, "x", 7, [], {"a": 1}, {"summary": ["x"]}, True]
    for value in odd:
        event = {
            "event_type": "incident.reassigned",
            "agent": value,
            "occurred_at": value,
            "id": value,
            "data": value,
        }
        assert pdp.agent(event) == "PagerDuty"
        assert pdp.occurred_at(event) is None
        assert pdp.source_key(event).startswith("pd:")
        assert pdp.pd_incident_id(event) is None
        data = {"assignees": value, "priority": value, "number": value, "created_at": value}
        assert pdp.assignees(data) == []
        assert pdp.priority_name(data) is None
        assert pdp.number(data) in (None, 7)
        assert pdp.created_at(data) is None
    data = {"assignees": [{"summary": "Ann"}, "P2", {"summary": 3}], "number": 10**20}
    assert pdp.assignee_names(data) == ["Ann"] and pdp.number(data) is None
    assert pdp.occurred_at({"occurred_at": "2020-10-02T18:45:22.169Z"}) == datetime(
        2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC
    )


def _change(**fields: Any) -> Change:
    base: dict[str, Any] = dict(
        source="webhook",
        external_id="c1",
        summary="Deploy",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        service=None,
        kind=ChangeKind.DEPLOY,
        status=ChangeStatus.SUCCESS,
    )
    return Change(**(base | fields))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sha": ["abc"]}, "sha must be a string, not list"),
        ({"summary": "bad \ud800"}, "summary holds a lone UTF-16 surrogate"),
        ({"environment": 5}, "environment must be a string, not int"),
        ({"size": 2**40}, "size is outside the 32-bit range"),
        ({"ref": "main\x00"}, "ref holds a NUL character"),
        ({"data": {"k": float("nan")}}, "data is not JSON"),
    ],
)
async def test_upsert_change_refuses_what_no_database_keeps(
    database_url: str, fields: dict[str, Any], reason: str
) -> None:
    upgrade(database_url)
    db = Database(database_url)
    try:
        with pytest.raises(ValueError, match=reason):
            async with db.transaction() as session:
                await repo.upsert_change(session, _change(**fields))
        async with db.transaction() as session:
            await repo.upsert_change(session, _change())  # the same change, well formed
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(ChangeRow)) == 1
    finally:
        await db.dispose()
