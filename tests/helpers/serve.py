"""Real `ooda serve` processes for the tests that run several on one database: a server
subprocess with its log, the environment it runs with, and an incident opened in the database."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from bot.fakes.slack_api import FakeSlack
from bot.storage import repo
from bot.storage.db import Database

SERVE = "from bot.cli import main; main()"
ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0  # upper bound while waiting for /healthz; never a timed assertion


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One `ooda serve` subprocess; its output goes to a log file shown when a test fails."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(self.port)],
            env=env,
            cwd=log.parent,  # no stray .env or ooda.yaml from the checkout
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"ooda serve on :{self.port} did not become healthy:\n{self.output()}")

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), then kill if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()


def server_env(database_url: str, slack: FakeSlack, workdir: Path) -> dict[str, str]:
    config = workdir / "ooda.yaml"
    config.write_text("services: []\n", encoding="utf-8")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return keep | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-local-token",
        "SLACK_SIGNING_SECRET": "local-signing-secret",
        "SLACK_API_URL": f"{slack.url}/api/",
        "OODA_CONFIG": str(config),
        "OODA_HTTP_BACKOFF": "0",
        "OODA_WORKER_POLL": "0.2",
    }


async def open_incident(db: Database, slack: FakeSlack, title: str) -> tuple[int, str]:
    channel = slack.add_channel(f"inc-{title.lower().replace(' ', '-')}")
    async with db.transaction() as session:
        row = await repo.create_incident(
            session, title=title, severity=3, channel_id=channel["id"], channel_name=channel["name"]
        )
    return row.id, str(channel["id"])
