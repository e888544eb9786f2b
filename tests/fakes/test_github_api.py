from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.fakes import FakeGitHub, FakePagerDuty
from bot.fakes.github_api import sign_webhook
from tests.helpers.samples import vendor_sample

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer ghs_test", "Accept": "application/vnd.github+json"}
REPO = "acme/checkout"


async def test_deployments_newest_first_filtered_by_environment(github: FakeGitHub) -> None:
    old = github.add_deployment(REPO, sha="aaa111", created_at=T0 - timedelta(hours=2))
    new = github.add_deployment(
        REPO, sha="bbb222", created_at=T0, state="failure", description="canary"
    )
    github.add_deployment(REPO, sha="ccc333", environment="staging", created_at=T0)
    async with httpx.AsyncClient(base_url=github.url, headers=AUTH) as http:
        prod = (await http.get(f"/repos/{REPO}/deployments?environment=production")).json()
        one = (await http.get(f"/repos/{REPO}/deployments", params={"per_page": 1})).json()
        statuses = (await http.get(f"/repos/{REPO}/deployments/{new['id']}/statuses")).json()
        missing = await http.get(f"/repos/{REPO}/deployments/999999/statuses")
    assert [d["sha"] for d in prod] == ["bbb222", "aaa111"]
    assert len(one) == 1
    assert prod[0]["id"] == new["id"] and prod[1]["id"] == old["id"]
    assert prod[0]["created_at"] == "2024-05-01T12:00:00Z"
    assert prod[0]["creator"]["login"] == "octocat"
    assert prod[0]["statuses_url"].endswith(f"/repos/{REPO}/deployments/{new['id']}/statuses")
    assert [s["state"] for s in statuses] == ["failure"]
    assert statuses[0]["created_at"] == "2024-05-01T12:01:00Z"
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"

    sample = vendor_sample("github_deployment.created.json")["deployment"]
    assert set(sample) <= set(prod[0])
    status_sample = vendor_sample("github_deployment_status.created.json")["deployment_status"]
    assert set(status_sample) <= set(statuses[0])


async def test_statuses_are_newest_first(github: FakeGitHub) -> None:
    dep = github.add_deployment(REPO, sha="a1", created_at=T0, state="in_progress")
    github.add_deployment_status(
        REPO, dep["id"], state="success", created_at=T0 + timedelta(hours=1)
    )
    async with httpx.AsyncClient(base_url=github.url, headers=AUTH) as http:
        statuses = (await http.get(f"/repos/{REPO}/deployments/{dep['id']}/statuses")).json()
    assert [s["state"] for s in statuses] == ["success", "in_progress"]


async def test_workflow_dispatch_records_and_runs_the_hook(
    github: FakeGitHub, pagerduty: FakePagerDuty
) -> None:
    pagerduty.add_incident(
        "PABC123", number=1, title="5xx", service_id="PSVC1", service_name="checkout"
    )
    pagerduty.add_alert("PABC123", summary="5xx rate high")

    def fix_production(dispatch: dict) -> None:
        if dispatch["workflow"] == "rollback.yml":
            pagerduty.resolve_alerts("PABC123")

    github.on_dispatch = fix_production
    url = f"/repos/{REPO}/actions/workflows/rollback.yml/dispatches"
    async with httpx.AsyncClient(base_url=github.url, headers=AUTH) as http:
        ok = await http.post(url, json={"ref": "main", "inputs": {"sha": "aaa111"}})
        no_ref = await http.post(url, json={"inputs": {}})
        unknown = await http.post(
            f"/repos/{REPO}/actions/workflows/nope.yml/dispatches", json={"ref": "main"}
        )
    assert ok.status_code == 204 and ok.content == b""
    assert no_ref.status_code == 422 and "ref" in no_ref.json()["message"]
    assert unknown.status_code == 404
    [dispatch] = github.dispatches
    assert {k: dispatch[k] for k in ("repo", "workflow", "ref", "inputs")} == {
        "repo": REPO,
        "workflow": "rollback.yml",
        "ref": "main",
        "inputs": {"sha": "aaa111"},
    }
    assert pagerduty.incident("PABC123")["status"] == "resolved"


async def test_issues_and_auth(github: FakeGitHub) -> None:
    async with httpx.AsyncClient(base_url=github.url, headers=AUTH) as http:
        first = await http.post(f"/repos/{REPO}/issues", json={"title": "Follow-up: alerts"})
        second = await http.post(
            f"/repos/{REPO}/issues", json={"title": "Follow-up 2", "labels": ["incident"]}
        )
        invalid = await http.post(f"/repos/{REPO}/issues", json={"body": "no title"})
    assert first.status_code == 201 and first.json()["number"] == 1
    assert second.json()["number"] == 2
    assert second.json()["html_url"] == f"https://github.com/{REPO}/issues/2"
    assert second.json()["labels"] == [{"name": "incident"}]
    assert invalid.status_code == 422
    assert [i["title"] for i in github.issues] == ["Follow-up: alerts", "Follow-up 2"]

    async with httpx.AsyncClient(base_url=github.url) as http:
        anonymous = await http.get(f"/repos/{REPO}/deployments")
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Requires authentication"


async def test_fail_next(github: FakeGitHub) -> None:
    github.fail_next(f"/repos/{REPO}/deployments", status=502, times=2)
    async with httpx.AsyncClient(base_url=github.url, headers=AUTH) as http:
        codes = [(await http.get(f"/repos/{REPO}/deployments")).status_code for _ in range(3)]
    assert codes == [502, 502, 200]
    assert [c.status for c in github.calls] == codes


def test_sign_webhook_matches_githubs_documented_vector() -> None:
    # github/docs "validating-webhook-deliveries" example.
    assert sign_webhook("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_sign_webhook_matches_vendor_sample_vectors() -> None:
    vectors = vendor_sample("github_webhook_signature_vectors.json")["vectors"]
    assert len(vectors) >= 2
    for vector in vectors:
        signature = FakeGitHub.sign_webhook(vector["secret"], vector["payload"].encode())
        assert signature == vector["X-Hub-Signature-256"], vector["source"]


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
async def test_both_github_auth_schemes_are_accepted(github: FakeGitHub, scheme: str) -> None:
    async with httpx.AsyncClient(base_url=github.url) as http:
        response = await http.get(
            f"/repos/{REPO}/deployments", headers={"Authorization": f"{scheme} ghs_x"}
        )
    assert response.status_code == 200 and response.json() == []
