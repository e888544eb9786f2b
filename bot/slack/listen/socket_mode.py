"""Slack over Socket Mode (slack_bolt's handler): Slack events arrive on a WebSocket the bot
opens, while webhooks, health and metrics are still served over HTTP by uvicorn."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette

log = logging.getLogger(__name__)


async def serve(
    bolt: AsyncApp, app: Starlette, host: str, port: int, app_token: str, logs: dict[str, Any]
) -> None:
    """Slack over Socket Mode; webhooks, health and metrics still served over HTTP."""
    handler = socket_mode_handler(bolt, app_token)
    # /readyz asks whether the WebSocket is up (bot.web.health.SOCKET_PROBE).
    app.state.slack_socket_connected = handler.client.is_connected
    config = uvicorn.Config(app, host=host, port=port, **logs)
    server = SocketModeServer(config, before_shutdown=handler.close_async)
    await handler.connect_async()
    try:
        await server.serve()
    finally:
        await handler.close_async()


class SocketModeServer(uvicorn.Server):
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
    return AsyncSocketModeHandler(bolt, app_token, web_client=web_client)
