"""Prometheus metrics, one CollectorRegistry per Runtime (tests build many runtimes in a process).

Served at GET /metrics. Slack and vendor clients are instrumented from the outside (retry
handlers and httpx event hooks), so the clients themselves stay free of metrics code.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpx
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import tracing
from bot.domain.model import StageSpan
from integrations.http import ApiClient, UpstreamError

# Stage durations run from seconds (a quick ack) to hours (a long investigation).
STAGE_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
# Jobs run from milliseconds (a card render) to minutes (an action and its retries).
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Requests: a Slack ack must be well under 3 s; webhooks answer once stored.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

Endpoint = Callable[[Request], Awaitable[Response]]
OUTBOX_STATES = ("pending", "sending", "unknown")

# Attempts of the vendor call in flight in this task, counted by the httpx request hook.
_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "ooda_vendor_attempts", default=None
)


class Metrics:
    """Every metric the bot exports, registered in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The process's own health, as the default registry would have it (process_*,
        # python_gc_*, python_info); these read the process, not this runtime.
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        PlatformCollector(registry=r)
        self.job_duration = Histogram(
            "ooda_job_duration_seconds",
            "Time one job took in this process, by kind and outcome (done, failed).",
            ["kind", "outcome"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.job_queue_depth = Gauge(
            "ooda_job_queue_depth",
            "Jobs in the queue (every replica's), by kind and state (pending, running).",
            ["kind", "state"],
            registry=r,
        )
        self._queue_series: set[tuple[str, str]] = set()
        self.job_oldest_due_age = Gauge(
            "ooda_job_oldest_due_age_seconds",
            "How long the oldest due, unclaimed job has waited (0: none waiting).",
            registry=r,
        )
        self.jobs_dead = Gauge(
            "ooda_jobs_dead", "Jobs that ran out of attempts and will not run again.", registry=r
        )
        self.outbox_depth = Gauge(
            "ooda_slack_outbox_depth",
            "Slack outbox items not delivered yet, by state (pending, sending, unknown).",
            ["state"],
            registry=r,
        )
        self.http_duration = Histogram(
            "ooda_http_request_duration_seconds",
            "HTTP requests by route template (never the raw path), method and status.",
            ["route", "method", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.incidents_opened = Counter(
            "ooda_incidents_opened", "Incidents opened (drills excluded).", ["severity"], registry=r
        )
        self.incidents_resolved = Counter(
            "ooda_incidents_resolved",
            "Incidents resolved (drills excluded).",
            ["severity"],
            registry=r,
        )
        self.stage_duration = Histogram(
            "ooda_stage_duration_seconds",
            "Time spent in one OODA stage, observed when the stage ends.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.webhooks = Counter(
            "ooda_webhooks",
            "Inbound webhooks by source and result (accepted, duplicate, ignored, rejected).",
            ["source", "result"],
            registry=r,
        )
        self.slack_api_errors = Counter(
            "ooda_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack error code.",
            ["method", "error"],
            registry=r,
        )
        self.slack_api_retries = Counter(
            "ooda_slack_api_retries",
            "Slack Web API retries, by reason.",
            ["reason"],
            registry=r,
        )
        self.vendor_api_errors = Counter(
            "ooda_vendor_api_errors",
            "Vendor API calls that failed for good (after retries), by vendor and HTTP status.",
            ["vendor", "status"],
            registry=r,
        )
        self.vendor_api_retries = Counter(
            "ooda_vendor_api_retries",
            "Vendor API requests sent again after a 429, 5xx or transport failure.",
            ["vendor"],
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def observe_job(self, kind: str, seconds: float, outcome: str) -> None:
        self.job_duration.labels(kind=kind, outcome=outcome).observe(seconds)

    def set_queue(
        self,
        depth: dict[tuple[str, str], int],
        oldest_due_seconds: float,
        dead: int,
        outbox: dict[str, int],
    ) -> None:
        """The gauges read from the database at a scrape (bot.storage.gauges); a kind or state
        no longer queued drops to 0 instead of keeping its last value."""
        self._queue_series |= depth.keys()
        for kind, state in self._queue_series:
            self.job_queue_depth.labels(kind=kind, state=state).set(depth.get((kind, state), 0))
        self.job_oldest_due_age.set(oldest_due_seconds)
        self.jobs_dead.set(dead)
        for state in OUTBOX_STATES:
            self.outbox_depth.labels(state=state).set(outbox.get(state, 0))

    def webhook(self, source: str, result: str) -> None:
        self.webhooks.labels(source=source, result=result).inc()

    def observe_closed_spans(self, closed: Iterable[StageSpan], *, is_drill: bool) -> None:
        """Observe the stage spans a committed transaction closed (`repo.closed_spans`); a
        drill's are left out (rehearsals are not the team's incident times)."""
        if is_drill:
            return
        for span in closed:
            ended = span.ended_at or span.started_at
            seconds = max((ended - span.started_at).total_seconds(), 0.0)
            self.stage_duration.labels(stage=span.stage.value).observe(seconds)

    def instrument(
        self, slack: AsyncWebClient, vendors: list[ApiClient | None] | None = None
    ) -> None:
        instrument_slack(slack, self)
        for client in vendors or []:
            if client is not None:
                instrument_vendor(client, self)


def webhook_result(status: int, body: bytes) -> str:
    """accepted / duplicate / ignored / rejected, from what a webhook route answered."""
    if status >= 400:
        return "rejected"
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    if isinstance(payload, dict):
        if payload.get("duplicate"):
            return "duplicate"
        if payload.get("ignored") or payload.get("pong"):
            return "ignored"
    return "accepted"


def counted_webhook(source: str, endpoint: Endpoint) -> Endpoint:
    """Wrap a webhook route so each answer is counted under ooda_webhooks{source, result}."""

    async def route(request: Request) -> Response:
        response = await endpoint(request)
        metrics: Metrics = request.app.state.runtime.metrics
        metrics.webhook(source, webhook_result(response.status_code, bytes(response.body)))
        return response

    return route


# --------------------------------------------------------------------------- HTTP


class RequestMetrics:
    """ASGI middleware: ooda_http_request_duration_seconds by route template, method and status.
    The template of the route that matched (`/webhooks/pagerduty`), "unmatched" for any other
    path: a sender choosing paths cannot make new series."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:  # PARTIAL: the path matched, not the method
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # what the client sees when the app raises before answering
        route, method = self._template(scope), str(scope.get("method", ""))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        attributes = {"http.request.method": method, "http.route": route}
        try:
            with tracing.span(f"{method} {route}", kind="server", attributes=attributes) as span:
                await self.app(scope, receive, sending)
                tracing.set_attribute(span, "http.response.status_code", status[0])
        finally:
            self.metrics.http_duration.labels(route=route, method=method, status=status[0]).observe(
                time.perf_counter() - started
            )


# --------------------------------------------------------------------------- Slack


class CountingRetryHandler(AsyncRetryHandler):
    """Delegates to a slack_sdk retry handler and counts the retries it grants."""

    def __init__(self, inner: AsyncRetryHandler, metrics: Metrics, reason: str) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner, self.metrics, self.reason = inner, metrics, reason

    async def can_retry_async(self, **kwargs: Any) -> bool:
        allowed = await self.inner.can_retry_async(**kwargs)
        if allowed:
            self.metrics.slack_api_retries.labels(reason=self.reason).inc()
        return allowed

    async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
        await self.inner.prepare_for_next_attempt_async(**kwargs)


def _retry_reason(handler: AsyncRetryHandler) -> str:
    name = type(handler).__name__
    for key, reason in (
        ("RateLimit", "rate_limited"),
        ("ServerError", "server_error"),
        ("Connection", "connection_error"),
    ):
        if key in name:
            return reason
    return name


def instrument_slack(client: AsyncWebClient, metrics: Metrics) -> None:
    client.retry_handlers = [
        h
        if isinstance(h, CountingRetryHandler)
        else CountingRetryHandler(h, metrics, _retry_reason(h))
        for h in client.retry_handlers
    ]
    original = client.api_call

    async def api_call(api_method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            with tracing.span(f"slack {api_method}", kind="client"):
                return await original(api_method, *args, **kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown")
            metrics.slack_api_errors.labels(method=api_method, error=error).inc()
            raise
        except Exception as exc:
            metrics.slack_api_errors.labels(method=api_method, error=type(exc).__name__).inc()
            raise

    client.api_call = api_call  # type: ignore[method-assign]  # instrumenting this one client


# --------------------------------------------------------------------------- vendors


async def _count_attempt(request: httpx.Request) -> None:
    box = _attempts.get()
    if box is not None:
        box[0] += 1


def instrument_vendor(client: ApiClient, metrics: Metrics) -> None:
    http: httpx.AsyncClient = client._http
    hooks = http.event_hooks
    http.event_hooks = {**hooks, "request": [*hooks.get("request", []), _count_attempt]}
    original: Callable[..., Awaitable[httpx.Response]] = client._request
    vendor = client.vendor

    async def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
        box = [0]
        token = _attempts.set(box)
        attributes = {"http.request.method": method, "url.path": path, "ooda.vendor": vendor}
        try:
            with tracing.span(f"{vendor} {method}", kind="client", attributes=attributes) as span:
                response = await original(method, path, **kwargs)
                tracing.set_attribute(span, "http.response.status_code", response.status_code)
                return response
        except UpstreamError as exc:
            status = str(exc.status) if exc.status is not None else "transport"
            metrics.vendor_api_errors.labels(vendor=vendor, status=status).inc()
            raise
        finally:
            _attempts.reset(token)
            if box[0] > 1:
                metrics.vendor_api_retries.labels(vendor=vendor).inc(box[0] - 1)

    client._request = request  # type: ignore[method-assign]  # instrumenting this one client
