"""GitHub REST client (deployments, workflow dispatch, issues) and deployment → Change mapping."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bot.domain.model import Change, ChangeStatus
from integrations._common import parse_timestamp
from integrations.http import ApiClient, UpstreamError

# GitHub asks clients not to fire many requests at once (secondary rate limits).
MAX_CONCURRENT_STATUS_FETCHES = 8
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_REPO_IN_API_URL = re.compile(r"/repos/([^/]+/[^/]+?)/?$")

STATE_TO_STATUS: dict[str, ChangeStatus] = {
    "success": ChangeStatus.SUCCESS,
    "inactive": ChangeStatus.SUCCESS,  # superseded by a later deployment after succeeding
    "failure": ChangeStatus.FAILURE,
    "error": ChangeStatus.FAILURE,
    "in_progress": ChangeStatus.IN_PROGRESS,
    "queued": ChangeStatus.IN_PROGRESS,
    "pending": ChangeStatus.PENDING,
}


def _repo_path(repo: str) -> str:
    if not _REPO.match(repo):
        raise ValueError(f"repo must look like owner/name, got {repo!r}")
    return f"/repos/{repo}"


class GitHubClient(ApiClient):
    vendor = "GitHub"

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = "https://api.github.com",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
    ) -> None:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if token:  # public repositories can be read without one
            headers["Authorization"] = f"Bearer {token}"
        super().__init__(
            base_url, headers, timeout=timeout, transport=transport, backoff=backoff, secret=token
        )

    async def rate_limit(self) -> dict[str, Any]:
        """The token's rate limit: answers any valid token (an app's too), 401 for a bad one."""
        return await self._json("GET", "/rate_limit")

    async def get_repository(self, repo: str) -> dict[str, Any]:
        """404 both when it does not exist and when the token may not see it."""
        return await self._json("GET", _repo_path(repo))

    async def get_workflow(self, repo: str, workflow: str) -> dict[str, Any]:
        path = f"{_repo_path(repo)}/actions/workflows/{quote(workflow, safe='')}"
        return await self._json("GET", path)

    async def list_deployments(
        self, repo: str, *, environment: str | None = None, per_page: int = 30
    ) -> list[dict[str, Any]]:
        """Newest deployments, each with "latest_status": its newest status state or None."""
        params: dict[str, Any] = {"per_page": per_page}
        if environment:
            params["environment"] = environment
        deployments = await self._json("GET", f"{_repo_path(repo)}/deployments", params=params)
        gate = asyncio.Semaphore(MAX_CONCURRENT_STATUS_FETCHES)

        async def latest(deployment: dict[str, Any]) -> str | None:
            async with gate:
                return await self._latest_state(repo, deployment["id"])

        states = await asyncio.gather(*(latest(d) for d in deployments))
        return [{**d, "latest_status": s} for d, s in zip(deployments, states, strict=True)]

    async def _latest_state(self, repo: str, deployment_id: int) -> str | None:
        try:
            statuses = await self._json(
                "GET",
                f"{_repo_path(repo)}/deployments/{int(deployment_id)}/statuses",
                params={"per_page": 1},  # statuses come newest first
            )
        except UpstreamError:
            # One missing status should not hide the other deployments: degrade to unknown.
            return None
        if statuses and isinstance(statuses[0], dict):
            return statuses[0].get("state")
        return None

    async def dispatch_workflow(
        self,
        repo: str,
        workflow: str,
        *,
        ref: str,
        inputs: dict[str, str] | None = None,
    ) -> None:
        """Start a workflow_dispatch run. Not retried on 5xx/timeouts: it could run twice."""
        body: dict[str, Any] = {"ref": ref}
        if inputs:
            body["inputs"] = inputs
        path = f"{_repo_path(repo)}/actions/workflows/{quote(workflow, safe='')}/dispatches"
        # 204 is the documented answer; 200 comes back when return_run_details is used.
        await self._request("POST", path, json=body)

    async def create_issue(
        self,
        repo: str,
        *,
        title: str,
        body: str,
        labels: list[str] | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"title": title, "body": body}
        if labels:
            payload["labels"] = labels
        return await self._json("POST", f"{_repo_path(repo)}/issues", json=payload)


def _repo_from_api_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    match = _REPO_IN_API_URL.search(urlsplit(url).path)
    return match.group(1) if match else None


def _deployments_page(api_repo_url: Any, repo: str | None) -> str | None:
    """Best-effort human URL: https://github.com/o/r/deployments (or the GHES equivalent)."""
    if not isinstance(api_repo_url, str) or not repo:
        return None
    parts = urlsplit(api_repo_url)
    if parts.hostname == "api.github.com":
        return f"https://github.com/{repo}/deployments"
    if parts.path.startswith("/api/v3/"):  # GitHub Enterprise Server
        return f"{parts.scheme}://{parts.netloc}/{repo}/deployments"
    return None


def deployment_to_change(
    deployment: dict[str, Any],
    *,
    service: str | None,
    status: str | None = None,
    repo: str | None = None,
) -> Change:
    """Map a REST or webhook deployment object. ``status`` is a deployment status state;
    when omitted, the "latest_status" that list_deployments attached is used."""
    state = status if status is not None else deployment.get("latest_status")
    sha = deployment.get("sha") or None
    ref = deployment.get("ref") or None
    repo = repo or _repo_from_api_url(deployment.get("repository_url"))
    summary = deployment.get("description") or f"{ref}@{(sha or '')[:7]}"
    creator = deployment.get("creator")
    url = _deployments_page(deployment.get("repository_url"), repo) or deployment.get("url")
    return Change(
        source="github",
        external_id=str(deployment["id"]),
        summary=summary,
        created_at=parse_timestamp(deployment.get("created_at"), field="deployment.created_at"),
        service=service,
        status=STATE_TO_STATUS.get(state or "", ChangeStatus.UNKNOWN),
        repo=repo,
        environment=deployment.get("environment") or None,
        sha=sha,
        ref=ref,
        url=url,
        author=creator.get("login") if isinstance(creator, dict) else None,
        data={"task": deployment.get("task"), "state": state},
    )


def deployment_webhook_to_change(
    event_name: str, payload: dict[str, Any], *, service: str | None
) -> Change | None:
    """Map a `deployment` or `deployment_status` webhook; None for any other event.

    Both events for one deployment share external_id (the deployment id), so a later
    status updates the same change instead of adding one.
    """
    deployment = payload.get("deployment")
    if event_name not in ("deployment", "deployment_status") or not isinstance(deployment, dict):
        return None
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        repository = {}
    repo = repository.get("full_name")
    if event_name == "deployment":
        # A just-created deployment has no status yet: it is waiting to start.
        change = deployment_to_change(deployment, service=service, status="pending", repo=repo)
        deployment_status: dict[str, Any] = {}
    else:
        deployment_status = payload.get("deployment_status") or {}
        state = deployment_status.get("state")
        change = deployment_to_change(deployment, service=service, status=state, repo=repo)
    url = (
        deployment_status.get("log_url")
        or deployment_status.get("target_url")
        or (f"{repository['html_url']}/deployments" if repository.get("html_url") else None)
        or change.url
    )
    return replace(change, url=url)
