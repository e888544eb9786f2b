"""Reading PagerDuty V3 webhook events: which incident, the timeline key, who, the severity.

Pure reads of the event body (and the catalog's priority_map): no I/O.
"""

from __future__ import annotations

from typing import Any

from bot.domain.model import Severity
from bot.service.runtime import Runtime

HANDLED = {
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
    "incident.priority_updated",
    "incident.annotated",
    "incident.responder.added",
    "incident.responder.replied",
    "incident.status_update_published",
}
ASSIGNING = {"incident.escalated", "incident.reassigned", "incident.delegated"}


def pd_incident_id(event: dict[str, Any]) -> str | None:
    """The PagerDuty incident an event is about: data itself, or data.incident (notes,
    responders, status updates). None for a body of another shape."""
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    found = data.get("id") if data.get("type") == "incident" else None
    if found is None and isinstance(data.get("incident"), dict):
        found = data["incident"].get("id")
    return found if isinstance(found, str) and found else None


def source_key(event: dict[str, Any]) -> str:
    """What an event puts on the timeline is keyed by this, so it lands once. Notes are keyed
    by the PagerDuty note id: a note we wrote ourselves is already there under that key."""
    data = event.get("data") or {}
    if event.get("event_type") == "incident.annotated" and data.get("id"):
        return note_key(str(data["id"]))
    return f"pd:{event.get('id')}"


def note_key(note_id: str) -> str:
    return f"pd-note:{note_id}"


def agent(event: dict[str, Any]) -> str:
    """Who did it, as PagerDuty names them; "PagerDuty" when the event names no one."""
    ref = event.get("agent") or {}
    return ref.get("summary") or "PagerDuty"


def mapped_severity(rt: Runtime, data: dict[str, Any]) -> Severity | None:
    priority = (data.get("priority") or {}).get("summary")
    if priority and priority in rt.config.priority_map:
        return Severity.parse(rt.config.priority_map[priority])
    return None


def severity_for(rt: Runtime, data: dict[str, Any]) -> Severity:
    mapped = mapped_severity(rt, data)
    if mapped is not None:
        return mapped
    return Severity.SEV2 if data.get("urgency") == "high" else Severity.SEV3
