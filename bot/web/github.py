"""POST /webhooks/github: `deployment` and `deployment_status` events become stored changes.

Verified with X-Hub-Signature-256 (GITHUB_WEBHOOK_SECRET) before anything is read or stored;
X-GitHub-Delivery dedupes redeliveries. Storing a change is one upsert, so it is applied inline;
open incidents it may concern get their Orient card redrawn by a queued job.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.domain.model import Change, ChangeStatus
from bot.service import context
from bot.service.runtime import Runtime
from bot.settings import secret
from bot.storage import repo
from bot.storage.tables import ChangeRow
from bot.web.changes import too_long_field
from bot.web.pagerduty import error, read_body
from bot.web.signatures import github_valid
from integrations.github import deployment_webhook_to_change

log = logging.getLogger(__name__)

HANDLED = ("deployment", "deployment_status")


async def receive(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    body = await read_body(request)
    if body is None:
        return error(413, "body larger than 2 MB")
    webhook_secret = secret(rt.settings.github_webhook_secret)
    if not webhook_secret:
        return error(403, "GITHUB_WEBHOOK_SECRET is not configured")
    header = request.headers.get("x-hub-signature-256")
    if not header:
        return error(401, "missing X-Hub-Signature-256")
    if not github_valid(header, body, webhook_secret):
        return error(403, "signature does not match")
    event_name = request.headers.get("x-github-event", "")
    if not event_name:
        return error(400, "missing X-GitHub-Event")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return error(400, f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return error(400, "body must be a JSON object")
    if event_name == "ping":
        return JSONResponse({"ok": True, "pong": True})
    if event_name not in HANDLED:
        log.debug("GitHub event %s ignored", event_name)
        return JSONResponse({"ok": True, "ignored": event_name})
    problem = _shape_problem(event_name, payload)
    if problem:
        return error(400, problem)
    delivery = request.headers.get("x-github-delivery")
    if not delivery:
        return error(400, "missing X-GitHub-Delivery")

    deployment = payload["deployment"]
    repo_name = payload["repository"]["full_name"]
    service = rt.config.service_for_repo(repo_name, deployment.get("environment"))
    try:
        change = deployment_webhook_to_change(
            event_name, payload, service=service.name if service else None
        )
    except (KeyError, ValueError, TypeError) as exc:
        return error(400, f"cannot read the deployment: {exc}")
    assert change is not None  # the shape was checked above
    too_long = too_long_field(change)
    if too_long:
        return error(400, too_long)
    async with rt.db.transaction() as session:
        inbound = await repo.record_inbound(session, "github", delivery, event_name, payload)
        if inbound is None:
            return JSONResponse({"ok": True, "duplicate": True})
        if event_name == "deployment" and await _known(session, change):
            # Deliveries can arrive out of order: a status already seen outranks "created".
            change = replace(change, status=ChangeStatus.UNKNOWN)
        row = await repo.upsert_change(session, change)
        stored_status = row.status
        reoriented = await context.queue_reorient(session, rt, change)
    if reoriented:
        rt.worker.wake()
    return JSONResponse(
        {
            "ok": True,
            "change": f"{change.source}:{change.external_id}",
            "service": change.service,
            "status": stored_status,
            "reoriented": reoriented,
        }
    )


async def _known(session: AsyncSession, change: Change) -> bool:
    query = select(ChangeRow.id).where(
        ChangeRow.source == change.source, ChangeRow.external_id == change.external_id
    )
    return (await session.scalar(query)) is not None


def _shape_problem(event_name: str, payload: dict[str, Any]) -> str | None:
    deployment = payload.get("deployment")
    if not isinstance(deployment, dict):
        return f"{event_name} event without a deployment object"
    if "id" not in deployment:
        return "deployment.id is required"
    if not deployment.get("created_at"):
        return "deployment.created_at is required"
    repository = payload.get("repository")
    if not isinstance(repository, dict) or not isinstance(repository.get("full_name"), str):
        return "repository.full_name is required"
    if event_name == "deployment_status" and not isinstance(payload.get("deployment_status"), dict):
        return "deployment_status event without a deployment_status object"
    return None
