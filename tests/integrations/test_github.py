from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime

import httpx
import pytest

from bot.domain.model import ChangeStatus
from integrations.github import (
    GitHubClient,
    deployment_to_change,
    deployment_webhook_to_change,
)
from integrations.http import UpstreamError

API = "https://api.github.com"
REPO = "Codertocat/Hello-World"
TOKEN = "ghp_NOT-A-REAL-TOKEN-123"


@pytest.fixture
async def gh():
    async with GitHubClient(TOKEN, backoff=0) as client:
        yield client


@pytest.fixture
def deployments(load_sample) -> list[dict]:
    """Three REST deployments built from the real webhook deployment object (same schema)."""
    base = load_sample("github_deployment.created.json")["deployment"]
    out = []
    for n, deployment_id in enumerate((145988746, 145988747, 145988748)):
        d = copy.deepcopy(base)
        d["id"] = deployment_id
        d["sha"] = f"{n}" + d["sha"][1:]
        out.append(d)
    return out


@pytest.fixture
def status_sample(load_sample) -> dict:
    return load_sample("github_deployment_status.created.json")["deployment_status"]


async def test_list_deployments_fetches_statuses_concurrently(
    gh, respx_mock, deployments, status_sample
):
    list_route = respx_mock.get(f"{API}/repos/{REPO}/deployments").mock(
        return_value=httpx.Response(200, json=deployments)
    )
    states = {145988746: "success", 145988747: "failure", 145988748: None}
    barrier = asyncio.Barrier(len(deployments))

    async def status_handler(request: httpx.Request) -> httpx.Response:
        # Passes only if every status request is in flight at the same time.
        await asyncio.wait_for(barrier.wait(), timeout=2)
        deployment_id = int(request.url.path.split("/")[-2])
        state = states[deployment_id]
        body = [] if state is None else [{**status_sample, "state": state}]
        return httpx.Response(200, json=body)

    status_route = respx_mock.get(url__regex=rf"{API}/repos/{REPO}/deployments/\d+/statuses").mock(
        side_effect=status_handler
    )

    result = await gh.list_deployments(REPO, environment="production", per_page=3)

    assert [d["latest_status"] for d in result] == ["success", "failure", None]
    assert [d["id"] for d in result] == [145988746, 145988747, 145988748]
    assert status_route.call_count == 3
    assert {c.request.url.params["per_page"] for c in status_route.calls} == {"1"}
    params = list_route.calls.last.request.url.params
    assert (params["environment"], params["per_page"]) == ("production", "3")
    headers = list_route.calls.last.request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


async def test_one_failing_status_degrades_to_none(gh, respx_mock, deployments):
    respx_mock.get(f"{API}/repos/{REPO}/deployments").mock(
        return_value=httpx.Response(200, json=deployments[:2])
    )
    respx_mock.get(f"{API}/repos/{REPO}/deployments/145988746/statuses").mock(
        return_value=httpx.Response(404, json={"message": "Not Found"})
    )
    respx_mock.get(f"{API}/repos/{REPO}/deployments/145988747/statuses").mock(
        return_value=httpx.Response(200, json=[{"state": "in_progress"}])
    )
    result = await gh.list_deployments(REPO)
    assert [d["latest_status"] for d in result] == [None, "in_progress"]


async def test_list_deployments_error_raises(gh, respx_mock):
    respx_mock.get(f"{API}/repos/{REPO}/deployments").mock(
        return_value=httpx.Response(401, json={"message": "Bad credentials"})
    )
    with pytest.raises(UpstreamError) as info:
        await gh.list_deployments(REPO)
    assert info.value.status == 401
    assert TOKEN not in str(info.value)


async def test_no_token_means_no_authorization_header(respx_mock):
    route = respx_mock.get(f"{API}/repos/{REPO}/deployments").mock(
        return_value=httpx.Response(200, json=[])
    )
    async with GitHubClient(None) as client:
        assert await client.list_deployments(REPO) == []
    assert "Authorization" not in route.calls.last.request.headers


async def test_bad_repo_name_is_rejected_before_any_request(gh):
    with pytest.raises(ValueError, match="owner/name"):
        await gh.list_deployments("not-a-repo")


async def test_dispatch_workflow_body_and_path(gh, respx_mock):
    route = respx_mock.post(f"{API}/repos/{REPO}/actions/workflows/rollback.yml/dispatches").mock(
        return_value=httpx.Response(204)
    )
    result = await gh.dispatch_workflow(
        REPO, "rollback.yml", ref="main", inputs={"sha": "f95f852", "reason": "INC-42"}
    )
    assert result is None
    assert json.loads(route.calls.last.request.content) == {
        "ref": "main",
        "inputs": {"sha": "f95f852", "reason": "INC-42"},
    }


