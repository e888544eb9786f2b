"""POST /webhooks/changes: any CI pipeline, flag system or config tool reports a change.

The body is PagerDuty's Events API v2 Change Event (payload.summary, timestamp, source,
custom_details, links), so a tool that already sends change events to PagerDuty can send the
same body here. Authenticated with OODA_CHANGES_SECRET, either as a bearer token or as an
``X-Ooda-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`` header (5-minute
window against replays). The change is upserted inline (one row) and open incidents it concerns
get their Orient card redrawn.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.service.runtime import Runtime
from bot.web import ingest
from integrations.webhook import SIGNATURE_HEADER, change_event_to_change, verify

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300


def _auth_problem(request: Request, body: bytes, shared: str) -> tuple[int, str] | None:
    """None when the request carries a valid bearer token or signature; else (status, why)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    signature = request.headers.get(SIGNATURE_HEADER.lower(), "")
    if not bearer and not signature:
        return 401, f"missing Authorization: Bearer <secret> or {SIGNATURE_HEADER}"
    if bearer and hmac.compare_digest(bearer.encode(), shared.encode()):
        return None
    now = int(time.time())
    if signature and verify(
        shared, signature, body, now=now, tolerance=SIGNATURE_TOLERANCE_SECONDS
    ):
        return None
    if signature and not bearer and _stale(signature, now):
        return 403, f"{SIGNATURE_HEADER} timestamp is outside the 5-minute window"
    return 403, "bearer token or signature does not match"


def _stale(header: str, now: int) -> bool:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.lstrip("-").isdigit():
            return abs(now - int(value)) > SIGNATURE_TOLERANCE_SECONDS
    return False


def _details(body: dict[str, Any]) -> dict[str, Any]:
    payload = body.get("payload")
    details = payload.get("custom_details") if isinstance(payload, dict) else None
    return details if isinstance(details, dict) else {}


def _resolve_service(rt: Runtime, body: dict[str, Any]) -> str | None:
    """The catalog service this change belongs to: custom_details.service, .repo/.repository,
    then payload.source, each matched against service names, GitHub repos and Argo CD apps."""
    details = _details(body)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        payload = {}
    named = details.get("service")
    candidates: list[object]
    if isinstance(named, str) and named.strip():
        # An explicit service wins; outside the catalog it is kept as sent.
        candidates = [named]
    else:
        candidates = [details.get("repo"), details.get("repository"), payload.get("source")]
    service = rt.config.service_for_source(*(c for c in candidates if isinstance(c, str)))
    return service.name if service else None


def _delivery_key(body: dict[str, Any]) -> str:
    """The same body sent twice is one delivery; a new body for the same change id (a status
    update) is a new delivery that refreshes the stored change."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def receive(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    read = await ingest.body_and_secret(
        request, rt.settings.changes_webhook_secret, "OODA_CHANGES_SECRET"
    )
    if isinstance(read, JSONResponse):
        return read
    body, shared = read
    problem = _auth_problem(request, body, shared)
    if problem is not None:
        return ingest.error(*problem)
    event = ingest.json_object(body)
    if isinstance(event, JSONResponse):
        return event
    service = _resolve_service(rt, event)
    try:
        change = change_event_to_change(event, service=service)
    except ValueError as exc:
        return ingest.error(400, str(exc))
    if service is not None:
        change = replace(change, service=service)  # the catalog's name, not the sender's alias
    refusal = ingest.change_refusal(change)
    if refusal:
        return ingest.error(400, refusal)
    stored = await ingest.store_change(
        rt,
        source="changes",
        dedup_key=f"{change.external_id[:100]}:{_delivery_key(event)}",
        event_type="change",
        payload=event,
        change=change,
    )
    if stored is None:
        return ingest.duplicate()
    return ingest.change_answer(stored, 202, kind=change.kind.value)
