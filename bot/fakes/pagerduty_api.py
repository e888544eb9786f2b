"""A stateful fake of the PagerDuty REST API v2 (the endpoints ooda-bot uses).

Shapes come from PagerDuty/api-schema examples (see /work/shared/vendor-samples); error bodies and
codes from PagerDuty/developer-docs docs/REST-API/14-Errors.md.
"""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.fakes._common import Failure, RestFake, iso, page, random_id, utcnow
from bot.fakes.pagerduty_state import PagerDutyData
from bot.fakes.pagerduty_webhooks import ref, sign_webhook, webhook_event

__all__ = ["FakePagerDuty", "sign_webhook", "webhook_event"]

_TOKEN = re.compile(r"^Token token=(\S+)$")
# Message as quoted from real 400 responses in PagerDuty/pdpyras#78; code 2016 as reported in
# quintoandar/airflow-pagerduty-plugin#1 (the documented table lists 2016 for something else).
# Real PagerDuty asks for From on writes with account-level tokens; the fake always does.
FROM_REQUIRED = (
    'You must specify a user\'s email address in the "From" header to perform this action'
)


def _error(status: int, message: str, code: int, *errors: str) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = list(errors)
    return JSONResponse({"error": body}, status_code=status)


def _not_found() -> JSONResponse:
    return _error(404, "Not Found", 2100)


