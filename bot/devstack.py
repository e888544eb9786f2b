"""A complete ooda-bot wired to the built-in local fakes, serving real HTTP on loopback.

`ooda demo` and the end-to-end tests both drive it: the fakes (Slack, PagerDuty, GitHub,
Argo CD) run in their own threads; the bot's ASGI app runs under uvicorn in the caller's event
loop, so callers can wait for the job queue to settle.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from bot.catalog import OodaConfig
from bot.compose import compose
from bot.fakes.argocd_api import FakeArgoCD
from bot.fakes.github_api import FakeGitHub
from bot.fakes.pagerduty_api import FakePagerDuty
from bot.fakes.pagerduty_webhooks import sign_webhook
from bot.fakes.slack_api import FakeSlack
from bot.service.runtime import Runtime
from bot.settings import Settings
from bot.slack.listen.interactions import after_ack_done, after_ack_running
from bot.slack.listen.manifest import BOT_SCOPES
from bot.storage.db import upgrade

SIGNING_SECRET = "local-signing-secret"
PD_SECRET = "local-pagerduty-secret"
BOT_TOKEN = "xoxb-local-demo"


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class DevStack:
    def __init__(
        self,
        workdir: Path,
        *,
        config: dict[str, Any] | None = None,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.config_data = config or {"services": []}
        self.database_url = database_url or f"sqlite:///{workdir / 'ooda.db'}"
        self.env = env or {}
        # Granted exactly what the manifest asks for, as after a fresh install.
        self.slack = FakeSlack(token=BOT_TOKEN, scopes=list(BOT_SCOPES))
        self.pagerduty = FakePagerDuty()
        self.github = FakeGitHub()
        self.argocd = FakeArgoCD()
        self.rt: Runtime | None = None
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.http: httpx.AsyncClient | None = None

    @property
    def runtime(self) -> Runtime:
        assert self.rt is not None, "DevStack not started"
        return self.rt

    def settings(self) -> Settings:
        # Strings pydantic parses as it would the environment's (Settings' fields are typed).
        environment: dict[str, Any] = self.environment()
        return Settings(_env_file=None, **environment)

    def environment(self) -> dict[str, str]:
        """The bot's settings as environment variables (also for an `ooda serve` child)."""
        config_path = self.workdir / "ooda.yaml"
        config_path.write_text(yaml.safe_dump(self.config_data), encoding="utf-8")
        return {
            "DATABASE_URL": self.database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{self.slack.url}/api/",
            "PAGERDUTY_API_TOKEN": "pd-local-token",
            "PAGERDUTY_FROM_EMAIL": "ooda-bot@example.com",
            "PAGERDUTY_API_URL": self.pagerduty.url,
            "PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET,
            "GITHUB_TOKEN": "ghp-local-token",
            "GITHUB_API_URL": self.github.url,
            "ARGOCD_URL": self.argocd.url,
            "ARGOCD_TOKEN": "argocd-local-token",
            "OODA_ACTION_WEBHOOK_SECRET": "local-action-secret",
            "OODA_CONFIG": str(config_path),
            "OODA_HTTP_BACKOFF": "0",
            "OODA_SOURCE_TIMEOUT": "5",
            "OODA_WORKER_POLL": "0.2",
            # The console's Sign in with Slack goes to the fake's authorize page (it is on only
            # when SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and OODA_SESSION_SECRET are set too).
            "OODA_SLACK_AUTHORIZE_URL": f"{self.slack.url}/openid/connect/authorize",
        } | self.env

    def start_fakes(self) -> None:
        for fake in (self.slack, self.pagerduty, self.github, self.argocd):
            fake.start()

    async def start(self) -> DevStack:
        self.start_fakes()
        settings = self.settings()
        if settings.slack_client_id and settings.slack_client_secret:
            client_secret = settings.slack_client_secret.get_secret_value()
            self.slack.openid.register(settings.slack_client_id, client_secret)
        await asyncio.to_thread(upgrade, settings.database_url)
        bot = compose(settings, config=OodaConfig.model_validate(self.config_data))
        self.rt, app = bot.runtime, bot.app
        # uvicorn's records go to the root logger, as under `ooda serve` (bot.server).
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            log_config=None,
            # an open console page (its live stream) does not hold up the stop
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=30)
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self.rt is not None:
            await self.rt.aclose()
        for fake in (self.slack, self.pagerduty, self.github, self.argocd):
            fake.stop()

    async def __aenter__(self) -> DevStack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def settle(self, timeout: float = 30.0, *, horizon: float = 2.0) -> None:
        """Wait until every job due within `horizon` s ran (webhooks, cards, actions, verify),
        and every Slack listener's work after its ack (ephemeral answers, modals) is done."""
        while True:
            await asyncio.wait_for(after_ack_done(self.runtime), timeout)
            await self.runtime.drain(timeout, horizon=horizon)
            if not after_ack_running(self.runtime):
                return

    # ---- PagerDuty ---------------------------------------------------------------------

    async def pagerduty_webhook(
        self,
        body: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        secrets: list[str] | None = None,
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-PagerDuty-Signature": sign_webhook(raw, secrets or [PD_SECRET]),
            "X-Webhook-Id": webhook_id or hashlib.sha256(raw).hexdigest()[:32],
        }
        assert self.http is not None
        return await self.http.post("/webhooks/pagerduty", content=raw, headers=headers)

    # ---- Slack -------------------------------------------------------------------------

    async def slack_post(
        self, body: bytes, *, content_type: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        timestamp = str(int(time.time()))
        signed = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(SIGNING_SECRET, timestamp, body),
        } | (headers or {})
        assert self.http is not None
        return await self.http.post("/slack/events", content=body, headers=signed)

    async def command(self, text: str, *, user: str, channel: str) -> httpx.Response:
        form = {
            "token": "legacy",
            "team_id": "T0LOCAL01",
            "team_domain": "local",
            "channel_id": channel,
            "channel_name": "incident",
            "user_id": user,
            "user_name": user.lower(),
            "command": self.runtime.settings.slash_command,
            "text": text,
            "response_url": self.slack.response_url(),
            "trigger_id": f"trigger.{time.monotonic_ns()}",
            "api_app_id": "A0LOCAL01",
        }
        body = urllib.parse.urlencode(form).encode()
        return await self.slack_post(body, content_type="application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        base = {
            "team": {"id": "T0LOCAL01", "domain": "local"},
            "api_app_id": "A0LOCAL01",
            "token": "legacy",
            "trigger_id": f"trigger.{time.monotonic_ns()}",
        }
        body = urllib.parse.urlencode({"payload": json.dumps(base | payload)}).encode()
        return await self.slack_post(body, content_type="application/x-www-form-urlencoded")

    async def click(
        self, action_id: str, value: str, *, user: str, channel: str, message_ts: str = ""
    ) -> httpx.Response:
        return await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower(), "team_id": "T0LOCAL01"},
                "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                "channel": {"id": channel, "name": "incident"},
                "message": {"ts": message_ts},
                "response_url": self.slack.response_url(),
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "b",
                        "type": "button",
                        "value": value,
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        )

    async def submit(
        self, view: dict[str, Any], values: dict[str, str], *, user: str
    ) -> httpx.Response:
        """Submit a modal the bot opened, filling inputs by block_id."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            block_id = block["block_id"]
            element = block["element"]
            value = values.get(block_id)
            if element["type"] == "static_select":
                option = next((o for o in element["options"] if o["value"] == value), None)
                state[block_id] = {"value": {"type": "static_select", "selected_option": option}}
            else:
                state[block_id] = {"value": {"type": element["type"], "value": value}}
        return await self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "username": user.lower(), "team_id": "T0LOCAL01"},
                "view": view | {"id": f"V{time.monotonic_ns()}", "state": {"values": state}},
            }
        )
