"""PagerDuty account state behind FakePagerDuty: users, incidents, alerts, log entries, on-calls."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.fakes._common import iso, random_id, run_hook, utcnow
from bot.fakes.pagerduty_webhooks import API, HTML, ref, sign_webhook, webhook_event


class PagerDutyData:
    """Mixin holding the fake account. All access goes through `self._lock`."""

    _lock: threading.RLock

    def _init_data(self) -> None:
        self._incidents: dict[str, dict[str, Any]] = {}
        self._alerts: dict[str, list[dict[str, Any]]] = {}
        self._log: dict[str, list[dict[str, Any]]] = {}
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._changes: dict[str, list[dict[str, Any]]] = {}
        self._oncalls: list[dict[str, Any]] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._services: dict[str, dict[str, Any]] = {}
        self.webhook_subscriptions: list[dict[str, Any]] = []
        self.on_status_change: Callable[[dict[str, Any]], None] | None = None

    def add_user(self, id: str, name: str, email: str) -> dict[str, Any]:
        user = {
            **ref("user", id, name, "users"),
            "type": "user",
            "name": name,
            "email": email,
            "time_zone": "Etc/UTC",
            "role": "user",
            "job_title": "",
            "teams": [],
            "contact_methods": [],
        }
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_service(self, id: str, name: str | None = None) -> dict[str, Any]:
        """A service of the account (GET /services/{id}); an incident's service is one too."""
        service = {
            **ref("service", id, name or id, "services", "service-directory"),
            "type": "service",
            "name": name or id,
            "status": "active",
        }
        with self._lock:
            self._services.setdefault(id, service)
            return copy.deepcopy(self._services[id])

    def _user_ref(self, user: dict[str, Any]) -> dict[str, Any]:
        known = self._users.get(user["id"], {})
        summary = user.get("summary") or user.get("name") or known.get("name") or user["id"]
        return ref("user", user["id"], summary, "users")

    def add_incident(
        self,
        id: str = "PABC123",
        *,
        number: int,
        title: str,
        service_id: str,
        service_name: str,
        urgency: str = "high",
        status: str = "triggered",
        created_at: datetime | None = None,
        assignees: list[dict[str, Any]] | None = None,
        escalation_policy_id: str = "PEP1",
        priority: str | None = None,
    ) -> dict[str, Any]:
        created = iso(created_at or utcnow())
        self.add_service(service_id, service_name)
        with self._lock:
            assignments = [
                {"at": created, "assignee": self._user_ref(a)} for a in (assignees or [])
            ]
            inc: dict[str, Any] = {
                "id": id,
                "type": "incident",
                "summary": f"[#{number}] {title}",
                "self": f"{API}/incidents/{id}",
                "html_url": f"{HTML}/incidents/{id}",
                "incident_number": number,
                "title": title,
                "created_at": created,
                "updated_at": created,
                "status": status,
                "incident_key": uuid.uuid4().hex,
                "service": ref(
                    "service", service_id, service_name, "services", "service-directory"
                ),
                "assignments": assignments,
                "assigned_via": "escalation_policy",
                "last_status_change_at": created,
                "last_status_change_by": ref("service", service_id, service_name, "services"),
                "resolved_at": None,
                "first_trigger_log_entry": None,
                "is_mergeable": True,
                "incident_type": {"name": "incident_default"},
                "escalation_policy": ref(
                    "escalation_policy", escalation_policy_id, "Default", "escalation_policies"
                ),
                "teams": [],
                "pending_actions": [],
                "acknowledgements": [],
                "alert_grouping": None,
                "priority": None,
                "resolve_reason": None,
                "conference_bridge": None,
                "incidents_responders": [],
                "responder_requests": [],
                "urgency": urgency,
            }
            if priority:
                inc["priority"] = {
                    **ref("priority", "PPRI" + priority.upper(), priority, "priorities"),
                    "html_url": f"{HTML}/account/incident_priorities",
                }
            self._incidents[id] = inc
            for bucket in (self._alerts, self._log, self._notes, self._changes):
                bucket.setdefault(id, [])
            entry = self.add_log_entry(
                id,
                type="trigger_log_entry",
                summary="Triggered through the API",
                created_at=created_at or utcnow(),
            )
            inc["first_trigger_log_entry"] = {
                k: entry[k] for k in ("id", "summary", "self", "html_url")
            } | {"type": "trigger_log_entry_reference"}
            return self.incident(id)

    def incident(self, id: str) -> dict[str, Any]:
        """The incident as GET /incidents/{id} renders it (alert_counts computed)."""
        with self._lock:
            inc = copy.deepcopy(self._find(id))
            if inc is None:
                raise KeyError(id)
            alerts = self._alerts.get(inc["id"], [])
            triggered = sum(a["status"] == "triggered" for a in alerts)
            inc["alert_counts"] = {
                "all": len(alerts),
                "triggered": triggered,
                "resolved": len(alerts) - triggered,
            }
            return inc

    def _find(self, id_or_number: str) -> dict[str, Any] | None:
        if id_or_number in self._incidents:
            return self._incidents[id_or_number]
        return next(
            (i for i in self._incidents.values() if str(i["incident_number"]) == id_or_number),
            None,
        )

    def add_alert(
        self,
        incident_id: str,
        *,
        summary: str,
        created_at: datetime | None = None,
        status: str = "triggered",
        severity: str = "critical",
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            inc = self._incidents[incident_id]
            alert_id = random_id("Q", 13)
            alert = {
                "id": alert_id,
                "type": "alert",
                "summary": summary,
                "self": f"{API}/incidents/{incident_id}/alerts/{alert_id}",
                "html_url": f"{HTML}/alerts/{alert_id}",
                "created_at": iso(created_at or utcnow()),
                "status": status,
                "alert_key": uuid.uuid4().hex,
                "service": inc["service"],
                "body": {"type": "alert_body", "contexts": [], "details": details or {}},
                "incident": {"id": incident_id, "type": "incident_reference"},
                "suppressed": False,
                "severity": severity,
                "integration": {
                    "id": "PINTEG1",
                    "type": "events_api_v2_inbound_integration_reference",
                },
            }
            self._alerts[incident_id].append(alert)
            self._alerts[incident_id].sort(key=lambda a: a["created_at"])
            return copy.deepcopy(alert)

    def alerts(self, incident_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._alerts.get(incident_id, []))

    def resolve_alerts(self, incident_id: str, *, resolve_incident: bool = True) -> dict[str, Any]:
        """Resolve every alert; like PagerDuty, the incident then resolves too (unless told not)."""
        with self._lock:
            for alert in self._alerts[incident_id]:
                alert["status"] = "resolved"
            inc = self._incidents[incident_id]
            if resolve_incident and inc["status"] != "resolved":
                self._set_status(inc, "resolved", inc["service"], "Resolved: all alerts resolved")
            return self.incident(incident_id)

    def set_status(self, incident_id: str, status: str, *, by: str | None = None) -> dict:
        """Change status as if someone did it in PagerDuty (no HTTP call, no From check)."""
        with self._lock:
            inc = self._incidents[incident_id]
            agent = self._user_ref({"id": by}) if by else ref("user", "PFAKEUSR", "Fake", "users")
            self._set_status(inc, status, agent, f"{status.capitalize()} in PagerDuty")
            return self.incident(incident_id)

    def _set_status(self, inc: dict[str, Any], status: str, agent: dict, summary: str) -> None:
        now = iso(utcnow())
        inc.update(status=status, updated_at=now, last_status_change_at=now)
        inc["last_status_change_by"] = agent
        if status == "acknowledged":
            inc["acknowledgements"].append({"at": now, "acknowledger": agent})
        if status == "resolved":
            inc["resolved_at"] = now
            inc["assignments"] = []
        kind = {"acknowledged": "acknowledge", "resolved": "resolve"}.get(status, "trigger")
        self.add_log_entry(inc["id"], type=f"{kind}_log_entry", summary=summary, agent=agent)
        run_hook(self.on_status_change, {"incident_id": inc["id"], "status": status})

    def add_log_entry(
        self,
        incident_id: str,
        *,
        type: str = "annotate_log_entry",
        summary: str,
        created_at: datetime | None = None,
        agent: dict[str, Any] | None = None,
        channel: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            inc = self._incidents[incident_id]
            entry_id = random_id("R", 14)
            entry: dict[str, Any] = {
                "id": entry_id,
                "type": type,
                "summary": summary,
                "self": f"{API}/log_entries/{entry_id}?incident_id={incident_id}",
                "html_url": f"{HTML}/incidents/{incident_id}/log_entries/{entry_id}",
                "created_at": iso(created_at or utcnow()),
                "agent": agent or inc["service"],
                "channel": channel or {"type": "api"},
                "incident": {k: inc[k] for k in ("id", "summary", "self", "html_url")}
                | {"type": "incident_reference"},
                "teams": [],
                "contexts": [],
                "event_details": {"description": summary},
            }
            self._log[incident_id].append(entry)
            self._log[incident_id].sort(key=lambda e: e["created_at"])
            return entry

    def notes(self, incident_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._notes.get(incident_id, []))

    def add_change_event(
        self,
        incident_id: str,
        *,
        summary: str,
        timestamp: datetime,
        source: str = "fake-ci",
        custom_details: dict[str, Any] | None = None,
        links: list[dict[str, str]] | None = None,
        reason: str = "most_recent",
    ) -> dict[str, Any]:
        with self._lock:
            inc = self._incidents[incident_id]
            change = {
                "summary": summary,
                "id": random_id("01", 24),
                "timestamp": iso(timestamp),
                "type": "change_event",
                "source": source,
                "integration": {"id": "PCHANGE", "type": "inbound_integration_reference"},
                "services": [{"id": inc["service"]["id"], "type": "service_reference"}],
                "custom_details": custom_details or {},
                "links": links or [],
                "correlation_reason": {"reason": reason},
            }
            self._changes[incident_id].append(change)
            return copy.deepcopy(change)

    def add_oncall(
        self,
        user_id: str,
        *,
        escalation_policy_id: str = "PEP1",
        escalation_level: int = 1,
        schedule_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            oncall = {
                "escalation_policy": ref(
                    "escalation_policy", escalation_policy_id, "Default", "escalation_policies"
                ),
                "escalation_level": escalation_level,
                "schedule": ref("schedule", schedule_id, "Primary", "schedules")
                if schedule_id
                else None,
                "user": self._user_ref({"id": user_id}),
                "start": iso(start),
                "end": iso(end),
            }
            self._oncalls.append(oncall)
            return copy.deepcopy(oncall)

    def webhook_event(self, event_type: str, incident_id: str, **kwargs: Any) -> dict[str, Any]:
        """`webhook_event()` for the incident's current state in this fake."""
        return webhook_event(event_type, self.incident(incident_id), **kwargs)

    sign_webhook = staticmethod(sign_webhook)
