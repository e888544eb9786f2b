"""`ooda serve`: migrations, runtime, and either uvicorn (HTTP) or Socket Mode."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

import uvicorn
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.catalog import OodaConfig
from bot.service.handlers import register
from bot.service.runtime import build_runtime
from bot.settings import Settings, secret
from bot.slack.app import build_bolt_app
from bot.storage.db import upgrade
from bot.web.app import create_app

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler


def run_server(
    settings: Settings, config: OodaConfig, *, host: str, port: int, socket_mode: bool
) -> None:
    upgrade(settings.database_url)
    rt = build_runtime(settings, config=config)
    register(rt)
    bolt = build_bolt_app(rt)
    # In Socket Mode Slack never posts to us: no /slack/events route to forge requests on.
    app = create_app(rt, bolt, slack_over_http=not socket_mode)
    freeze_startup_heap()
    if not socket_mode:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)
        return
    asyncio.run(_socket_mode(rt, bolt, app, host, port, secret(settings.slack_app_token) or ""))


def freeze_startup_heap() -> None:
    """Everything built at startup lives as long as the process: keep it out of the garbage
    collector's full passes, which would otherwise scan it all and stall the event loop (and
    every Slack ack waiting on it) for ~90 ms."""
    gc.collect()
    gc.freeze()


async def _socket_mode(rt, bolt, app, host: str, port: int, app_token: str) -> None:  # type: ignore[no-untyped-def]
    """Slack over Socket Mode; webhooks, health and metrics still served over HTTP."""
    handler = socket_mode_handler(bolt, app_token)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    await handler.connect_async()
    try:
        await server.serve()
    finally:
        await handler.close_async()


def socket_mode_handler(
    bolt: AsyncApp, app_token: str, *, web_client: AsyncWebClient | None = None
) -> AsyncSocketModeHandler:
    """The same Bolt app over Socket Mode. `web_client` (default: the bot's) is what asks Slack
    for the WebSocket URL with apps.connections.open, using the app-level token."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    return AsyncSocketModeHandler(bolt, app_token, web_client=web_client)
