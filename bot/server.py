"""`ooda serve`: migrations, runtime, and either uvicorn (HTTP) or Socket Mode."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import uvicorn
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.catalog import OodaConfig
from bot.service.handlers import register
from bot.service.runtime import build_runtime
from bot.settings import Settings, secret
from bot.slack.listen.app import build_bolt_app
from bot.storage.db import upgrade
from bot.web.app import create_app

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)


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
        # SIGTERM: uvicorn stops accepting, then the lifespan shutdown stops the worker
        # gracefully (Worker.stop: running jobs finish within the grace, the rest released).
        uvicorn.run(app, host=host, port=port, proxy_headers=True, **uvicorn_logging(settings))
        return
    app_token = secret(settings.slack_app_token) or ""
    asyncio.run(_socket_mode(rt, bolt, app, host, port, app_token, uvicorn_logging(settings)))


def freeze_startup_heap() -> None:
    """Everything built at startup lives as long as the process: keep it out of the garbage
    collector's full passes, which would otherwise scan it all and stall the event loop (and
    every Slack ack waiting on it) for ~90 ms."""
    gc.collect()
    gc.freeze()


def uvicorn_logging(settings: Settings) -> dict[str, Any]:
    """uvicorn's own logging off (log_config=None): its records propagate to the root handler
    that bot.logs.configure_logging installed (escaped, one per line), at OODA_LOG_LEVEL."""
    return {"log_config": None, "log_level": settings.log_level.lower()}


async def _socket_mode(rt, bolt, app, host: str, port: int, app_token: str, logs: dict) -> None:  # type: ignore[no-untyped-def]
    """Slack over Socket Mode; webhooks, health and metrics still served over HTTP."""
    handler = socket_mode_handler(bolt, app_token)
    config = uvicorn.Config(app, host=host, port=port, **logs)
    server = _SocketModeServer(config, before_shutdown=handler.close_async)
    await handler.connect_async()
    try:
        await server.serve()
    finally:
        await handler.close_async()


class _SocketModeServer(uvicorn.Server):
    """On SIGTERM, stop taking Slack events before the lifespan shutdown lets the worker's
    running jobs finish (its grace period) and releases the rest."""

    def __init__(
        self, config: uvicorn.Config, *, before_shutdown: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(config)
        self.before_shutdown = before_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self.before_shutdown()
        except Exception:
            log.exception("closing the Socket Mode connection failed")
        await super().shutdown(sockets)


def socket_mode_handler(
    bolt: AsyncApp, app_token: str, *, web_client: AsyncWebClient | None = None
) -> AsyncSocketModeHandler:
    """The same Bolt app over Socket Mode. `web_client` (default: the bot's) is what asks Slack
    for the WebSocket URL with apps.connections.open, using the app-level token."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    return AsyncSocketModeHandler(bolt, app_token, web_client=web_client)
