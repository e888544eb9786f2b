from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from bot.fakes import FakeArgoCD

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer argocd-token"}
REPO_URL = "https://github.com/acme/checkout-deploy.git"


def seed(argocd: FakeArgoCD, *, auto_sync: bool) -> None:
    argocd.add_application("checkout", repo_url=REPO_URL, auto_sync=auto_sync)
    assert (
        argocd.add_history("checkout", revision="aaa111", deployed_at=T0 - timedelta(days=1)) == 0
    )
    assert argocd.add_history("checkout", revision="bbb222", deployed_at=T0, health="Degraded") == 1


async def test_application_shape(argocd: FakeArgoCD) -> None:
    seed(argocd, auto_sync=True)
    async with httpx.AsyncClient(base_url=argocd.url, headers=AUTH) as http:
        app = (await http.get("/api/v1/applications/checkout")).json()
        missing = await http.get("/api/v1/applications/nope")
    assert app["metadata"]["name"] == "checkout"
    assert app["spec"]["source"]["repoURL"] == REPO_URL
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    history = app["status"]["history"]
    assert [(h["id"], h["revision"]) for h in history] == [(0, "aaa111"), (1, "bbb222")]
    assert history[1]["deployedAt"] == "2024-05-01T12:00:00Z"
    assert history[1]["deployStartedAt"] == "2024-05-01T12:00:00Z"
    assert history[1]["source"]["repoURL"] == REPO_URL
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    assert app["status"]["health"]["status"] == "Degraded"
    assert app["status"]["sync"]["revision"] == "bbb222"
    assert missing.status_code == 404 and missing.json()["code"] == 5


async def test_rollback_is_refused_while_auto_sync_is_enabled(argocd: FakeArgoCD) -> None:
    seed(argocd, auto_sync=True)
    async with httpx.AsyncClient(base_url=argocd.url, headers=AUTH) as http:
        refused = await http.post("/api/v1/applications/checkout/rollback", json={"id": 0})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "rollback cannot be initiated when auto-sync is enabled",
        "code": 9,
        "message": "rollback cannot be initiated when auto-sync is enabled",
    }
    assert argocd.rollbacks == []


async def test_rollback_and_sync(argocd: FakeArgoCD) -> None:
    seed(argocd, auto_sync=False)
    hooked: list[dict] = []
    argocd.on_rollback = hooked.append
    url = "/api/v1/applications/checkout"
    async with httpx.AsyncClient(base_url=argocd.url, headers=AUTH) as http:
        dry = await http.post(f"{url}/rollback", json={"id": 0, "dryRun": True})
        unknown = await http.post(f"{url}/rollback", json={"id": 7})
        done = await http.post(f"{url}/rollback", json={"id": 0, "dryRun": False, "prune": True})
        synced = await http.post(f"{url}/sync", json={"revision": "ccc333", "prune": True})
    assert dry.status_code == 200 and len(dry.json()["status"]["history"]) == 2
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "application checkout does not have deployment with id 7"
    app = done.json()
    assert app["status"]["history"][-1]["revision"] == "aaa111"
    assert app["status"]["health"]["status"] == "Healthy"
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert [(r["id"], r["revision"], r["dry_run"]) for r in argocd.rollbacks] == [
        (0, "aaa111", True),
        (0, "aaa111", False),
    ]
    assert [h["revision"] for h in hooked] == ["aaa111"]
    assert synced.json()["status"]["sync"] == {
        **synced.json()["status"]["sync"],
        "status": "Synced",
        "revision": "ccc333",
    }
    assert [s["revision"] for s in argocd.syncs] == ["ccc333"]
    assert argocd.application("checkout")["status"]["history"][-1]["id"] == 3


async def test_auth_and_injected_failures(argocd: FakeArgoCD) -> None:
    seed(argocd, auto_sync=False)
    argocd.fail_next("/api/v1/applications/checkout", status=503)
    async with httpx.AsyncClient(base_url=argocd.url) as http:
        anonymous = await http.get("/api/v1/applications/checkout")
        failed = await http.get("/api/v1/applications/checkout", headers=AUTH)
        ok = await http.get("/api/v1/applications/checkout", headers=AUTH)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 16
    assert failed.status_code == 503
    assert ok.status_code == 200
