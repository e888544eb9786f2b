"""GET /healthz (liveness: the process answers, nothing else is asked) and GET /readyz
(readiness, JSON: the database answers and is migrated, the worker and the Slack sender run,
and in Socket Mode the WebSocket is up; 503 when anything is not). A load balancer sends
traffic by /readyz; an orchestrator restarts by /healthz, so a database outage takes replicas
out of rotation without restarting them all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.service.runtime import Runtime
from bot.storage.db import current_revision, shipped_revisions

CHECK_SECONDS = 2.0  # a probe answers within its own timeout even when the database hangs
# app.state key: an async callable saying whether the Socket Mode WebSocket is connected.
SOCKET_PROBE = "slack_socket_connected"


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    checks = await _database(rt)
    checks["worker"] = {"ok": rt.worker.alive}
    checks["sender"] = {"ok": rt.sender.alive}
    probe: Callable[[], Awaitable[bool]] | None = getattr(request.app.state, SOCKET_PROBE, None)
    if probe is not None:
        try:
            connected = bool(await asyncio.wait_for(probe(), CHECK_SECONDS))
        except Exception:
            connected = False
        checks["slack_socket"] = {"ok": connected}
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def _database(rt: Runtime) -> dict[str, dict[str, Any]]:
    try:
        current = await asyncio.wait_for(current_revision(rt.db), CHECK_SECONDS)
    except Exception as exc:  # the class only: a driver's message may hold the URL
        return {"database": {"ok": False, "error": type(exc).__name__}}
    head, shipped = shipped_revisions()
    # A revision this code does not ship came from a newer replica (a rolling upgrade):
    # migrations only add, so this one still works on it.
    migrated = current == head or (current is not None and current not in shipped)
    return {
        "database": {"ok": True},
        "migrations": {"ok": migrated, "at": current, "newest": head},
    }