class FakePagerDuty(PagerDutyData, RestFake):
    """PagerDuty REST at the fake's root (``PAGERDUTY_API_URL = fake.url``).
    Requires ``Authorization: Token token=…``; writes require a ``From`` header."""

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self._init_data()
        super().__init__()

    def _routes(self) -> list[Any]:
        w = self._wrap
        return [
            Route("/incidents/{id}", w(self._get_incident), methods=["GET"]),
            Route("/incidents/{id}", w(self._put_incident), methods=["PUT"]),
            Route("/incidents/{id}/alerts", w(self._list_alerts), methods=["GET"]),
            Route("/incidents/{id}/log_entries", w(self._list_log), methods=["GET"]),
            Route("/incidents/{id}/notes", w(self._list_notes), methods=["GET"]),
            Route("/incidents/{id}/notes", w(self._post_note), methods=["POST"]),
            Route("/incidents/{id}/related_change_events", w(self._changes_for), methods=["GET"]),
            Route("/oncalls", w(self._list_oncalls), methods=["GET"]),
            Route("/users/{id}", w(self._get_user), methods=["GET"]),
            Route("/services/{id}", w(self._get_service), methods=["GET"]),
            Route("/abilities", w(self._abilities), methods=["GET"]),
            Route("/webhook_subscriptions", w(self._post_subscription), methods=["POST"]),
            Route("/webhook_subscriptions", w(self._list_subscriptions), methods=["GET"]),
        ]

    # -- RestFake hooks ------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        match = _TOKEN.match(request.headers.get("authorization", ""))
        return match is not None and (self.token is None or match.group(1) == self.token)

    def _unauthorized(self) -> Response:
        return _error(401, "Authentication failed", 2006)

    def _failure_response(self, failure: Failure) -> Response:
        if failure.status == 429:
            return _error(429, "Rate Limit Exceeded", 2020)
        return _error(failure.status, "An internal error has occurred.", 2000)

    # -- routes --------------------------------------------------------------------------
    async def _get_incident(self, request: Request, body: Any) -> Response:
        try:
            return JSONResponse({"incident": self.incident(request.path_params["id"])})
        except KeyError:
            return _not_found()

    def _requester(self, request: Request) -> dict[str, Any] | None:
        email = request.headers.get("from", "").strip()
        if not email or "@" not in email:
            return None
        user = next((u for u in self._users.values() if u["email"] == email), None)
        if user is None:
            digest = hashlib.sha1(email.encode(), usedforsecurity=False).hexdigest()
            return ref("user", "P" + digest[:6].upper(), email, "users")
        return ref("user", user["id"], user["name"], "users")

    async def _put_incident(self, request: Request, body: Any) -> Response:
        with self._lock:
            inc = self._find(request.path_params["id"])
            if inc is None:
                return _not_found()
            requester = self._requester(request)
            if requester is None:
                return _error(400, FROM_REQUIRED, 2016)
            change = (body or {}).get("incident") if isinstance(body, dict) else None
            if not isinstance(change, dict):
                return _error(400, "Invalid Input Provided", 2001, "incident is required")
            status = change.get("status")
            if status is not None:
                if status not in ("acknowledged", "resolved"):
                    return _error(400, "Invalid Status Provided", 1003)
                if inc["status"] == "resolved":
                    return _error(400, "Incident Already Resolved", 1001)
                if inc["status"] == status == "acknowledged":
                    return _error(400, "Incident Already Acknowledged", 1002)
                summary = change.get("resolution") or f"{status.capitalize()} through the API"
                self._set_status(inc, status, requester, summary)
            for key in ("title", "urgency"):
                if key in change:
                    inc[key] = change[key]
            if isinstance(change.get("priority"), dict):
                inc["priority"] = change["priority"]
            level = change.get("escalation_level")
            if level is not None:
                if not isinstance(level, int) or level < 1:
                    return _error(400, "Invalid Input Provided", 2001, "escalation_level")
                inc["escalation_level"] = level
            return JSONResponse({"incident": self.incident(inc["id"])})

    async def _list_alerts(self, request: Request, body: Any) -> Response:
        with self._lock:
            inc = self._find(request.path_params["id"])
            if inc is None:
                return _not_found()
            statuses = request.query_params.getlist("statuses[]")
            items = [a for a in self._alerts[inc["id"]] if not statuses or a["status"] in statuses]
            return self._page("alerts", items, request)

    async def _list_log(self, request: Request, body: Any) -> Response:
        with self._lock:
            inc = self._find(request.path_params["id"])
            if inc is None:
                return _not_found()
            return self._page("log_entries", self._log[inc["id"]], request)

    async def _list_notes(self, request: Request, body: Any) -> Response:
        with self._lock:
            inc = self._find(request.path_params["id"])
            if inc is None:
                return _not_found()
            return JSONResponse({"notes": copy.deepcopy(self._notes[inc["id"]])})

    async def _post_note(self, request: Request, body: Any) -> Response:
        with self._lock:
            inc = self._find(request.path_params["id"])
            if inc is None:
                return _not_found()
            requester = self._requester(request)
            if requester is None:
                return _error(400, FROM_REQUIRED, 2016)
            note_in = body.get("note") if isinstance(body, dict) else None
            content = note_in.get("content") if isinstance(note_in, dict) else None
            if not content or not isinstance(content, str):
                return _error(400, "Invalid Input Provided", 2001, "Content cannot be empty.")
            now = iso(utcnow())
            note = {
                "id": random_id("P", 6),
                "user": requester,
                "channel": {"summary": "The PagerDuty website or APIs"},
                "content": content,
                "created_at": now,
                "updated_at": now,
            }
            self._notes[inc["id"]].append(note)
            self.add_log_entry(
                inc["id"], type="annotate_log_entry", summary=content, agent=requester
            )
            return JSONResponse({"note": copy.deepcopy(note)}, status_code=201)

    async def _changes_for(self, request: Request, body: Any) -> Response:
        with self._lock:
            inc = self._find(request.path_params["id"])
            if inc is None:
                return _not_found()
            return JSONResponse(
                {
                    "change_events": copy.deepcopy(self._changes[inc["id"]]),
                    "limit": None,
                    "offset": None,
                    "total": None,
                    "more": False,
                }
            )

    async def _list_oncalls(self, request: Request, body: Any) -> Response:
        q = request.query_params
        policies = q.getlist("escalation_policy_ids[]")
        users = q.getlist("user_ids[]")
        schedules = q.getlist("schedule_ids[]")
        with self._lock:
            items = [
                o
                for o in self._oncalls
                if (not policies or o["escalation_policy"]["id"] in policies)
                and (not users or o["user"]["id"] in users)
                and (not schedules or (o["schedule"] or {}).get("id") in schedules)
            ]
            return self._page("oncalls", items, request)

    async def _get_user(self, request: Request, body: Any) -> Response:
        with self._lock:
            user = self._users.get(request.path_params["id"])
            return JSONResponse({"user": copy.deepcopy(user)}) if user else _not_found()

    async def _get_service(self, request: Request, body: Any) -> Response:
        with self._lock:
            service = self._services.get(request.path_params["id"])
            return JSONResponse({"service": copy.deepcopy(service)}) if service else _not_found()

    async def _abilities(self, request: Request, body: Any) -> Response:
        # What the account may use; any valid key may read it (the doctor's token check).
        return JSONResponse({"abilities": ["teams", "read_only_users", "urgencies"]})

    async def _post_subscription(self, request: Request, body: Any) -> Response:
        sub = body.get("webhook_subscription") if isinstance(body, dict) else None
        if not isinstance(sub, dict) or not (sub.get("delivery_method") or {}).get("url"):
            return _error(400, "Invalid Input Provided", 2001, "delivery_method.url is required")
        created = copy.deepcopy(sub)
        created.update(id=random_id("P", 6), type="webhook_subscription", active=True)
        created["delivery_method"].setdefault("type", "http_delivery_method")
        created["delivery_method"]["secret"] = uuid.uuid4().hex + uuid.uuid4().hex
        with self._lock:
            self.webhook_subscriptions.append(created)
        return JSONResponse({"webhook_subscription": copy.deepcopy(created)}, status_code=201)

    async def _list_subscriptions(self, request: Request, body: Any) -> Response:
        with self._lock:
            return self._page("webhook_subscriptions", self.webhook_subscriptions, request)

    def _page(self, key: str, items: list[dict[str, Any]], request: Request) -> Response:
        result = page(copy.deepcopy(items), request.query_params)
        return JSONResponse({key: result.pop("items"), **result})
