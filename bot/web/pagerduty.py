"""POST /webhooks/pagerduty: verify, record under the webhook id, answer, process later."""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.service import pagerduty_events
from bot.service.runtime import Runtime
from bot.storage import jobs, repo
from bot.web.signatures import pagerduty_header_wellformed, pagerduty_valid

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024


def error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, or None when it is larger than the limit (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    body = await read_body(request)
    if body is None:
        return error(413, "body larger than 2 MB")
    header = request.headers.get("x-pagerduty-signature")
    if not rt.settings.pagerduty_secrets:
        return error(403, "PAGERDUTY_WEBHOOK_SECRETS is not configured")
    if header is None:
        return error(401, "missing X-PagerDuty-Signature")
    if not pagerduty_header_wellformed(header):
        return error(400, "X-PagerDuty-Signature must be comma-separated v1=<hex> values")
    if not pagerduty_valid(header, body, rt.settings.pagerduty_secrets):
        return error(403, "signature does not match")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return error(400, f"body is not valid JSON: {exc}")
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        return error(400, "expected a V3 webhook body with event.event_type")
    event_type = event["event_type"]
    if event_type not in pagerduty_events.HANDLED:
        log.debug("PagerDuty event %s ignored", event_type)
        return JSONResponse({"ok": True, "ignored": event_type})
    pd_id = pagerduty_events.pd_incident_id(event)
    if not pd_id:
        return error(400, f"{event_type} without an incident id in event.data")
    dedup = request.headers.get("x-webhook-id") or str(event.get("id") or "")
    if not dedup:
        return error(400, "no X-Webhook-Id header and no event.id")
    async with rt.db.transaction() as session:
        row = await repo.record_inbound(session, "pagerduty", dedup, event_type, payload)
        if row is None:
            return JSONResponse({"ok": True, "duplicate": True})
        await session.flush()
        jobs.add_job(session, "pagerduty.event", {"inbound": row.id}, ordering_key=f"pd:{pd_id}")
    rt.worker.wake()
    return JSONResponse({"ok": True, "accepted": event_type}, status_code=202)
