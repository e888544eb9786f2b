from __future__ import annotations

import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.fakes import LoopbackServer


async def _hello(request: Request) -> JSONResponse:
    return JSONResponse({"thread": threading.current_thread().name})


APP = Starlette(routes=[Route("/hello", _hello)])


def test_serves_app_on_a_free_loopback_port_in_a_background_thread() -> None:
    with LoopbackServer(APP) as one, LoopbackServer(APP) as two:
        assert one.url.startswith("http://127.0.0.1:")
        assert one.url != two.url
        response = httpx.get(f"{one.url}/hello")
        assert response.status_code == 200
        assert response.json()["thread"].startswith("loopback-")


def test_stop_releases_the_port() -> None:
    server = LoopbackServer(APP).start()
    url = server.url
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/hello", timeout=1)
    with pytest.raises(RuntimeError):
        _ = server.url


def test_start_is_idempotent_and_returns_self() -> None:
    server = LoopbackServer(APP)
    try:
        assert server.start() is server
        first = server.url
        assert server.start().url == first
        assert server.started
    finally:
        server.stop()
    server.stop()  # second stop is a no-op


async def test_usable_from_async_tests_without_blocking_the_loop() -> None:
    with LoopbackServer(APP) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/hello")).status_code == 200
