"""A stateful fake of the Argo CD API server (``ARGOCD_URL = fake.url``).

Application JSON follows argo-cd's v1alpha1 types (RevisionHistory: id, revision, deployedAt,
deployStartedAt, source, initiatedBy). Errors are what grpc-gateway renders for the gRPC status
codes the real server returns, e.g. rollback with automated sync enabled ->
FailedPrecondition (HTTP 400) "rollback cannot be initiated when auto-sync is enabled".
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.fakes._common import Failure, RestFake, iso, run_hook, utcnow

# gRPC status code -> HTTP status, as grpc-gateway maps them.
_GRPC_HTTP = {3: 400, 5: 404, 7: 403, 9: 400, 13: 500, 14: 503, 16: 401}


def _grpc_error(code: int, message: str) -> JSONResponse:
    body = {"error": message, "code": code, "message": message}
    return JSONResponse(body, status_code=_GRPC_HTTP.get(code, 500))


class FakeArgoCD(RestFake):
    """``/api/v1/applications`` get, rollback and sync. Requires ``Authorization: Bearer``."""

    def __init__(self, *, token: str | None = None, namespace: str = "argocd") -> None:
        self.token = token
        self.namespace = namespace
        self._apps: dict[str, dict[str, Any]] = {}
        self.rollbacks: list[dict[str, Any]] = []
        self.syncs: list[dict[str, Any]] = []
        self.on_rollback: Callable[[dict[str, Any]], None] | None = None
        self.on_sync: Callable[[dict[str, Any]], None] | None = None
        super().__init__()

    def _routes(self) -> list[Any]:
        w = self._wrap
        base = "/api/v1/applications"
        return [
            Route(base, w(self._list), methods=["GET"]),
            Route(base + "/{name}", w(self._get), methods=["GET"]),
            Route(base + "/{name}/rollback", w(self._rollback), methods=["POST"]),
            Route(base + "/{name}/sync", w(self._sync), methods=["POST"]),
        ]

    def _authorized(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        return self.token is None or value.strip() == self.token

    def _unauthorized(self) -> Response:
        return _grpc_error(16, "no session information")

    def _failure_response(self, failure: Failure) -> Response:
        code = {400: 3, 403: 7, 404: 5, 503: 14}.get(failure.status, 13)
        response = _grpc_error(code, "injected failure")
        response.status_code = failure.status
        return response

    # -- state helpers -------------------------------------------------------------------
    def add_application(
        self,
        name: str,
        *,
        repo_url: str,
        auto_sync: bool = False,
        path: str = "deploy",
        target_revision: str = "HEAD",
        dest_namespace: str | None = None,
        project: str = "default",
    ) -> dict[str, Any]:
        now = iso(utcnow())
        sync_policy: dict[str, Any] = {}
        if auto_sync:
            sync_policy["automated"] = {"prune": True, "selfHeal": True}
        app = {
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": "1",
                "generation": 1,
                "creationTimestamp": now,
            },
            "spec": {
                "project": project,
                "source": {"repoURL": repo_url, "path": path, "targetRevision": target_revision},
                "destination": {
                    "server": "https://kubernetes.default.svc",
                    "namespace": dest_namespace or name,
                },
                "syncPolicy": sync_policy,
            },
            "status": {
                "sync": {"status": "Unknown", "revision": ""},
                "health": {"status": "Unknown"},
                "history": [],
                "reconciledAt": now,
                "sourceType": "Directory",
                "summary": {},
            },
        }
        with self._lock:
            self._apps[name] = app
            return copy.deepcopy(app)

    def set_auto_sync(self, name: str, enabled: bool) -> None:
        with self._lock:
            policy = self._apps[name]["spec"]["syncPolicy"]
            if enabled:
                policy["automated"] = {"prune": True, "selfHeal": True}
            else:
                policy.pop("automated", None)

    def add_history(
        self,
        name: str,
        *,
        revision: str,
        deployed_at: datetime,
        phase: str = "Succeeded",
        health: str = "Healthy",
        deploy_started_at: datetime | None = None,
        initiated_by: str = "admin",
    ) -> int:
        """Record a sync of `revision`; returns its history id (0, 1, 2, ... like Argo CD)."""
        with self._lock:
            return self._deploy(
                self._apps[name],
                revision,
                deployed_at=deployed_at,
                phase=phase,
                health=health,
                started=deploy_started_at,
                initiated_by=initiated_by,
                message="successfully synced (all tasks run)",
            )

    def set_health(self, name: str, health: str) -> None:
        with self._lock:
            self._apps[name]["status"]["health"]["status"] = health

    def application(self, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._apps[name])

    def _deploy(
        self,
        app: dict[str, Any],
        revision: str,
        *,
        deployed_at: datetime,
        phase: str,
        health: str,
        started: datetime | None,
        initiated_by: str,
        message: str,
        out_of_sync: bool = False,
    ) -> int:
        status = app["status"]
        history = status["history"]
        source = copy.deepcopy(app["spec"]["source"])
        hist_id = history[-1]["id"] + 1 if history else 0
        entry = {
            "id": hist_id,
            "revision": revision,
            "deployedAt": iso(deployed_at),
            "deployStartedAt": iso(started or deployed_at),
            "source": source,
            "initiatedBy": {"username": initiated_by},
        }
        history.append(entry)
        status["operationState"] = {
            "operation": {
                "sync": {"revision": revision},
                "initiatedBy": {"username": initiated_by},
                "retry": {},
            },
            "phase": phase,
            "message": message,
            "startedAt": entry["deployStartedAt"],
            "finishedAt": entry["deployedAt"],
            "syncResult": {"revision": revision, "source": source, "resources": []},
        }
        status["sync"] = {
            "status": "OutOfSync" if out_of_sync else "Synced",
            "revision": revision,
            "comparedTo": {"source": source, "destination": app["spec"]["destination"]},
        }
        status["health"] = {"status": health}
        status["reconciledAt"] = entry["deployedAt"]
        meta = app["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return int(hist_id)

    # -- routes --------------------------------------------------------------------------
    def _app_or_404(self, name: str) -> dict[str, Any] | JSONResponse:
        app = self._apps.get(name)
        if app is None:
            return _grpc_error(5, f'applications.argoproj.io "{name}" not found')
        return app

    async def _list(self, request: Request, body: Any) -> Response:
        with self._lock:
            items = copy.deepcopy(list(self._apps.values()))
        return JSONResponse({"metadata": {"resourceVersion": "1"}, "items": items})

    async def _get(self, request: Request, body: Any) -> Response:
        with self._lock:
            app = self._app_or_404(request.path_params["name"])
            return app if isinstance(app, Response) else JSONResponse(copy.deepcopy(app))

    async def _rollback(self, request: Request, body: Any) -> Response:
        body = body if isinstance(body, dict) else {}
        name = request.path_params["name"]
        with self._lock:
            app = self._app_or_404(name)
            if isinstance(app, Response):
                return app
            if app["spec"].get("syncPolicy", {}).get("automated") is not None:
                return _grpc_error(9, "rollback cannot be initiated when auto-sync is enabled")
            try:
                wanted = int(body.get("id", 0))
            except (TypeError, ValueError):
                return _grpc_error(3, "invalid id")
            target = next((h for h in app["status"]["history"] if h["id"] == wanted), None)
            if target is None:
                return _grpc_error(
                    3, f"application {name} does not have deployment with id {wanted}"
                )
            dry_run = bool(body.get("dryRun", False))
            record = {
                "name": name,
                "id": wanted,
                "revision": target["revision"],
                "dry_run": dry_run,
                "prune": bool(body.get("prune", False)),
                "at": utcnow(),
            }
            self.rollbacks.append(record)
            if not dry_run:
                self._deploy(
                    app,
                    target["revision"],
                    deployed_at=utcnow(),
                    phase="Succeeded",
                    health="Healthy",
                    started=None,
                    initiated_by="ooda-bot",
                    message=f"rolled back to history id {wanted}",
                    out_of_sync=True,
                )
            out = copy.deepcopy(app)
        if not dry_run:
            run_hook(self.on_rollback, copy.deepcopy(record))
        return JSONResponse(out)

    async def _sync(self, request: Request, body: Any) -> Response:
        body = body if isinstance(body, dict) else {}
        name = request.path_params["name"]
        with self._lock:
            app = self._app_or_404(name)
            if isinstance(app, Response):
                return app
            history = app["status"]["history"]
            revision = body.get("revision") or (history[-1]["revision"] if history else "HEAD")
            dry_run = bool(body.get("dryRun", False))
            record = {
                "name": name,
                "revision": revision,
                "dry_run": dry_run,
                "prune": bool(body.get("prune", False)),
                "at": utcnow(),
            }
            self.syncs.append(record)
            if not dry_run:
                self._deploy(
                    app,
                    revision,
                    deployed_at=utcnow(),
                    phase="Succeeded",
                    health="Healthy",
                    started=None,
                    initiated_by="ooda-bot",
                    message="successfully synced (all tasks run)",
                )
            out = copy.deepcopy(app)
        if not dry_run:
            run_hook(self.on_sync, copy.deepcopy(record))
        return JSONResponse(out)
