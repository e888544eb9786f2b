"""POST /webhooks/pagerduty: verify, record under the webhook id, answer, process later."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.domain.model import utcnow
from bot.service import pagerduty_events, pagerduty_payload
from bot.service.runtime import Runtime
from bot.storage import jobs, repo
from bot.storage.tables import Job, PagerDutyLink
from bot.web import ingest
from bot.web.signatures import pagerduty_header_wellformed, pagerduty_valid

log = logging.getLogger(__name__)

MAX_WEBHOOK_ID = 200  # inbound_events.dedup_key


KEY_MARK = "pagerduty.key"  # kind of the row remembering the key of one PagerDuty incident


async def ordering_key(session: AsyncSession, event: dict[str, Any], pd_id: str) -> str:
    """The one key every event of a PagerDuty incident is queued under, decided when the first
    of its events is received: its *service* (`pdsvc:`) when known, so two pages on one service
    never both miss the open incident they should attach to; else the incident (`pd:`).

    The decision is stored in the receiving transaction, as a finished job row under the dedup
    key `pdkey:<id>` (row-locked, so concurrent receives agree). A note that named no service
    and came before its trigger is keyed `pd:<id>`; the trigger then moves that key, and the
    jobs still queued or running under it, to the service: one key, delivery order kept."""
    data = event.get("data") or {}
    service = data.get("service") if isinstance(data, dict) else None
    service_id = service.get("id") if isinstance(service, dict) else None
    if not service_id:  # notes and responder events name only the incident
        service_id = await session.scalar(
            select(PagerDutyLink.service_id).where(PagerDutyLink.pd_incident_id == pd_id)
        )
    wanted = f"pdsvc:{service_id}" if service_id else f"pd:{pd_id}"
    mark = f"pdkey:{pd_id}"[:200]
    stored = select(Job).where(Job.dedup_key == mark).with_for_update()
    row = await session.scalar(stored)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(
                    Job(
                        kind=KEY_MARK,
                        payload={"pd_incident_id": pd_id},
                        status="done",  # never claimed: it only remembers the key
                        ordering_key=wanted,
                        dedup_key=mark,
                        finished_at=utcnow(),
                    )
                )
            return wanted
        except IntegrityError:  # a concurrent receive decided first: use its key
            row = await session.scalar(stored.execution_options(populate_existing=True))
            assert row is not None
    key = row.ordering_key or wanted
    if key.startswith("pd:") and wanted.startswith("pdsvc:"):
        await session.execute(
            update(Job)
            .where(Job.ordering_key == key, Job.status.in_(jobs.ACTIVE))
            .values(ordering_key=wanted)
            .execution_options(synchronize_session=False)
        )
        row.ordering_key = key = wanted
    return key


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
        jobs.add_job(session, "pagerduty.event", {"inbound": row.id}, ordering_key=key)
    rt.worker.wake()
    return JSONResponse({"ok": True, "accepted": event_type}, status_code=202)
