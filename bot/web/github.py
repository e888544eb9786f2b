"""POST /webhooks/github: `deployment` and `deployment_status` events become stored changes.

Verified with X-Hub-Signature-256 (GITHUB_WEBHOOK_SECRET) before anything is read or stored;
X-GitHub-Delivery dedupes redeliveries. Storing a change is one upsert, so it is applied inline;
open incidents it may concern get their Orient card redrawn by a queued job.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.domain.model import Change, ChangeStatus
from bot.service.runtime import Runtime
from bot.storage import repo
from bot.web import ingest
from bot.web.signatures import github_valid
from integrations.github import deployment_webhook_to_change

log = logging.getLogger(__name__)

HANDLED = ("deployment", "deployment_status")
MAX_DELIVERY_ID = 200  # inbound_events.dedup_key


async def receive(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    read = await ingest.body_and_secret(
        request, rt.settings.github_webhook_secret, "GITHUB_WEBHOOK_SECRET"
    )
    if isinstance(read, JSONResponse):
        return read
    body, webhook_secret = read
    header = request.headers.get("x-hub-signature-256")
    if not header:
        return ingest.error(401, "missing X-Hub-Signature-256")
    if not github_valid(header, body, webhook_secret):
        return ingest.error(403, "signature does not match")
    event_name = request.headers.get("x-github-event", "")
    if not event_name:
        return ingest.error(400, "missing X-GitHub-Event")
    payload = ingest.json_object(body)
    if isinstance(payload, JSONResponse):
        return payload
    if event_name == "ping":
        return JSONResponse({"ok": True, "pong": True})
    if event_name not in HANDLED:
        log.debug("GitHub event %r ignored", event_name)
        return JSONResponse({"ok": True, "ignored": ingest.shown(event_name)})
    problem = _shape_problem(event_name, payload)
    if problem:
        return ingest.error(400, problem)
    delivery = request.headers.get("x-github-delivery")
    if not delivery:
        return ingest.error(400, "missing X-GitHub-Delivery")
    if len(delivery) > MAX_DELIVERY_ID:
        return ingest.error(400, f"X-GitHub-Delivery is longer than {MAX_DELIVERY_ID} characters")

    deployment = payload["deployment"]
    repo_name = payload["repository"]["full_name"]
    service = rt.config.service_for_repo(repo_name, deployment.get("environment"))
    try:
        change = deployment_webhook_to_change(
            event_name, payload, service=service.name if service else None
        )
    except (KeyError, ValueError, TypeError) as exc:
        return ingest.error(400, f"cannot read the deployment: {exc}")
    assert change is not None  # the shape was checked above
    refusal = ingest.change_refusal(change)
    if refusal:
        return ingest.error(400, refusal)
    stored = await ingest.store_change(
        rt,
        source="github",
        dedup_key=delivery,
        event_type=event_name,
        payload=payload,
        change=change,
        before_upsert=_keep_known_status if event_name == "deployment" else None,
    )
    if stored is None:
        return ingest.duplicate()
    return ingest.change_answer(stored, status=stored.status)


async def _keep_known_status(session: AsyncSession, change: Change) -> Change:
    """Deliveries can arrive out of order: a status already seen outranks "created"."""
    if await repo.change_exists(session, change.source, change.external_id):
        return replace(change, status=ChangeStatus.UNKNOWN)
    return change


# Fields the mapping reads, each a string (or absent/null) in every GitHub delivery.
_DEPLOYMENT_TEXT = ("sha", "ref", "environment", "description", "repository_url", "url")
_STATUS_TEXT = ("state", "log_url", "target_url")


def _text_problem(obj: dict[str, Any], where: str, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            return f"{where}.{key} must be a string"
    return None


def _shape_problem(event_name: str, payload: dict[str, Any]) -> str | None:
    deployment = payload.get("deployment")
    if not isinstance(deployment, dict):
        return f"{event_name} event without a deployment object"
    deployment_id = deployment.get("id")
    if deployment_id is None:
        return "deployment.id is required"
    if isinstance(deployment_id, bool) or not isinstance(deployment_id, int | str):
        return "deployment.id must be an integer or a string"
    if not str(deployment_id).strip():
        return "deployment.id is empty"
    if not deployment.get("created_at"):
        return "deployment.created_at is required"
    problem = _text_problem(deployment, "deployment", _DEPLOYMENT_TEXT)
    if problem:
        return problem
    creator = deployment.get("creator")
    if creator is not None and not isinstance(creator, dict):
        return "deployment.creator must be an object"
    if isinstance(creator, dict) and not isinstance(creator.get("login"), str | None):
        return "deployment.creator.login must be a string"
    repository = payload.get("repository")
    if not isinstance(repository, dict) or not isinstance(repository.get("full_name"), str):
        return "repository.full_name is required"
    if not isinstance(repository.get("html_url"), str | None):
        return "repository.html_url must be a string"
    if event_name == "deployment_status":
        status = payload.get("deployment_status")
        if not isinstance(status, dict):
            return "deployment_status event without a deployment_status object"
        return _text_problem(status, "deployment_status", _STATUS_TEXT)
    return None
