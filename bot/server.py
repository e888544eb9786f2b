"""`ooda serve`: migrations, the bot (bot.compose), and either uvicorn (HTTP) or Socket Mode."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import uvicorn

from bot.catalog import OodaConfig
from bot.compose import compose
from bot.settings import Settings, secret
from bot.slack.listen import socket_mode as slack_socket_mode
from bot.storage.db import upgrade

log = logging.getLogger(__name__)


def run_server(
    settings: Settings, config: OodaConfig, *, host: str, port: int, socket_mode: bool
) -> None:
    upgrade(settings.database_url)
    # In Socket Mode Slack never posts to us: no /slack/events route to forge requests on.
    bot = compose(settings, config=config, slack_over_http=not socket_mode)
    freeze_startup_heap()
    if not socket_mode:
        # SIGTERM: uvicorn stops accepting, then the lifespan shutdown stops the worker
        # gracefully (Worker.stop: running jobs finish within the grace, the rest released).
        uvicorn.run(bot.app, host=host, port=port, proxy_headers=True, **uvicorn_logging(settings))
        return
    app_token = secret(settings.slack_app_token) or ""
    logs = uvicorn_logging(settings)
    asyncio.run(slack_socket_mode.serve(bot.bolt, bot.app, host, port, app_token, logs))


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
