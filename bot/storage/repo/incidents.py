"""Incidents: create, look up (by number, channel, PagerDuty id), PagerDuty links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import IncidentView, Severity, Stage, Status, utcnow
from bot.domain.similar import PastIncident
from bot.storage.inserts import insert_new
from bot.storage.tables import ActionRunRow, Incident, PagerDutyLink, StageSpanRow, text_length


def to_view(row: Incident) -> IncidentView:
    return IncidentView(
        number=row.id,
        title=row.title,
        severity=Severity(row.severity),
        status=Status(row.status),
        stage=Stage(row.stage),
        opened_at=row.opened_at,
        service=row.service,
        environment=row.environment,
        pd_incident_id=row.pd_incident_id,
        pd_url=row.pd_url,
        urgency=row.urgency,
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        acknowledged_at=row.acknowledged_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        first_alert_at=row.first_alert_at,
        summary=row.summary,
        impact=row.impact,
        root_cause=row.root_cause,
        roles=dict(row.roles or {}),
        is_drill=row.is_drill,
    )


async def create_incident(session: AsyncSession, **fields: Any) -> Incident:
    now = fields.pop("opened_at", None) or utcnow()
    row = Incident(opened_at=now, stage=Stage.OBSERVE.value, status="triggered", **fields)
    if row.first_alert_at is None:
        row.first_alert_at = now
    session.add(row)
    await session.flush()
    session.add(StageSpanRow(incident_id=row.id, stage="observe", iteration=1, started_at=now))
    return row


async def get_incident(
    session: AsyncSession, number: int, *, lock: bool = False
) -> Incident | None:
    query = select(Incident).where(Incident.id == number)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def incident_by_channel(session: AsyncSession, channel_id: str) -> Incident | None:
    query = select(Incident).where(Incident.channel_id == channel_id)
    return (await session.scalars(query)).first()


async def incident_by_pagerduty(session: AsyncSession, pd_incident_id: str) -> Incident | None:
    query = (
        select(Incident)
        .join(PagerDutyLink, PagerDutyLink.incident_id == Incident.id)
        .where(PagerDutyLink.pd_incident_id == pd_incident_id)
    )
    return (await session.scalars(query)).first()


async def active_incidents(session: AsyncSession) -> list[Incident]:
    query = select(Incident).where(Incident.status != "resolved").order_by(Incident.id)
    return list((await session.scalars(query)).all())


async def open_incident_on_pagerduty_service(
    session: AsyncSession, service_id: str, since: datetime
) -> Incident | None:
    """The oldest open incident on this PagerDuty service opened since `since`."""
    query = (
        select(Incident)
        .where(
            Incident.pd_service_id == service_id,
            Incident.status != Status.RESOLVED.value,
            Incident.opened_at >= since,
        )
        .order_by(Incident.id)
    )
    return (await session.scalars(query)).first()


async def resolved_incidents_since(
    session: AsyncSession, since: datetime, *, excluding: int
) -> list[PastIncident]:
    """Resolved incidents (drills excluded) opened since `since`, each with the title of an
    action that fixed it (verified), for the "similar incidents" hint."""
    rows = (
        await session.scalars(
            select(Incident).where(
                Incident.id != excluding,
                Incident.status == Status.RESOLVED.value,
                Incident.opened_at >= since,
                Incident.is_drill.is_(False),
            )
        )
    ).all()
    past = []
    for r in rows:
        fixed = (
            await session.scalars(
                select(ActionRunRow.title).where(
                    ActionRunRow.incident_id == r.id, ActionRunRow.verify_passed.is_(True)
                )
            )
        ).first()
        past.append(
            PastIncident(
                r.id, r.title, r.service, r.opened_at, r.resolved_at, r.mitigated_at, fixed
            )
        )
    return past


async def link_pagerduty(session: AsyncSession, incident_id: int, **fields: Any) -> bool:
    """Attach a PagerDuty incident; False when it is already linked (a redelivery). A title
    longer than its column (PagerDuty allows longer ones) is clipped, not refused."""
    title = fields.get("title")
    if isinstance(title, str):
        fields["title"] = title[: text_length(PagerDutyLink, "title")]
    linked = await insert_new(
        session, PagerDutyLink, ("pd_incident_id",), incident_id=incident_id, **fields
    )
    return linked is not None


async def move_or_link_pagerduty(session: AsyncSession, incident_id: int, **fields: Any) -> None:
    """Link a PagerDuty incident to this one, taking it from the incident it was attached to."""
    query = select(PagerDutyLink).where(PagerDutyLink.pd_incident_id == fields["pd_incident_id"])
    existing = (await session.scalars(query)).first()
    if existing is None:
        await link_pagerduty(session, incident_id, **fields)
    else:
        existing.incident_id = incident_id


async def pagerduty_service_id(session: AsyncSession, pd_incident_id: str) -> str | None:
    """The PagerDuty service of a linked PagerDuty incident (None when unlinked or unknown)."""
    query = select(PagerDutyLink.service_id).where(PagerDutyLink.pd_incident_id == pd_incident_id)
    return await session.scalar(query)


async def pagerduty_links(session: AsyncSession, incident_id: int) -> list[PagerDutyLink]:
    query = select(PagerDutyLink).where(PagerDutyLink.incident_id == incident_id)
    return list((await session.scalars(query.order_by(PagerDutyLink.id))).all())
