"""Each playbook action through its real integration client, against respx-mocked vendor APIs.
Slack goes to the loopback FakeSlack (slack_sdk does not use httpx)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from bot.domain.model import IncidentView, Severity, Stage, Status
from bot.fakes import FakeSlack
from bot.service.executor import ActionFailed, run_step
from bot.service.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.storage.db import upgrade
from bot.storage.tables import Incident
from integrations.webhook import SIGNATURE_HEADER, verify

PD = "https://pd.test"
GH = "https://gh.test"
ARGO = "https://argocd.test"
HOOK = "https://hooks.test/failover"
ACTION_SECRET = "action-secret"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-test") as fake:
        yield fake


@pytest.fixture
def channel(slack: FakeSlack) -> str:
    return str(slack.add_channel("inc-7-checkout")["id"])


def make_settings(slack: FakeSlack, tmp_path: Path, **extra: Any) -> Settings:
    values = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": f"{slack.url}/api/",
        "PAGERDUTY_API_TOKEN": "pd-token",
        "PAGERDUTY_FROM_EMAIL": "bot@example.com",
        "PAGERDUTY_API_URL": PD,
        "GITHUB_TOKEN": "gh-token",
        "GITHUB_API_URL": GH,
        "ARGOCD_URL": ARGO,
        "ARGOCD_TOKEN": "argo-token",
        "OODA_ACTION_WEBHOOK_SECRET": ACTION_SECRET,
        "OODA_CONFIG": str(tmp_path / "absent.yaml"),
        "OODA_HTTP_BACKOFF": "0",
    } | extra
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def rt(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = build_runtime(make_settings(slack, tmp_path))
    yield runtime
    await runtime.aclose()


@pytest.fixture
def inc(channel: str) -> IncidentView:
    return IncidentView(
        number=7,
        title="Checkout 5xx <!channel>",
        severity=Severity.SEV2,
        status=Status.ACKNOWLEDGED,
        stage=Stage.ACT,
        opened_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        service="checkout",
        pd_incident_id="PINC001",
        channel_id=channel,
    )


def step(action: str, **with_: Any) -> dict[str, Any]:
    return {"action": action, "with": with_}


# ---- GitHub -----------------------------------------------------------------------------------


@respx.mock
async def test_github_workflow_dispatch_sends_ref_and_inputs(rt, inc):
    route = respx.post(f"{GH}/repos/acme/checkout/actions/workflows/rollback.yml/dispatches").mock(
        return_value=httpx.Response(204)
    )
    detail = await run_step(
        rt,
        inc,
        step(
            "github.workflow_dispatch",
            repo="acme/checkout",
            workflow="rollback.yml",
            ref="main",
            inputs={"sha": "9a8b7c6d", "environment": "production", "attempt": 2},
        ),
        dry_run=False,
    )
    assert route.call_count == 1
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "ref": "main",
        "inputs": {"sha": "9a8b7c6d", "environment": "production", "attempt": "2"},
    }
    assert request.headers["Authorization"].endswith("gh-token")
    assert "dispatched rollback.yml on acme/checkout at main" in detail


@respx.mock
async def test_github_dispatch_failure_says_what_and_what_to_try(rt, inc):
    respx.post(f"{GH}/repos/acme/checkout/actions/workflows/rollback.yml/dispatches").mock(
        return_value=httpx.Response(404, json={"message": "Not Found"})
    )
    with pytest.raises(ActionFailed) as failed:
        await run_step(
            rt,
            inc,
            step(
                "github.workflow_dispatch", repo="acme/checkout", workflow="rollback.yml", ref="m"
            ),
            dry_run=False,
        )
    assert "GitHub API returned 404" in str(failed.value)
    assert "check the names in the playbook" in failed.value.hint


@respx.mock
async def test_github_dispatch_server_error_is_not_retried(rt, inc):
    # A 5xx on a dispatch may still have started the workflow: never send it twice.
    route = respx.post(f"{GH}/repos/acme/checkout/actions/workflows/rollback.yml/dispatches").mock(
        return_value=httpx.Response(502)
    )
    with pytest.raises(ActionFailed) as failed:
        await run_step(
            rt,
            inc,
            step(
                "github.workflow_dispatch", repo="acme/checkout", workflow="rollback.yml", ref="m"
            ),
            dry_run=False,
        )
    assert route.call_count == 1
    assert "GitHub is failing" in failed.value.hint


# ---- Argo CD ----------------------------------------------------------------------------------


def argo_app(*, automated: bool) -> dict[str, Any]:
    policy: dict[str, Any] = {"automated": {"prune": True}} if automated else {}
    return {
        "metadata": {"name": "checkout-prod"},
        "spec": {"syncPolicy": policy},
        "status": {"history": [{"id": 11, "revision": "aaa"}, {"id": 12, "revision": "bbb"}]},
    }


@respx.mock
async def test_argocd_rollback_posts_history_id_as_a_number(rt, inc):
    respx.get(f"{ARGO}/api/v1/applications/checkout-prod").mock(
        return_value=httpx.Response(200, json=argo_app(automated=False))
    )
    rollback = respx.post(f"{ARGO}/api/v1/applications/checkout-prod/rollback").mock(
        return_value=httpx.Response(200, json={})
    )
    detail = await run_step(
        rt, inc, step("argocd.rollback", app="checkout-prod", history_id="11"), dry_run=False
    )
    assert json.loads(rollback.calls.last.request.content) == {"id": 11, "dryRun": False}
    assert rollback.calls.last.request.headers["Authorization"] == "Bearer argo-token"
    assert detail == "Argo CD rolled checkout-prod back to history id 11"


@respx.mock
async def test_argocd_rollback_refused_while_auto_sync_is_on(rt, inc):
    respx.get(f"{ARGO}/api/v1/applications/checkout-prod").mock(
        return_value=httpx.Response(200, json=argo_app(automated=True))
    )
    rollback = respx.post(f"{ARGO}/api/v1/applications/checkout-prod/rollback")
    with pytest.raises(ActionFailed) as failed:
        await run_step(
            rt, inc, step("argocd.rollback", app="checkout-prod", history_id="11"), dry_run=False
        )
    assert not rollback.called
    assert "automated sync enabled" in str(failed.value)
    assert "argocd app set checkout-prod --sync-policy none" in failed.value.hint


@respx.mock
async def test_argocd_rollback_unknown_history_id(rt, inc):
    respx.get(f"{ARGO}/api/v1/applications/checkout-prod").mock(
        return_value=httpx.Response(200, json=argo_app(automated=False))
    )
    with pytest.raises(ActionFailed) as failed:
        await run_step(
            rt, inc, step("argocd.rollback", app="checkout-prod", history_id="99"), dry_run=False
        )
    assert "no history id 99" in str(failed.value)
    assert "argocd app history checkout-prod" in failed.value.hint


async def test_argocd_rollback_history_id_must_be_a_number(rt, inc):
    with pytest.raises(ActionFailed) as failed:
        await run_step(
            rt, inc, step("argocd.rollback", app="checkout-prod", history_id="v1.2"), dry_run=False
        )
    assert "history_id must be a whole number" in str(failed.value)


@respx.mock
async def test_argocd_sync_with_revision(rt, inc):
    sync = respx.post(f"{ARGO}/api/v1/applications/checkout-prod/sync").mock(
        return_value=httpx.Response(200, json={})
    )
    detail = await run_step(
        rt, inc, step("argocd.sync", app="checkout-prod", revision="abc123"), dry_run=False
    )
    assert json.loads(sync.calls.last.request.content) == {"dryRun": False, "revision": "abc123"}
    assert detail == "Argo CD sync of checkout-prod started at abc123"


@respx.mock
async def test_argocd_sync_forbidden_points_at_the_token(rt, inc):
    respx.post(f"{ARGO}/api/v1/applications/checkout-prod/sync").mock(
        return_value=httpx.Response(403, json={"message": "permission denied"})
    )
    with pytest.raises(ActionFailed) as failed:
        await run_step(rt, inc, step("argocd.sync", app="checkout-prod"), dry_run=False)
    assert "403" in str(failed.value) and "permission denied" in str(failed.value)
    assert "check the Argo CD token" in failed.value.hint


# ---- signed webhook ---------------------------------------------------------------------------


@respx.mock
async def test_http_webhook_signs_the_json_body(rt, inc):
    hook = respx.post(HOOK).mock(return_value=httpx.Response(202))
    detail = await run_step(
        rt,
        inc,
        step(
            "http.webhook",
            endpoint="failover",
            url=HOOK,
            body={"service": "checkout", "target": "standby"},
        ),
        dry_run=False,
    )
    request = hook.calls.last.request
    header = request.headers[SIGNATURE_HEADER]
    assert verify(ACTION_SECRET, header, request.content, now=int(time.time()))
    assert not verify("another-secret", header, request.content, now=int(time.time()))
    assert json.loads(request.content) == {
        "incident": "INC-7",
        "service": "checkout",
        "target": "standby",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert detail == f"POST {HOOK} answered 202"


@respx.mock
async def test_http_webhook_rejected_by_the_receiver(rt, inc):
    respx.post(HOOK).mock(return_value=httpx.Response(401))
    with pytest.raises(ActionFailed) as failed:
        await run_step(rt, inc, step("http.webhook", url=HOOK, body={}), dry_run=False)
    assert "returned 401" in str(failed.value)
    assert "token and its permissions" in failed.value.hint


async def test_http_webhook_refuses_to_send_unsigned(slack, tmp_path, inc):
    runtime = build_runtime(make_settings(slack, tmp_path, OODA_ACTION_WEBHOOK_SECRET=""))
    try:
        # Under respx.mock any request would fail as "not mocked": nothing may be sent.
        with respx.mock, pytest.raises(ActionFailed) as failed:
            await run_step(runtime, inc, step("http.webhook", url=HOOK, body={}), dry_run=False)
    finally:
        await runtime.aclose()
    assert "OODA_ACTION_WEBHOOK_SECRET is not set" in str(failed.value)
    assert "set OODA_ACTION_WEBHOOK_SECRET" in failed.value.hint


# ---- PagerDuty --------------------------------------------------------------------------------


@respx.mock
async def test_pagerduty_note_sends_the_from_header(rt, inc):
    note = respx.post(f"{PD}/incidents/PINC001/notes").mock(
        return_value=httpx.Response(201, json={"note": {"id": "N1", "content": "x"}})
    )
    detail = await run_step(
        rt, inc, step("pagerduty.note", content="Failover started for INC-7"), dry_run=False
    )
    request = note.calls.last.request
    assert request.headers["From"] == "bot@example.com"
    assert request.headers["Authorization"] == "Token token=pd-token"
    assert json.loads(request.content) == {"note": {"content": "Failover started for INC-7"}}
    assert detail == "note added to the PagerDuty incident"


async def test_pagerduty_note_without_from_email_is_a_clear_failure(slack, tmp_path, inc):
    runtime = build_runtime(make_settings(slack, tmp_path, PAGERDUTY_FROM_EMAIL=""))
    try:
        with pytest.raises(ActionFailed) as failed:
            await run_step(runtime, inc, step("pagerduty.note", content="x"), dry_run=False)
    finally:
        await runtime.aclose()
    assert "PAGERDUTY_FROM_EMAIL is not set" in str(failed.value)
    assert "set PAGERDUTY_FROM_EMAIL" in failed.value.hint


@respx.mock
async def test_pagerduty_escalate_sets_the_level(rt, inc):
    put = respx.put(f"{PD}/incidents/PINC001").mock(
        return_value=httpx.Response(200, json={"incident": {"id": "PINC001"}})
    )
    detail = await run_step(rt, inc, step("pagerduty.escalate", level="2"), dry_run=False)
    request = put.calls.last.request
    assert request.headers["From"] == "bot@example.com"
    assert json.loads(request.content) == {
        "incident": {"type": "incident_reference", "escalation_level": 2}
    }
    assert detail == "escalated to level 2"


async def test_pagerduty_escalate_needs_a_pagerduty_incident(rt, inc):
    inc.pd_incident_id = None
    with pytest.raises(ActionFailed) as failed:
        await run_step(rt, inc, step("pagerduty.escalate", level=2), dry_run=False)
    assert str(failed.value) == "INC-7 has no PagerDuty incident"
    assert failed.value.hint == "page the team by hand"


# ---- Slack ------------------------------------------------------------------------------------


async def test_slack_message_goes_to_the_incident_channel_escaped(rt, inc, slack, channel):
    # Said in the incident channel through the outbox: the incident must exist in the database.
    await asyncio.to_thread(upgrade, rt.settings.database_url)
    async with rt.db.transaction() as session:
        session.add(Incident(id=inc.number, title=inc.title, channel_id=channel))
    detail = await run_step(
        rt, inc, step("slack.message", text=f"Rolling back for {inc.title}"), dry_run=False
    )
    assert detail == "message queued in the incident channel"
    await rt.sender.drain()
    [message] = slack.messages(channel)
    assert message["text"] == "Rolling back for Checkout 5xx &lt;!channel&gt;"


async def test_slack_message_to_a_missing_channel_fails_with_a_hint(rt, inc):
    with pytest.raises(ActionFailed) as failed:
        await run_step(rt, inc, step("slack.message", text="hi", channel="C0NOPE"), dry_run=False)
    assert "Slack refused the message to C0NOPE: channel_not_found" in str(failed.value)
    assert "invite the bot" in failed.value.hint


# ---- dry run and unknown actions --------------------------------------------------------------


@respx.mock
async def test_dry_run_says_what_would_run_and_sends_nothing(rt, inc, slack, channel):
    route = respx.post(url__regex=r".*").mock(return_value=httpx.Response(204))
    detail = await run_step(
        rt,
        inc,
        step("github.workflow_dispatch", repo="acme/checkout", workflow="rollback.yml", ref="main"),
        dry_run=True,
    )
    assert detail == (
        "would run github.workflow_dispatch(repo=acme/checkout, workflow=rollback.yml, ref=main)"
    )
    assert not route.called
    assert slack.messages(channel) == []


async def test_unknown_action_is_refused(rt, inc):
    with pytest.raises(ActionFailed) as failed:
        await run_step(rt, inc, step("kubectl.delete", pod="x"), dry_run=False)
    assert str(failed.value) == "unknown action kubectl.delete"
