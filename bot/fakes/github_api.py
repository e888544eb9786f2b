"""A stateful fake of the GitHub REST API endpoints ooda-bot uses (``GITHUB_API_URL = fake.url``).

Deployment and deployment-status shapes follow octokit/webhooks payload examples (the `deployment`
and `deployment_status` objects in /work/shared/vendor-samples).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.fakes._common import Failure, RestFake, iso, run_hook, utcnow

API = "https://api.github.com"
DOCS = "https://docs.github.com/rest"
HOLD_LIMIT = 30.0  # a held request answers anyway after this long, so a test cannot hang


def sign_webhook(secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256``: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _message(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"message": message, "documentation_url": DOCS, "status": str(status)}, status
    )


def _user(login: str) -> dict[str, Any]:
    uid = int.from_bytes(hashlib.sha256(login.encode()).digest()[:3], "big")
    return {
        "login": login,
        "id": uid,
        "node_id": base64.b64encode(f"04:User{uid}".encode()).decode(),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "url": f"{API}/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
    }


class FakeGitHub(RestFake):
    """Deployments (+statuses), workflow_dispatch and issues. Requires ``Authorization: Bearer``
    (or the older ``token`` scheme, which GitHub also accepts)."""

    def __init__(self, *, workflows: Iterable[str] | None = None, token: str | None = None) -> None:
        self.token = token
        self.workflows: set[str] | None = set(workflows) if workflows is not None else None
        # Repositories the token can see; None: every one (the tests that do not care).
        self.repos: set[str] | None = None
        self._deployments: dict[str, list[dict[str, Any]]] = {}  # repo -> newest first
        self._statuses: dict[int, list[dict[str, Any]]] = {}  # deployment id -> newest first
        self._next_id = 1000
        self.dispatches: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.on_dispatch: Callable[[dict[str, Any]], None] | None = None
        self._holds: list[tuple[str, threading.Event]] = []
        super().__init__()

    def hold(self, path_prefix: str) -> threading.Event:
        """A slow GitHub, deterministically: requests whose path starts with `path_prefix` wait
        (at most HOLD_LIMIT seconds) until the returned event is set."""
        gate = threading.Event()
        with self._lock:
            self._holds.append((path_prefix, gate))
        return gate

    def _wrap(self, handler: Any) -> Callable[[Request], Awaitable[Response]]:
        endpoint = super()._wrap(handler)

        async def held(request: Request) -> Response:
            with self._lock:
                gates = [g for p, g in self._holds if request.url.path.startswith(p)]
            for gate in gates:
                await asyncio.to_thread(gate.wait, HOLD_LIMIT)
            return await endpoint(request)

        return held

    def _routes(self) -> list[Any]:
        w = self._wrap
        repo = "/repos/{owner}/{repo}"
        return [
            Route("/rate_limit", w(self._rate_limit), methods=["GET"]),
            Route(repo, w(self._get_repo), methods=["GET"]),
            Route(f"{repo}/actions/workflows/{{workflow}}", w(self._get_workflow), methods=["GET"]),
            Route(f"{repo}/deployments", w(self._list_deployments), methods=["GET"]),
            Route(f"{repo}/deployments/{{id:int}}", w(self._get_deployment), methods=["GET"]),
            Route(f"{repo}/deployments/{{id:int}}/statuses", w(self._statuses_of), methods=["GET"]),
            Route(
                f"{repo}/actions/workflows/{{workflow}}/dispatches",
                w(self._dispatch),
                methods=["POST"],
            ),
            Route(f"{repo}/issues", w(self._create_issue), methods=["POST"]),
        ]

    def _authorized(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not value.strip():
            return False
        return self.token is None or value.strip() == self.token

    def _unauthorized(self) -> Response:
        return _message(401, "Requires authentication")

    def _failure_response(self, failure: Failure) -> Response:
        if failure.status in (403, 429):
            return _message(failure.status, "API rate limit exceeded for installation.")
        return _message(failure.status, "Server Error")

    # -- state helpers -------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_deployment(
        self,
        repo: str,
        *,
        sha: str,
        ref: str = "main",
        environment: str = "production",
        created_at: datetime,
        state: str | None = "success",
        description: str | None = None,
        creator: str = "octocat",
        task: str = "deploy",
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A deployment; with `state`, also a status one minute after `created_at`."""
        with self._lock:
            dep_id = self._new_id()
            url = f"{API}/repos/{repo}/deployments/{dep_id}"
            dep = {
                "url": url,
                "id": dep_id,
                "node_id": base64.b64encode(f"010:Deployment{dep_id}".encode()).decode(),
                "sha": sha,
                "ref": ref,
                "task": task,
                "payload": payload or {},
                "original_environment": environment,
                "environment": environment,
                "description": description,
                "creator": _user(creator),
                "created_at": iso(created_at),
                "updated_at": iso(created_at),
                "statuses_url": f"{url}/statuses",
                "repository_url": f"{API}/repos/{repo}",
                "transient_environment": False,
                "production_environment": environment == "production",
            }
            deps = self._deployments.setdefault(repo, [])
            deps.append(dep)
            deps.sort(key=lambda d: (d["created_at"], d["id"]), reverse=True)
            self._statuses[dep_id] = []
            if state is not None:
                self.add_deployment_status(
                    repo, dep_id, state=state, created_at=created_at + timedelta(minutes=1)
                )
            return copy.deepcopy(dep)

    def add_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        *,
        state: str,
        created_at: datetime | None = None,
        description: str = "",
        creator: str = "octocat",
        log_url: str = "",
    ) -> dict[str, Any]:
        with self._lock:
            dep = next(d for d in self._deployments[repo] if d["id"] == deployment_id)
            status_id = self._new_id()
            at = iso(created_at or utcnow())
            status = {
                "url": f"{dep['url']}/statuses/{status_id}",
                "id": status_id,
                "node_id": base64.b64encode(f"016:DeploymentStatus{status_id}".encode()).decode(),
                "state": state,
                "creator": _user(creator),
                "description": description,
                "environment": dep["environment"],
                "target_url": log_url,
                "log_url": log_url,
                "environment_url": "",
                "created_at": at,
                "updated_at": at,
                "deployment_url": dep["url"],
                "repository_url": dep["repository_url"],
            }
            statuses = self._statuses[deployment_id]
            statuses.append(status)
            statuses.sort(key=lambda s: (s["created_at"], s["id"]), reverse=True)
            dep["updated_at"] = max(dep["updated_at"], at)
            return copy.deepcopy(status)

    def deployments(self, repo: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._deployments.get(repo, []))

    sign_webhook = staticmethod(sign_webhook)

    # -- routes --------------------------------------------------------------------------
    @staticmethod
    def _repo(request: Request) -> str:
        return f"{request.path_params['owner']}/{request.path_params['repo']}"

    async def _list_deployments(self, request: Request, body: Any) -> Response:
        q = request.query_params
        try:
            per_page = max(1, min(int(q.get("per_page", 30)), 100))
            page_no = max(1, int(q.get("page", 1)))
        except ValueError:
            return _message(422, "Invalid request.")
        with self._lock:
            deps = [
                d
                for d in self._deployments.get(self._repo(request), [])
                if all(q.get(k) in (None, d[k]) for k in ("environment", "sha", "ref", "task"))
            ]
            chunk = deps[(page_no - 1) * per_page : page_no * per_page]
            return JSONResponse(copy.deepcopy(chunk))

    def _find(self, request: Request) -> dict[str, Any] | None:
        deps = self._deployments.get(self._repo(request), [])
        return next((d for d in deps if d["id"] == request.path_params["id"]), None)

    async def _get_deployment(self, request: Request, body: Any) -> Response:
        with self._lock:
            dep = self._find(request)
            return JSONResponse(copy.deepcopy(dep)) if dep else _message(404, "Not Found")

    async def _statuses_of(self, request: Request, body: Any) -> Response:
        with self._lock:
            dep = self._find(request)
            if dep is None:
                return _message(404, "Not Found")
            per_page = max(1, min(int(request.query_params.get("per_page", 30)), 100))
            return JSONResponse(copy.deepcopy(self._statuses[dep["id"]][:per_page]))

    async def _rate_limit(self, request: Request, body: Any) -> Response:
        core = {"limit": 5000, "remaining": 4999, "reset": 0, "used": 1}
        return JSONResponse({"resources": {"core": core}, "rate": core})

    def _visible(self, repo: str) -> bool:
        return self.repos is None or repo in self.repos

    async def _get_repo(self, request: Request, body: Any) -> Response:
        repo = self._repo(request)
        if not self._visible(repo):
            return _message(404, "Not Found")  # GitHub hides what a token may not see
        owner, _, name = repo.partition("/")
        return JSONResponse(
            {"full_name": repo, "name": name, "owner": _user(owner), "private": True}
        )

    async def _get_workflow(self, request: Request, body: Any) -> Response:
        workflow = request.path_params["workflow"]
        missing = self.workflows is not None and workflow not in self.workflows
        if missing or not self._visible(self._repo(request)):
            return _message(404, "Not Found")
        path = f".github/workflows/{workflow}"
        return JSONResponse({"id": 1, "name": workflow, "path": path, "state": "active"})

    async def _dispatch(self, request: Request, body: Any) -> Response:
        workflow = request.path_params["workflow"]
        if self.workflows is not None and workflow not in self.workflows:
            return _message(404, "Not Found")
        if not isinstance(body, dict) or not body.get("ref"):
            return _message(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict) or len(inputs) > 25:
            return _message(422, "Invalid request.\n\nFor 'properties/inputs', invalid value.")
        record = {
            "repo": self._repo(request),
            "workflow": workflow,
            "ref": body["ref"],
            "inputs": copy.deepcopy(inputs),
            "at": utcnow(),
        }
        with self._lock:
            self.dispatches.append(record)
        run_hook(self.on_dispatch, copy.deepcopy(record))
        return Response(status_code=204)

    async def _create_issue(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict) or not body.get("title"):
            return _message(422, "Validation Failed")
        repo = self._repo(request)
        with self._lock:
            number = 1 + sum(1 for i in self.issues if i["repo"] == repo)
            issue_id = self._new_id()
            now = iso(utcnow())
            issue = {
                "id": issue_id,
                "number": number,
                "url": f"{API}/repos/{repo}/issues/{number}",
                "html_url": f"https://github.com/{repo}/issues/{number}",
                "title": body["title"],
                "body": body.get("body"),
                "state": "open",
                "labels": [
                    {"name": label} if isinstance(label, str) else label
                    for label in body.get("labels", [])
                ],
                "assignees": [_user(a) for a in body.get("assignees", [])],
                "user": _user("ooda-bot[bot]"),
                "created_at": now,
                "updated_at": now,
                "repo": repo,
            }
            self.issues.append(issue)
            out = {k: v for k, v in issue.items() if k != "repo"}
        return JSONResponse(copy.deepcopy(out), status_code=201)
