from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from bot.domain.model import ChangeStatus
from integrations.argocd import ArgoCDClient, AutoSyncEnabled, application_changes
from integrations.http import UpstreamError

BASE = "https://argocd.example.com"
APP_URL = f"{BASE}/api/v1/applications/checkout"
TOKEN = "argocd-jwt-NOT-REAL"
REV14 = "a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
REV15 = "b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f"
REV16 = "c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f50"


@pytest.fixture
def app(load_fixture) -> dict:
    return load_fixture("argocd_application.json")


@pytest.fixture
async def argo():
    async with ArgoCDClient(BASE, TOKEN, backoff=0) as client:
        yield client


async def test_get_application_uses_bearer_token(argo, respx_mock, app):
    route = respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    result = await argo.get_application("checkout")
    assert result["metadata"]["name"] == "checkout"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_history_changes_mapping(argo, respx_mock, app):
    respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    changes = await argo.history_changes("checkout", service="checkout")

    assert [c.external_id for c in changes] == ["checkout:14", "checkout:15", "checkout:16"]
    assert [c.status for c in changes] == [ChangeStatus.SUCCESS] * 3
    latest = changes[-1]
    assert latest.source == "argocd"
    assert latest.sha == REV16
    assert latest.previous_sha == REV15
    assert latest.ref == "main"
    assert latest.repo == "acme/checkout-deploy"  # same shape as the catalog's github_repo
    assert latest.created_at == datetime(2024, 3, 5, 7, 33, 4, tzinfo=UTC)
    assert latest.author == "bob@example.com"
    assert latest.service == "checkout"
    assert latest.url == f"{BASE}/applications/checkout"
    assert latest.data["history_id"] == 16
    assert latest.data["previous_history_id"] == 15
    assert latest.summary == "Argo CD synced checkout to c3d4e5f (main)"
    assert changes[0].previous_sha is None
    assert changes[0].author == "automated"


def test_history_uses_deploy_started_at_when_deployed_at_missing(app):
    del app["status"]["history"][0]["deployedAt"]
    changes = application_changes(app, service=None)
    assert changes[0].created_at == datetime(2024, 3, 4, 22, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Succeeded", ChangeStatus.SUCCESS),
        ("Failed", ChangeStatus.FAILURE),
        ("Error", ChangeStatus.FAILURE),
        ("Running", ChangeStatus.IN_PROGRESS),
    ],
)
def test_latest_status_from_operation_phase(app, phase, expected):
    app["status"]["operationState"]["phase"] = phase
    changes = application_changes(app, service=None)
    assert changes[-1].status is expected
    assert [c.status for c in changes[:-1]] == [ChangeStatus.SUCCESS] * 2
    assert len(changes) == 3  # same revision as history: no extra change


def test_degraded_health_marks_current_revision_failed(app):
    app["status"]["health"] = {"status": "Degraded", "message": "CrashLoopBackOff"}
    changes = application_changes(app, service=None)
    assert changes[-1].status is ChangeStatus.FAILURE
    assert changes[-2].status is ChangeStatus.SUCCESS


def test_failed_sync_to_new_revision_is_its_own_change(app):
    op = app["status"]["operationState"]
    op["phase"] = "Failed"
    op["message"] = "one or more objects failed to apply"
    op["startedAt"] = "2024-03-05T08:00:00Z"
    op["operation"]["sync"]["revision"] = "d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061"
    op["syncResult"]["revision"] = "d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061"

    changes = application_changes(app, service="checkout")

    assert len(changes) == 4
    assert changes[2].status is ChangeStatus.SUCCESS  # rev 16 is still what runs
    failed = changes[3]
    assert failed.status is ChangeStatus.FAILURE
    assert failed.external_id == "checkout:op:2024-03-05T08:00:00Z"
    assert failed.sha.startswith("d4e5f60")
    assert failed.previous_sha == REV16
    assert failed.data["previous_history_id"] == 16
    assert failed.created_at == datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
    assert failed.repo == "acme/checkout-deploy"


async def test_rollback_refused_when_auto_sync_enabled(argo, respx_mock, app):
    app["spec"]["syncPolicy"]["automated"] = {"prune": True, "selfHeal": True}
    respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    rollback = respx_mock.post(f"{APP_URL}/rollback")
    with pytest.raises(AutoSyncEnabled, match=r"[Dd]isable auto-sync"):
        await argo.rollback("checkout", 15)
    assert rollback.call_count == 0


async def test_rollback_allowed_when_automated_explicitly_disabled(argo, respx_mock, app):
    app["spec"]["syncPolicy"]["automated"] = {"enabled": False}
    respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    rollback = respx_mock.post(f"{APP_URL}/rollback").mock(
        return_value=httpx.Response(200, json=app)
    )
    await argo.rollback("checkout", 15)
    assert rollback.call_count == 1


@pytest.mark.parametrize("dry_run", [False, True])
async def test_rollback_body(argo, respx_mock, app, dry_run):
    respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    rollback = respx_mock.post(f"{APP_URL}/rollback").mock(
        return_value=httpx.Response(200, json=app)
    )
    result = await argo.rollback("checkout", 15, dry_run=dry_run)
    assert result["metadata"]["name"] == "checkout"
    assert json.loads(rollback.calls.last.request.content) == {"id": 15, "dryRun": dry_run}


async def test_rollback_unknown_history_id(argo, respx_mock, app):
    respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    rollback = respx_mock.post(f"{APP_URL}/rollback")
    with pytest.raises(ValueError, match="no history id 99"):
        await argo.rollback("checkout", 99)
    assert rollback.call_count == 0


async def test_rollback_server_error_is_not_retried(argo, respx_mock, app):
    respx_mock.get(APP_URL).mock(return_value=httpx.Response(200, json=app))
    rollback = respx_mock.post(f"{APP_URL}/rollback").mock(
        return_value=httpx.Response(
            500, json={"error": "rpc error", "code": 13, "message": "internal"}
        )
    )
    with pytest.raises(UpstreamError) as info:
        await argo.rollback("checkout", 15)
    assert rollback.call_count == 1
    assert info.value.code == 13
    assert info.value.vendor == "Argo CD"
    assert TOKEN not in str(info.value)


async def test_sync_body(argo, respx_mock, app):
    route = respx_mock.post(f"{APP_URL}/sync").mock(return_value=httpx.Response(200, json=app))
    await argo.sync("checkout", revision=REV14, dry_run=True)
    assert json.loads(route.calls.last.request.content) == {"dryRun": True, "revision": REV14}
    await argo.sync("checkout")
    assert json.loads(route.calls.last.request.content) == {"dryRun": False}
