"""Socket Mode shutdown: the Slack connection closes before the lifespan shutdown, where the
worker lets its running jobs finish (so no new Slack event arrives during the grace period)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from bot.slack.listen.socket_mode import SocketModeServer


async def test_socket_mode_closes_the_connection_before_the_worker_stops() -> None:
    order: list[str] = []
    server: SocketModeServer | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert server is not None
        server.should_exit = True  # as SIGTERM would, once started
        yield
        order.append("worker stopped")

    async def close_socket() -> None:
        order.append("socket closed")

    config = uvicorn.Config(Starlette(lifespan=lifespan), host="127.0.0.1", port=0, lifespan="on")
    server = SocketModeServer(config, before_shutdown=close_socket)
    await server.serve()
    assert order == ["socket closed", "worker stopped"]
