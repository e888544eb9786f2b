"""The one ASGI app: Slack (an endpoint the listeners build), webhooks, health and metrics."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot import context
from bot.service.runtime import Runtime
from bot.storage import gauges, retention
from bot.telemetry import RequestMetrics, counted_webhook
from bot.web import changes, github, health, pagerduty

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

# The header naming one delivery, per webhook source; X-Request-Id when a sender has none.
DELIVERY_HEADERS = {"pagerduty": "x-webhook-id", "github": "x-github-delivery"}
MAX_DELIVERY_ID = 100


def delivery_id(source: str, request: Request) -> str:
    """`<source>:<id>` for the lines of one delivery's work: the source's delivery header, else
    X-Request-Id, else a fresh id (the request's own lines still belong together)."""
    header = DELIVERY_HEADERS.get(source)
    given = (request.headers.get(header) if header else None) or request.headers.get("x-request-id")
    return f"{source}:{(given or uuid.uuid4().hex[:16])[:MAX_DELIVERY_ID]}"


def webhook(source: str, endpoint: Endpoint) -> Endpoint:
    """A webhook route: its lines (and its jobs') carry the delivery id, its answers counted."""
    counted = counted_webhook(source, endpoint)

    async def route(request: Request) -> Response:
        with context.bound(delivery=delivery_id(source, request)):
            return await counted(request)

    return route


def create_app(
    rt: Runtime,
    slack_events: Endpoint | None,
    *,
    run_worker: bool = True,
    more_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """`slack_events`: the /slack/events endpoint (bot.slack.listen.http), None in Socket Mode
    (Slack never posts to us then: no route to forge requests on). `more_routes`: the web
    console's (bot.console), when it is configured."""

    async def metrics(request: Request) -> Response:
        # This runtime's own registry: tests run many runtimes in one process.
        try:
            found = await gauges.read_gauges(rt.db)
        except Exception as exc:  # the rest of the metrics still answer; the gauges wait
            log.warning("could not read the job queue for /metrics: %s", type(exc).__name__)
        else:
            rt.metrics.set_queue(found.depth, found.oldest_due_seconds, found.dead, found.outbox)
        return Response(rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if run_worker:
            rt.worker.start()
            rt.sender.start()
            await retention.schedule_retention(rt.db)
        try:
            yield
        finally:
            await rt.aclose_workers()

    app = Starlette(
        routes=[
            Route("/webhooks/pagerduty", webhook("pagerduty", pagerduty.receive), methods=["POST"]),
            Route("/webhooks/github", webhook("github", github.receive), methods=["POST"]),
            Route("/webhooks/changes", webhook("changes", changes.receive), methods=["POST"]),
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *(more_routes or []),
        ],
        lifespan=lifespan,
    )
    if slack_events is not None:
        app.router.routes.insert(0, Route("/slack/events", slack_events, methods=["POST"]))
    app.state.runtime = rt
    app.add_middleware(RequestMetrics, metrics=rt.metrics, routes=app.router.routes)
    return app
