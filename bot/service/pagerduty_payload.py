"""Reading PagerDuty V3 webhook events: which incident, the timeline key, who, the severity.

Pure reads of the event body (and the catalog's priority_map): no I/O. Every reader is total:
whatever the body holds (another type, a huge number, an odd timestamp), it answers a value of
its declared type and never raises. `event_problem` is what the web route checks before it
stores an event, so the job that applies it later reads only fields of the expected types.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import datetime
from typing import Any

from bot.domain.json_values import text_problem
from bot.domain.model import Severity
from bot.service.runtime import Runtime
from integrations._common import parse_timestamp

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
INT32 = 2**31 - 1  # pagerduty_links.pd_number
# PagerDuty ids are short ASCII ("PGR0VU2"); the columns that hold them are String(40).
MAX_ID = 40


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(obj: Any, key: str) -> str | None:
    """obj[key] when obj is a dict and that is a non-empty string, else None."""
    value = _dict(obj).get(key)
    return value if isinstance(value, str) and value else None


def _id_problem(value: str) -> str | None:
    if len(value) > MAX_ID:
        return f"is longer than {MAX_ID} characters"
    if not value.isprintable() or text_problem(value):
        return "holds control characters or invalid Unicode"
    return None


def pd_incident_id(event: dict[str, Any]) -> str | None:
    """The PagerDuty incident an event is about: data itself, or data.incident (notes,
    responders, status updates). None for a body of another shape or an unusable id."""
    data = _dict(_dict(event).get("data"))
    found = data.get("id") if data.get("type") == "incident" else None
    if found is None and isinstance(data.get("incident"), dict):
        found = data["incident"].get("id")
    if not isinstance(found, str) or not found or _id_problem(found):
        return None
    return found


def source_key(event: dict[str, Any]) -> str:
    """What an event puts on the timeline is keyed by this, so it lands once. Notes are keyed
    by the PagerDuty note id: a note we wrote ourselves is already there under that key."""
    event = _dict(event)
    data = _dict(event.get("data"))
    if event.get("event_type") == "incident.annotated" and data.get("id"):
        return note_key(str(data["id"]))[:200]
    return f"pd:{event.get('id')}"[:200]


def note_key(note_id: str) -> str:
    return f"pd-note:{note_id}"


def agent(event: dict[str, Any]) -> str:
    """Who did it, as PagerDuty names them; "PagerDuty" when the event names no one."""
    return text(_dict(event).get("agent"), "summary") or "PagerDuty"


def occurred_at(event: dict[str, Any]) -> datetime | None:
    """When PagerDuty says it happened; None when the event says nothing usable."""
    try:
        return parse_timestamp(_dict(event).get("occurred_at"), field="event.occurred_at")
    except ValueError:
        return None


def created_at(data: dict[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(_dict(data).get("created_at"), field="data.created_at")
    except ValueError:
        return None


def number(data: dict[str, Any]) -> int | None:
    """The PagerDuty incident number, when it is one a database column holds."""
    value = _dict(data).get("number")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT32:
        return value
    return None


def assignees(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The user references in data.assignees (anything else in the list is skipped)."""
    found = _dict(data).get("assignees")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def assignee_names(data: dict[str, Any]) -> list[str]:
    return [name for a in assignees(data) if (name := text(a, "summary"))]


def priority_name(data: dict[str, Any]) -> str | None:
    return text(_dict(data).get("priority"), "summary")


def mapped_severity(rt: Runtime, data: dict[str, Any]) -> Severity | None:
    priority = priority_name(data)
    mapped = rt.config.priority_map.get(priority) if priority else None
    if mapped is None:
        return None
    try:
        return Severity.parse(mapped)
    except ValueError:
        return None


def severity_for(rt: Runtime, data: dict[str, Any]) -> Severity:
    mapped = mapped_severity(rt, data)
    if mapped is not None:
        return mapped
    return Severity.SEV2 if _dict(data).get("urgency") == "high" else Severity.SEV3


# ---- what the web route refuses before storing ------------------------------------------------

# (where, key, type): a field the jobs read must be absent, null or of this type.
_FIELDS: tuple[tuple[str, str, type[Sized]], ...] = (
    ("event", "agent", dict),
    ("event", "occurred_at", str),
    ("data", "type", str),
    ("data", "title", str),
    ("data", "html_url", str),
    ("data", "urgency", str),
    ("data", "created_at", str),
    ("data", "service", dict),
    ("data", "priority", dict),
    ("data", "assignees", list),
    ("data", "incident", dict),
    ("data", "user", dict),
    ("data", "state", str),
    ("data", "message", str),
    ("data", "content", str),
    ("agent", "summary", str),
    ("service", "id", str),
    ("priority", "summary", str),
    ("user", "id", str),
    ("user", "summary", str),
    ("incident", "id", str),
)
_LIMITS = {("data", "html_url"): 500, ("data", "urgency"): 20, ("agent", "summary"): 120}
_PATHS = {
    "event": "event",
    "data": "event.data",
    "agent": "event.agent",
    "service": "event.data.service",
    "priority": "event.data.priority",
    "user": "event.data.user",
    "incident": "event.data.incident",
}
_ARTICLES: dict[type[Sized], str] = {dict: "an object", list: "a list", str: "a string"}


def _objects(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    data = _dict(event.get("data"))
    return {
        "event": event,
        "data": data,
        "agent": _dict(event.get("agent")),
        "service": _dict(data.get("service")),
        "priority": _dict(data.get("priority")),
        "user": _dict(data.get("user")),
        "incident": _dict(data.get("incident")),
    }


def event_problem(event: dict[str, Any]) -> str | None:
    """Why a handled event cannot be applied (a field of the wrong type, an unusable id or
    timestamp, a number out of range); None when it can. The reason names the field."""
    objects = _objects(event)
    for where, key, kind in _FIELDS:
        value = objects[where].get(key)
        name = f"{_PATHS[where]}.{key}"
        if value is None:
            continue
        if not isinstance(value, kind):
            return f"{name} must be {_ARTICLES[kind]}"
        limit = _LIMITS.get((where, key))
        if limit and len(value) > limit:
            return f"{name} is longer than {limit} characters"
    data = objects["data"]
    ids = [
        ("event.id", event.get("id")),
        ("event.data.id", data.get("id")),
        ("event.data.service.id", objects["service"].get("id")),
        ("event.data.incident.id", objects["incident"].get("id")),
    ]
    for where, value in ids:
        if value is None:
            continue
        problem = _id_problem(value) if isinstance(value, str) else "must be a string"
        if problem:
            return f"{where} {problem}"
    value = data.get("number")
    if value is not None and number(data) is None:
        return "event.data.number must be a non-negative 32-bit integer"
    stamps = [("event.occurred_at", event.get("occurred_at"))]
    stamps.append(("event.data.created_at", data.get("created_at")))
    for where, stamp in stamps:
        if stamp is not None:
            try:
                parse_timestamp(stamp, field=where)
            except ValueError as exc:
                return str(exc)
    if any(not isinstance(a, dict) for a in data.get("assignees") or ()):
        return "event.data.assignees must be a list of objects"
    for index, ref in enumerate(assignees(data)):
        for key in ("id", "summary", "type"):
            if ref.get(key) is not None and not isinstance(ref[key], str):
                return f"event.data.assignees[{index}].{key} must be a string"
    return None
