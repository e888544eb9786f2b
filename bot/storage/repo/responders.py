"""What the database knows about who responds to an incident (see bot.service.authz)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import TimelineKind
from bot.storage.tables import Incident, OutboxRow, TimelineRow

# Entries whose actor is not someone acting on the incident: a pinned message's author, a
# PagerDuty user (named as PagerDuty names them), the bot itself.
NOT_ACTS = (
    TimelineKind.PINNED,
    TimelineKind.PAGERDUTY,
    TimelineKind.ALERT,
    TimelineKind.CONTEXT,
    TimelineKind.VERIFY,
)


async def responder_evidence(session: AsyncSession, number: int, user: str) -> str | None:
    """Why the database counts `user` as a responder of the incident, or None: "declared",
    "role", "invited" (the bot invited them to its channel) or "acted" (on its timeline)."""
    incident = await session.get(Incident, number)
    if incident is None:
        return None
    if incident.declared_by == user:
        return "declared"
    if user in (incident.roles or {}).values():
        return "role"
    invites = await session.scalars(
        select(OutboxRow.payload).where(OutboxRow.incident_id == number, OutboxRow.op == "invite")
    )
    if any(user in (payload or {}).get("users", []) for payload in invites):
        return "invited"
    acted = await session.scalar(
        select(TimelineRow.id)
        .where(
            TimelineRow.incident_id == number,
            TimelineRow.actor == user,
            TimelineRow.kind.not_in([k.value for k in NOT_ACTS]),
            # PagerDuty's own entries name PagerDuty users; a note sent from Slack keeps its
            # Slack key in data even once it takes PagerDuty's key.
            or_(
                TimelineRow.source_key.is_(None),
                TimelineRow.source_key.not_like("pd%"),
                TimelineRow.data["slack"].as_string().is_not(None),
            ),
        )
        .limit(1)
    )
    return "acted" if acted is not None else None
