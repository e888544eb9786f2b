"""POST /webhooks/pagerduty: verify, record under the webhook id, answer, process later."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.domain.jobs import JobKind
from bot.service import pagerduty_events, pagerduty_payload
from bot.service.runtime import Runtime
from bot.storage import jobs, repo
from bot.web import ingest
from bot.web.signatures import pagerduty_header_wellformed, pagerduty_valid

log = logging.getLogger(__name__)

MAX_WEBHOOK_ID = 200  # inbound_events.dedup_key


async def ordering_key(session: AsyncSession, event: dict[str, Any], pd_id: str) -> str:
    """The one key every event of a PagerDuty incident is queued under: its service when the
    event (or the link) names one, else the incident (`repo.pagerduty_ordering_key`)."""
    data = event.get("data") or {}
    service = data.get("service") if isinstance(data, dict) else None
    service_id = service.get("id") if isinstance(service, dict) else None
    return await repo.pagerduty_ordering_key(session, pd_id, service_id or None)


async def receive(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    body = await ingest.read_body(request)
    if body is None:
        return ingest.error(413, ingest.TOO_LARGE)
    header = request.headers.get("x-pagerduty-signature")
    if not rt.settings.pagerduty_secrets:
        return ingest.not_configured("PAGERDUTY_WEBHOOK_SECRETS")
    if header is None:
        return ingest.error(401, "missing X-PagerDuty-Signature")
    if not pagerduty_header_wellformed(header):
        return ingest.error(400, "X-PagerDuty-Signature must be comma-separated v1=<hex> values")
    if not pagerduty_valid(header, body, rt.settings.pagerduty_secrets):
        return ingest.error(403, "signature does not match")
    payload = ingest.parse_json(body)
    if isinstance(payload, JSONResponse):
        return payload
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        return ingest.error(400, "expected a V3 webhook body with event.event_type")
    event_type = event["event_type"]
    if event_type not in pagerduty_events.HANDLED:
        log.debug("PagerDuty event %r ignored", event_type)
        return JSONResponse({"ok": True, "ignored": ingest.shown(event_type)})
    pd_id = pagerduty_events.pd_incident_id(event)
    problem = pagerduty_payload.event_problem(event)
    if not pd_id:
        why = f" ({problem})" if problem else ""
        return ingest.error(400, f"{event_type} without an incident id in event.data{why}")
    if problem:
        return ingest.error(400, problem)
    dedup = request.headers.get("x-webhook-id") or str(event.get("id") or "")
    if not dedup:
        return ingest.error(400, "no X-Webhook-Id header and no event.id")
    if len(dedup) > MAX_WEBHOOK_ID:
        return ingest.error(400, f"X-Webhook-Id is longer than {MAX_WEBHOOK_ID} characters")
    async with rt.db.transaction() as session:
        row = await repo.record_inbound(session, "pagerduty", dedup, event_type, payload)
        if row is None:
            return ingest.duplicate()
        await session.flush()
        key = await ordering_key(session, event, pd_id)
        jobs.add_job(session, JobKind.PAGERDUTY_EVENT, {"inbound": row.id}, ordering_key=key)
    return JSONResponse({"ok": True, "accepted": event_type}, status_code=202)
