"""PagerDuty REST API v2 client and the mapping of related change events to domain Changes."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import quote

import httpx

from bot.domain.model import Change, ChangeKind, ChangeStatus
from integrations._common import first_link, infer_kind, parse_timestamp, text_of
from integrations.http import ApiClient, UpstreamError

PAGE_LIMIT = 100
# Documented PagerDuty error codes: 1001 "Incident Already Resolved",
# 1002 "Incident Already Acknowledged". Both mean the state we wanted already holds.
ALREADY_DONE_CODES = frozenset({1001, 1002})
_ALREADY_DONE = re.compile(r"already (resolved|acknowledged)", re.IGNORECASE)

# Every incident event type v3 webhooks document (developer-docs webhooks/01-Overview.md).
INCIDENT_EVENTS: tuple[str, ...] = (
    "incident.acknowledged",
    "incident.annotated",
    "incident.delegated",
    "incident.escalated",
    "incident.priority_updated",
    "incident.reassigned",
    "incident.reopened",
    "incident.resolved",
    "incident.responder.added",
    "incident.responder.replied",
    "incident.status_update_published",
    "incident.triggered",
    "incident.unacknowledged",
)


def _id(value: str) -> str:
    # Ids are path segments; quoting keeps a stray "/" or "?" from changing the route.
    return quote(value, safe="")


class PagerDutyClient(ApiClient):
    vendor = "PagerDuty"

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://api.pagerduty.com",
        from_email: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
    ) -> None:
        super().__init__(
            base_url,
            {
                "Authorization": f"Token token={token}",
                "Accept": "application/vnd.pagerduty+json;version=2",
                "Content-Type": "application/json",
            },
            timeout=timeout,
            transport=transport,
            backoff=backoff,
            secret=token,
        )
        self._from_email = from_email

    def _from_header(self, action: str) -> dict[str, str]:
        # PagerDuty attributes incident writes to the user named in From and rejects them without.
        if not self._from_email:
            raise ValueError(
                f"PagerDuty {action} needs a From user: set PAGERDUTY_FROM_EMAIL "
                "(the email of a PagerDuty user the bot acts as)"
            )
        return {"From": self._from_email}

    async def _paginate(
        self, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Follow classic offset pagination until `more` is false."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            query = {**(params or {}), "limit": PAGE_LIMIT, "offset": offset}
            body = await self._json("GET", path, params=query)
            page = body.get(key) or []
            items.extend(page)
            # An empty page with more=true would loop forever; stop instead.
            if not body.get("more") or not page:
                return items
            offset += len(page)

    async def get_incident(self, incident_id: str) -> dict[str, Any]:
        body = await self._json("GET", f"/incidents/{_id(incident_id)}")
        return body["incident"]

    async def abilities(self) -> list[str]:
        """What the account may use; any valid key may read it, so it checks the token."""
        body = await self._json("GET", "/abilities")
        return [str(a) for a in body.get("abilities") or []]

    async def get_service(self, service_id: str) -> dict[str, Any]:
        body = await self._json("GET", f"/services/{_id(service_id)}")
        return body["service"]

    async def list_alerts(self, incident_id: str) -> list[dict[str, Any]]:
        return await self._paginate(f"/incidents/{_id(incident_id)}/alerts", "alerts")

    async def list_log_entries(self, incident_id: str) -> list[dict[str, Any]]:
        return await self._paginate(f"/incidents/{_id(incident_id)}/log_entries", "log_entries")

    async def update_status(
        self, incident_id: str, status: Literal["acknowledged", "resolved"]
    ) -> dict[str, Any]:
        """Acknowledge or resolve. Returns {} when PagerDuty says it already is.

        Note: PUT with "acknowledged" on a *resolved* incident reopens it (PagerDuty API
        reference); callers should not acknowledge incidents they know are resolved.
        """
        if status not in ("acknowledged", "resolved"):
            raise ValueError(f"status must be 'acknowledged' or 'resolved', got {status!r}")
        headers = self._from_header(f"update_status({status})")
        payload = {"incident": {"type": "incident_reference", "status": status}}
        try:
            body = await self._json(
                "PUT", f"/incidents/{_id(incident_id)}", json=payload, headers=headers
            )
        except UpstreamError as exc:
            if _already_done(exc):
                return {}
            raise
        return body.get("incident", {})

    async def create_note(self, incident_id: str, content: str) -> dict[str, Any]:
        headers = self._from_header("create_note")
        body = await self._json(
            "POST",
            f"/incidents/{_id(incident_id)}/notes",
            json={"note": {"content": content}},
            headers=headers,
        )
        return body["note"]

    async def escalate(self, incident_id: str, escalation_level: int) -> dict[str, Any]:
        if escalation_level < 1:
            raise ValueError("escalation_level starts at 1")
        headers = self._from_header("escalate")
        payload = {"incident": {"type": "incident_reference", "escalation_level": escalation_level}}
        body = await self._json(
            "PUT", f"/incidents/{_id(incident_id)}", json=payload, headers=headers
        )
        return body.get("incident", {})

    async def related_change_events(self, incident_id: str) -> list[dict[str, Any]]:
        """Change events PagerDuty correlates with the incident; [] if the account lacks it."""
        try:
            body = await self._json("GET", f"/incidents/{_id(incident_id)}/related_change_events")
        except UpstreamError as exc:
            # 402: missing account ability; 403/404: feature or incident not visible to us.
            if exc.status in (402, 403, 404):
                return []
            raise
        return list(body.get("change_events") or [])

    async def oncall_users(self, escalation_policy_id: str) -> list[dict[str, Any]]:
        """Distinct user references on call for the policy, lowest escalation level first."""
        oncalls = await self._paginate(
            "/oncalls", "oncalls", {"escalation_policy_ids[]": escalation_policy_id}
        )
        oncalls.sort(key=lambda o: o.get("escalation_level") or 1_000_000)
        users: list[dict[str, Any]] = []
        seen: set[str] = set()
        for oncall in oncalls:
            user = oncall.get("user")
            if isinstance(user, dict) and user.get("id") and user["id"] not in seen:
                seen.add(user["id"])
                users.append(user)
        return users

    async def get_user(self, user_id: str) -> dict[str, Any]:
        body = await self._json("GET", f"/users/{_id(user_id)}")
        return body["user"]

    async def create_webhook_subscription(
        self,
        url: str,
        *,
        service_ids: list[str] | None,
        description: str,
    ) -> list[dict[str, Any]]:
        """One account-wide subscription, or one per service. Each result's
        delivery_method.secret is only ever returned here: store it."""
        filters: list[dict[str, str]] = (
            [{"type": "service_reference", "id": sid} for sid in service_ids]
            if service_ids
            else [{"type": "account_reference"}]
        )
        created: list[dict[str, Any]] = []
        for filter_ in filters:
            payload = {
                "webhook_subscription": {
                    "type": "webhook_subscription",
                    "delivery_method": {"type": "http_delivery_method", "url": url},
                    "description": description,
                    "events": list(INCIDENT_EVENTS),
                    "filter": filter_,
                }
            }
            body = await self._json("POST", "/webhook_subscriptions", json=payload)
            created.append(body["webhook_subscription"])
        return created


def _already_done(exc: UpstreamError) -> bool:
    if exc.status is None or not 400 <= exc.status < 500:
        return False
    return exc.code in ALREADY_DONE_CODES or bool(_ALREADY_DONE.search(exc.detail or ""))


def related_change_to_change(event: dict[str, Any], service: str | None) -> Change:
    """Map one item of GET /incidents/{id}/related_change_events to a Change."""
    details = event.get("custom_details")
    details = dict(details) if isinstance(details, dict) else {}
    summary = str(event.get("summary") or "change event")
    kind = infer_kind(f"{summary} {text_of(details)}", default=ChangeKind.DEPLOY)
    build_state = str(details.get("build_state") or "").lower()
    if build_state in ("passed", "success", "succeeded"):
        status = ChangeStatus.SUCCESS
    elif build_state in ("failed", "failure", "error"):
        status = ChangeStatus.FAILURE
    else:
        status = ChangeStatus.UNKNOWN
    return Change(
        source="pagerduty",
        external_id=str(event["id"]),
        summary=summary,
        created_at=parse_timestamp(event.get("timestamp"), field="change_event.timestamp"),
        service=service,
        kind=kind,
        status=status,
        url=first_link(event.get("links")),
        data=details,
        # The same keys /webhooks/changes reads, so the deploy links to its other reports.
        sha=_detail(details, "sha", "commit", "revision"),
        image_tag=_detail(details, "image_tag", "image"),
    )


def _detail(details: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = details.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
