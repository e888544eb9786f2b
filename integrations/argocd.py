"""Argo CD API client: application history as Changes, rollback and sync."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bot.domain.model import Change, ChangeStatus
from integrations._common import parse_timestamp
from integrations.http import ApiClient

PHASE_TO_STATUS: dict[str, ChangeStatus] = {
    "Succeeded": ChangeStatus.SUCCESS,
    "Failed": ChangeStatus.FAILURE,
    "Error": ChangeStatus.FAILURE,
    "Running": ChangeStatus.IN_PROGRESS,
    "Terminating": ChangeStatus.IN_PROGRESS,
}


class AutoSyncEnabled(Exception):
    """Argo CD refuses rollbacks while automated sync would immediately undo them."""


def _app_path(name: str) -> str:
    return f"/api/v1/applications/{quote(name, safe='')}"


def auto_sync_enabled(app: dict[str, Any]) -> bool:
    """Same rule as Argo CD's SyncPolicy.IsAutomatedSyncEnabled: `automated` present and
    its `enabled` flag absent or true."""
    policy = (app.get("spec") or {}).get("syncPolicy") or {}
    automated = policy.get("automated")
    if automated is None:
        return False
    return not isinstance(automated, dict) or automated.get("enabled") in (None, True)


class ArgoCDClient(ApiClient):
    vendor = "Argo CD"

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        super().__init__(
            base_url, headers, timeout=timeout, transport=transport, backoff=backoff, secret=token
        )
        self._ui_url = base_url.rstrip("/")

    async def get_application(self, name: str) -> dict[str, Any]:
        return await self._json("GET", _app_path(name))

    async def history_changes(self, name: str, *, service: str | None) -> list[Change]:
        app = await self.get_application(name)
        return application_changes(app, service=service, ui_url=self._ui_url)

    async def rollback(
        self, name: str, history_id: int, *, dry_run: bool = False
    ) -> dict[str, Any]:
        app = await self.get_application(name)
        if auto_sync_enabled(app):
            raise AutoSyncEnabled(
                f"Argo CD application {name!r} has automated sync enabled, which would undo a "
                "rollback at once. Disable auto-sync first (argocd app set "
                f"{name} --sync-policy none), then retry the rollback."
            )
        ids = {h.get("id") for h in (app.get("status") or {}).get("history") or []}
        if history_id not in ids:
            raise ValueError(f"Argo CD application {name!r} has no history id {history_id}")
        return await self._json(
            "POST", f"{_app_path(name)}/rollback", json={"id": history_id, "dryRun": dry_run}
        )

    async def sync(
        self, name: str, *, revision: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"dryRun": dry_run}
        if revision:
            body["revision"] = revision
        return await self._json("POST", f"{_app_path(name)}/sync", json=body)


def _repo(repo_url: Any) -> str | None:
    """owner/name for GitHub URLs (matches the catalog's github_repo), else the URL."""
    if not isinstance(repo_url, str) or not repo_url:
        return None
    parts = urlsplit(repo_url)
    path = parts.path.strip("/").removesuffix(".git")
    if parts.hostname == "github.com" and path.count("/") == 1:
        return path
    return repo_url


def _source(entry: dict[str, Any]) -> dict[str, Any]:
    # Multi-source apps record `sources`; the first one is the best single answer.
    source = entry.get("source")
    if isinstance(source, dict) and source:
        return source
    sources = entry.get("sources")
    return sources[0] if isinstance(sources, list) and sources else {}


def _revision(entry: dict[str, Any]) -> str | None:
    revisions = entry.get("revisions")
    return entry.get("revision") or (revisions[0] if revisions else None)


def application_changes(
    app: dict[str, Any], *, service: str | None, ui_url: str | None = None
) -> list[Change]:
    """Changes from an Application's status.history, oldest first.

    Argo CD only appends to history after a successful sync, so past entries are SUCCESS.
    The newest entry takes its status from operationState when that operation is about the
    same revision, and becomes FAILURE while the app's health is Degraded. A running or
    failed operation for a revision not in history is reported as one more Change.
    """
    name = (app.get("metadata") or {}).get("name") or "application"
    status = app.get("status") or {}
    history = sorted(status.get("history") or [], key=lambda h: h.get("id", 0))
    url = f"{ui_url}/applications/{quote(name, safe='')}" if ui_url else None
    op = status.get("operationState") or {}
    op_revision = (op.get("syncResult") or {}).get("revision") or (
        ((op.get("operation") or {}).get("sync") or {}).get("revision")
    )
    op_status = PHASE_TO_STATUS.get(op.get("phase") or "")
    health = (status.get("health") or {}).get("status")

    changes: list[Change] = []
    previous: dict[str, Any] | None = None
    for index, entry in enumerate(history):
        revision = _revision(entry)
        source = _source(entry)
        change_status = ChangeStatus.SUCCESS
        if index == len(history) - 1:
            if op_status and op_revision == revision:
                change_status = op_status
            if health == "Degraded" and change_status is not ChangeStatus.IN_PROGRESS:
                change_status = ChangeStatus.FAILURE
        when = entry.get("deployedAt") or entry.get("deployStartedAt")
        data: dict[str, Any] = {"history_id": entry.get("id"), "application": name}
        if previous is not None:
            data["previous_history_id"] = previous.get("id")  # what a rollback restores
        initiated = entry.get("initiatedBy") or {}
        image = _history_image(source)
        if index == len(history) - 1:
            image = image or _current_image(status)
        changes.append(
            Change(
                source="argocd",
                external_id=f"{name}:{entry.get('id')}",
                summary=_summary(name, revision, source.get("targetRevision")),
                created_at=parse_timestamp(when, field="history.deployedAt"),
                service=service,
                status=change_status,
                repo=_repo(source.get("repoURL")),
                sha=revision,
                ref=source.get("targetRevision"),
                previous_sha=_revision(previous) if previous else None,
                url=url,
                author=initiated.get("username")
                or ("automated" if initiated.get("automated") else None),
                data=data,
                image_tag=image,
            )
        )
        previous = entry

    deployed = {_revision(h) for h in history}
    if (
        op_status in (ChangeStatus.FAILURE, ChangeStatus.IN_PROGRESS)
        and op_revision not in deployed
    ):
        changes.append(_operation_change(name, op, op_revision, op_status, service, url, previous))
    return changes


def _first_image(images: Any) -> str | None:
    if isinstance(images, list) and images and isinstance(images[0], str) and images[0].strip():
        # Kustomize overrides read "name=image:tag"; the image after "=" is what runs.
        return images[0].strip().rpartition("=")[2]
    return None


def _history_image(source: dict[str, Any]) -> str | None:
    """The image a history entry deployed, when its source pins one (kustomize images)."""
    return _first_image((source.get("kustomize") or {}).get("images"))


def _current_image(status: dict[str, Any]) -> str | None:
    """The image running now (status.summary.images), which belongs to the newest entry."""
    return _first_image((status.get("summary") or {}).get("images"))


def _summary(name: str, revision: str | None, target: str | None) -> str:
    text = f"Argo CD synced {name} to {(revision or 'unknown')[:7]}"
    return f"{text} ({target})" if target and target != revision else text


def _operation_change(
    name: str,
    op: dict[str, Any],
    revision: str | None,
    status: ChangeStatus,
    service: str | None,
    url: str | None,
    last_deployed: dict[str, Any] | None,
) -> Change:
    started = op.get("startedAt")
    verb = "running" if status is ChangeStatus.IN_PROGRESS else "failed"
    sync_source = (op.get("syncResult") or {}).get("source") or (
        ((op.get("operation") or {}).get("sync") or {}).get("source") or {}
    )
    return Change(
        source="argocd",
        # startedAt is fixed per operation, so re-reading the app yields the same id.
        external_id=f"{name}:op:{started}",
        summary=f"Argo CD sync of {name} to {(revision or 'unknown')[:7]} {verb}",
        created_at=parse_timestamp(started, field="operationState.startedAt"),
        service=service,
        status=status,
        repo=_repo(sync_source.get("repoURL")),
        sha=revision,
        ref=sync_source.get("targetRevision"),
        previous_sha=_revision(last_deployed) if last_deployed else None,
        url=url,
        author=((op.get("operation") or {}).get("initiatedBy") or {}).get("username"),
        data={
            "application": name,
            "phase": op.get("phase"),
            "message": op.get("message"),
            "previous_history_id": last_deployed.get("id") if last_deployed else None,
        },
    )
