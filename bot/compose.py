"""The composition root: the whole bot built from settings in one place, so the server, the
demo and the tests cannot forget a step (the runtime, its job handlers, the Bolt app and its
listeners, the ASGI app with the /slack/events endpoint and, when configured, the web console)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette

from bot.catalog import OodaConfig
from bot.console.app import console_routes
from bot.job_handlers import register
from bot.service.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.slack.listen import http
from bot.slack.listen.app import build_bolt_app
from bot.web.app import create_app


@dataclass
class Bot:
    runtime: Runtime
    bolt: AsyncApp
    app: Starlette


def compose(
    settings: Settings,
    *,
    config: OodaConfig | None = None,
    runtime: Runtime | None = None,
    run_worker: bool = True,
    slack_over_http: bool = True,
) -> Bot:
    """Build the bot. `runtime`: one already built (a test's); `slack_over_http`: False in
    Socket Mode; `run_worker`: False for an app that must not start the worker and sender."""
    rt = runtime if runtime is not None else build_runtime(settings, config=config)
    register(rt)
    bolt = build_bolt_app(rt)
    endpoint = http.slack_events(rt, bolt) if slack_over_http else None
    app = create_app(rt, endpoint, run_worker=run_worker, more_routes=console_routes(rt))
    return Bot(rt, bolt, app)
