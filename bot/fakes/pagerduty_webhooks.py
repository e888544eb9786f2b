"""Build and sign PagerDuty V3 webhook deliveries to drive the bot in tests and the demo.

Shapes follow PagerDuty/developer-docs docs/webhooks/01-Overview.md (event envelope, the `incident`
and `incident_note` event data types) and 04-Signatures.md (`X-PagerDuty-Signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

API = "https://api.pagerduty.com"
HTML = "https://fake.pagerduty.com"


def ref(kind: str, id: str, summary: str, path: str, html_path: str | None = None) -> dict:
    return {
        "id": id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{API}/{path}/{id}",
        "html_url": f"{HTML}/{html_path or path}/{id}",
    }


def _occurred(dt: datetime | None) -> str:
    dt = (dt or datetime.now(UTC)).astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def incident_data(incident: dict[str, Any]) -> dict[str, Any]:
    """The V3 `incident` event data object for a REST incident (or pass one through)."""
    if "number" in incident and "incident_number" not in incident:
        return dict(incident)
    assignees = [a["assignee"] for a in incident.get("assignments", [])]
    return {
        "id": incident["id"],
        "type": "incident",
        "self": incident["self"],
        "html_url": incident["html_url"],
        "number": incident["incident_number"],
        "status": incident["status"],
        "incident_key": incident.get("incident_key"),
        "created_at": incident["created_at"],
        "title": incident["title"],
        "service": incident["service"],
        "assignees": assignees,
        "escalation_policy": incident.get("escalation_policy"),
        "teams": incident.get("teams", []),
        "priority": incident.get("priority"),
        "urgency": incident.get("urgency", "high"),
        "conference_bridge": incident.get("conference_bridge"),
        "resolve_reason": incident.get("resolve_reason"),
    }


def webhook_event(
    event_type: str,
    incident: dict[str, Any],
    *,
    agent: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    data_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A V3 webhook body: ``{"event": {id, event_type, resource_type, occurred_at, agent, client,
    data}}``. For ``incident.annotated`` data is an ``incident_note`` (pass the note text as
    ``data_extra={"content": ...}``); otherwise the ``incident`` data object."""
    data_inc = incident_data(incident)
    if event_type == "incident.annotated":
        data: dict[str, Any] = {
            "incident": {
                "html_url": data_inc["html_url"],
                "id": data_inc["id"],
                "self": data_inc["self"],
                "summary": data_inc["title"],
                "type": "incident_reference",
            },
            "id": "P" + uuid.uuid4().hex[:6].upper(),
            "content": "",
            "trimmed": False,
            "type": "incident_note",
        }
    else:
        data = data_inc
    data.update(data_extra or {})
    if agent is None:
        if event_type == "incident.triggered":
            agent = data_inc["service"]
        elif data_inc.get("assignees"):
            agent = data_inc["assignees"][0]
        else:
            agent = ref("user", "PFAKEUSR", "Fake Responder", "users")
    return {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": _occurred(occurred_at),
            "agent": agent,
            "client": {"name": "PagerDuty"},
            "data": data,
        }
    }


def webhook_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def sign_webhook(body: bytes, secrets: list[str]) -> str:
    """``X-PagerDuty-Signature``: ``v1=<hex HMAC-SHA256(secret, body)>`` per secret, comma-joined."""
    return ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets
    )


def webhook_headers(
    body: bytes, secrets: list[str], *, webhook_id: str | None = None
) -> dict[str, str]:
    """Headers PagerDuty sends with a delivery. `X-Webhook-Id` is the same on every delivery
    attempt of one webhook (02-Behavior.md): pass the same `webhook_id` to simulate a redelivery."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-PagerDuty-Signature": sign_webhook(body, secrets),
        "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Webhook-Subscription": "PFAKESUB",
    }
