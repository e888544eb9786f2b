"""`ooda serve --socket-mode`: the same listeners over a Socket Mode WebSocket, no HTTP route
left for forged Slack requests, and a one-line error when SLACK_APP_TOKEN is missing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import WSMsgType, web
from slack_sdk.web.async_client import AsyncWebClient
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.compose import compose
from bot.devstack import SIGNING_SECRET, DevStack, slack_signature
from bot.service.runtime import build_runtime
from bot.settings import Settings
from bot.slack.listen.app import build_bolt_app
from bot.slack.listen.socket_mode import socket_mode_handler
from tests.helpers.slack import ALICE, general_id, responses

APP_TOKEN = "xapp-1-A0LOCAL01-test"


class SocketModeEndpoint:
    """Slack's side of Socket Mode, on loopback (aiohttp serves the WebSocket):
    apps.connections.open hands out the URL; the socket says hello, delivers envelopes and
    collects the app's acks."""

    def __init__(self, envelopes: list[dict[str, Any]]) -> None:
        self.envelopes = envelopes
        self.acks: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        self.done = asyncio.Event()
        self.url = ""
        self.app = web.Application()
        self.app.router.add_post("/api/apps.connections.open", self.open)
        self.app.router.add_get("/link", self.link)
        self.runner = web.AppRunner(self.app)

    async def open(self, request: web.Request) -> web.Response:
        self.tokens.append(request.headers.get("Authorization", ""))
        return web.json_response({"ok": True, "url": self.url.replace("http", "ws") + "/link"})

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1})
        for envelope in self.envelopes:
            await socket.send_json(envelope)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
                if len(self.acks) >= len(self.envelopes):
                    self.done.set()
        return socket

    async def __aenter__(self) -> SocketModeEndpoint:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


def slash_envelope(stack: DevStack, text: str, channel: str) -> dict[str, Any]:
    return {
        "envelope_id": f"env-{time.monotonic_ns()}",
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "team_id": "T0LOCAL01",
            "channel_id": channel,
            "user_id": ALICE,
            "command": "/incident",
            "text": text,
            "response_url": stack.slack.response_url(),
            "trigger_id": f"trigger.{time.monotonic_ns()}",
            "api_app_id": "A0LOCAL01",
        },
    }


async def test_commands_arrive_over_socket_mode(stack: DevStack) -> None:
    envelopes = [slash_envelope(stack, "declare Over the socket", general_id(stack))]
    async with SocketModeEndpoint(envelopes) as endpoint:
        web = AsyncWebClient(token=APP_TOKEN, base_url=f"{endpoint.url}/api/")
        handler = socket_mode_handler(build_bolt_app(stack.runtime), APP_TOKEN, web_client=web)
        await handler.connect_async()
        try:
            await asyncio.wait_for(endpoint.done.wait(), timeout=20)
        finally:
            await handler.close_async()
    assert endpoint.tokens == [f"Bearer {APP_TOKEN}"]
    assert [a["envelope_id"] for a in endpoint.acks] == [envelopes[0]["envelope_id"]]
    await stack.settle()
    assert stack.slack.channel_by_name("inc-1-over-the-socket") is not None
    assert any("Declared INC-1" in r for r in responses(stack))


def test_serve_socket_mode_without_app_token_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--socket-mode"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "SLACK_APP_TOKEN" in lines[0], result.output
    assert not (tmp_path / "never.db").exists()  # it stopped before touching anything


async def test_socket_mode_app_has_no_slack_route(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        OODA_CONFIG=str(tmp_path / "none.yaml"),
    )
    rt = build_runtime(settings)
    app = compose(rt.settings, runtime=rt, run_worker=False, slack_over_http=False).app
    body = b"command=%2Fincident&text=declare+forged&user_id=U1&channel_id=C1"
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, timestamp, body),
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:
        response = await client.post("/slack/events", content=body, headers=headers)
        health = await client.get("/healthz")
    assert response.status_code == 404
    assert health.status_code in (200, 503)
    await rt.aclose()