async def test_dispatch_workflow_is_not_retried_on_5xx(gh, respx_mock):
    route = respx_mock.post(f"{API}/repos/{REPO}/actions/workflows/rollback.yml/dispatches").mock(
        return_value=httpx.Response(502)
    )
    with pytest.raises(UpstreamError) as info:
        await gh.dispatch_workflow(REPO, "rollback.yml", ref="main")
    assert route.call_count == 1  # a retry could start a second rollback
    assert json.loads(route.calls.last.request.content) == {"ref": "main"}
    assert str(info.value).startswith("GitHub API returned 502 for POST /repos/")


async def test_dispatch_workflow_422_raises_with_github_message(gh, respx_mock):
    respx_mock.post(f"{API}/repos/{REPO}/actions/workflows/rollback.yml/dispatches").mock(
        return_value=httpx.Response(
            422, json={"message": "Workflow does not have 'workflow_dispatch' trigger"}
        )
    )
    with pytest.raises(UpstreamError) as info:
        await gh.dispatch_workflow(REPO, "rollback.yml", ref="main")
    assert "workflow_dispatch" in (info.value.detail or "")


async def test_create_issue(gh, respx_mock):
    route = respx_mock.post(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(201, json={"number": 7, "html_url": "https://x/7"})
    )
    issue = await gh.create_issue(REPO, title="Follow-up", body="Fix it", labels=["incident"])
    assert issue["number"] == 7
    assert json.loads(route.calls.last.request.content) == {
        "title": "Follow-up",
        "body": "Fix it",
        "labels": ["incident"],
    }


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("success", ChangeStatus.SUCCESS),
        ("inactive", ChangeStatus.SUCCESS),
        ("failure", ChangeStatus.FAILURE),
        ("error", ChangeStatus.FAILURE),
        ("in_progress", ChangeStatus.IN_PROGRESS),
        ("queued", ChangeStatus.IN_PROGRESS),
        ("pending", ChangeStatus.PENDING),
        (None, ChangeStatus.UNKNOWN),
        ("something_new", ChangeStatus.UNKNOWN),
    ],
)
def test_status_mapping_table(load_sample, state, expected):
    deployment = load_sample("github_deployment.created.json")["deployment"]
    assert deployment_to_change(deployment, service="web", status=state).status is expected


def test_deployment_to_change_fields(load_sample):
    deployment = load_sample("github_deployment.created.json")["deployment"]
    change = deployment_to_change(deployment, service="web", status="success")
    assert change.source == "github"
    assert change.external_id == "145988746"
    assert change.sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert change.ref == "master"
    assert change.environment == "production"
    assert change.summary == "master@f95f852"  # description is null in the sample
    assert change.author == "Codertocat"
    assert change.repo == REPO
    assert change.url == "https://github.com/Codertocat/Hello-World/deployments"
    assert change.created_at == datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)
    assert change.previous_sha is None
    assert change.service == "web"


def test_deployment_to_change_uses_attached_latest_status_and_description(load_sample):
    deployment = load_sample("github_deployment.created.json")["deployment"]
    deployment = {**deployment, "description": "Deploy v1.2", "latest_status": "failure"}
    change = deployment_to_change(deployment, service=None, repo="other/repo")
    assert change.status is ChangeStatus.FAILURE
    assert change.summary == "Deploy v1.2"
    assert change.repo == "other/repo"


def test_ghes_url_is_derived_from_api_url(load_sample):
    deployment = load_sample("github_deployment.created.json")["deployment"]
    deployment["repository_url"] = "https://ghe.example.com/api/v3/repos/acme/api"
    change = deployment_to_change(deployment, service=None)
    assert change.repo == "acme/api"
    assert change.url == "https://ghe.example.com/acme/api/deployments"


def test_deployment_status_webhook_to_change(load_sample):
    payload = load_sample("github_deployment_status.created.json")
    change = deployment_webhook_to_change("deployment_status", payload, service="web")
    assert change is not None
    assert change.status is ChangeStatus.SUCCESS
    assert change.external_id == "145988746"  # same id as the deployment event: upsert
    assert change.repo == REPO
    assert change.url == "https://github.com/Codertocat/Hello-World/deployments"
    assert change.created_at == datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)


def test_deployment_status_webhook_prefers_log_url(load_sample):
    payload = load_sample("github_deployment_status.created.json")
    payload["deployment_status"]["state"] = "failure"
    payload["deployment_status"]["log_url"] = "https://ci.example.com/run/9"
    change = deployment_webhook_to_change("deployment_status", payload, service=None)
    assert change is not None
    assert change.status is ChangeStatus.FAILURE
    assert change.url == "https://ci.example.com/run/9"


def test_deployment_webhook_to_change(load_sample):
    payload = load_sample("github_deployment.created.json")
    change = deployment_webhook_to_change("deployment", payload, service="web")
    assert change is not None
    assert change.status is ChangeStatus.PENDING
    assert change.external_id == "145988746"
    assert change.author == "Codertocat"


def test_other_webhook_events_are_ignored(load_sample):
    payload = load_sample("github_deployment.created.json")
    assert deployment_webhook_to_change("push", payload, service=None) is None
    assert deployment_webhook_to_change("deployment", {"action": "x"}, service=None) is None
