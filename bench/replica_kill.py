"""`kill -9` of one of two `ooda serve` replicas on PostgreSQL during a storm of pages and notes.

Two real server processes share one PostgreSQL database and the loopback stand-ins (run here).
PagerDuty triggers, PagerDuty notes and `/incident note` commands go to both replicas; halfway
through, replica A is killed with SIGKILL and the storm goes on against replica B. Then:
- every incident must have its Observe card within 60 s of the kill;
- every note or command that got a 2xx must be on the timeline and in the channel, once;
- no card (Observe, Orient, live summary) may be posted twice.

Run: .venv/bin/python bench/replica_kill.py [--incidents 20] [--database postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import yaml
from sqlalchemy import create_engine, make_url, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.devstack import PD_SECRET, SIGNING_SECRET, slack_signature
from bot.domain.model import utcnow
from bot.fakes import FakeGitHub, FakePagerDuty, FakeSlack
from bot.fakes.pagerduty_webhooks import sign_webhook
from bot.storage.db import Database, sync_url, upgrade
from bot.storage.tables import Incident, TimelineRow

SERVE = "from bot.cli import main; main()"
TOKEN = "xoxb-bench"
CONFIG = {
    "services": [
        {
            "name": f"svc{n}",
            "pagerduty_service_ids": [f"PSVC{n:03d}"],
            "github_repo": f"acme/svc{n}",
        }
        for n in range(100)
    ]
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log: IO[bytes] = (workdir / f"{name}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(self.port)],
            env=env,
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def healthy(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


async def pagerduty(client: httpx.AsyncClient, replica: Replica, event: dict[str, Any]) -> int:
    raw = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": sign_webhook(raw, [PD_SECRET]),
        "X-Webhook-Id": event["event"]["id"],
    }
    try:
        response = await client.post(
            f"{replica.url}/webhooks/pagerduty", content=raw, headers=headers
        )
    except httpx.TransportError:
        return 0
    return response.status_code


async def command(client: httpx.AsyncClient, replica: Replica, text_: str, channel: str) -> int:
    form = {
        "team_id": "T0FAKE0001",
        "channel_id": channel,
        "user_id": "U0ALICE01",
        "user_name": "alice",
        "command": "/incident",
        "text": text_,
        "trigger_id": f"trigger.{time.monotonic_ns()}",
        "api_app_id": "A0FAKEAPP1",
        "response_url": "http://127.0.0.1:9/unused",
    }
    body = urllib.parse.urlencode(form).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body),
    }
    try:
        response = await client.post(f"{replica.url}/slack/events", content=body, headers=headers)
    except httpx.TransportError:
        return 0
    return response.status_code


def reset(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


async def main(count: int, database: str) -> int:
    slack, pd, github = (
        FakeSlack(token=TOKEN).start(),
        FakePagerDuty().start(),
        FakeGitHub().start(),
    )
    slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    reset(database)
    upgrade(database)
    with tempfile.TemporaryDirectory(prefix="ooda-kill-") as tmp:
        workdir = Path(tmp)
        (workdir / "ooda.yaml").write_text(yaml.safe_dump(CONFIG))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "DATABASE_URL": database,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{slack.url}/api/",
            "PAGERDUTY_API_TOKEN": "pd",
            "PAGERDUTY_FROM_EMAIL": "bot@example.com",
            "PAGERDUTY_API_URL": pd.url,
            "PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET,
            "GITHUB_TOKEN": "gh",
            "GITHUB_API_URL": github.url,
            "OODA_CONFIG": str(workdir / "ooda.yaml"),
            "OODA_HTTP_BACKOFF": "0",
            "OODA_WORKER_POLL": "0.5",
            "OODA_JOB_LEASE_SECONDS": "10",
            "OODA_OUTBOX_LEASE_SECONDS": "10",
        }
        a, b = Replica("a", env, workdir), Replica("b", env, workdir)
        accepted: list[tuple[str, int]] = []  # (note text, incident index)
        try:
            await asyncio.gather(a.healthy(), b.healthy())
            killed_at = None
            async with httpx.AsyncClient(timeout=10) as client:
                for n in range(count):
                    alive = [a, b] if killed_at is None else [b]
                    pd_id = f"PKILL{n:03d}"
                    pd.add_incident(
                        pd_id,
                        number=7000 + n,
                        title=f"svc{n} down",
                        service_id=f"PSVC{n:03d}",
                        service_name=f"svc{n}",
                        created_at=utcnow() - timedelta(minutes=2),
                    )
                    pd.add_alert(pd_id, summary=f"svc{n} 5xx")
                    await pagerduty(
                        client, alive[n % len(alive)], pd.webhook_event("incident.triggered", pd_id)
                    )
                    for k in range(2):
                        note = f"pd note {n}.{k}"
                        status = await pagerduty(
                            client,
                            alive[(n + k + 1) % len(alive)],
                            pd.webhook_event(
                                "incident.annotated", pd_id, data_extra={"content": note}
                            ),
                        )
                        if 200 <= status < 300:
                            accepted.append((note, n))
                    # Slack notes on an earlier incident whose channel exists by now.
                    earlier = n - 3
                    chan = slack.channel_by_name(f"inc-{earlier + 1}-svc{earlier}-down")
                    if earlier >= 0 and chan is not None:
                        for k, replica in enumerate(alive):
                            note = f"slack note {earlier}.{k}"
                            status = await command(client, replica, f"note {note}", chan["id"])
                            if 200 <= status < 300:
                                accepted.append((note, earlier))
                    if n == count // 2 and killed_at is None:
                        a.kill()
                        killed_at = time.monotonic()
                        print(f"killed replica a (SIGKILL) after {n + 1} incidents")
            assert killed_at is not None

            def observe_cards() -> dict[int, int]:
                found: dict[int, int] = {}
                for m in slack.messages():
                    for n in range(count):
                        if m["text"].startswith(f"INC-{n + 1} Observe"):
                            found[n + 1] = found.get(n + 1, 0) + 1
                return found

            while len(observe_cards()) < count and time.monotonic() - killed_at < 120:
                await asyncio.sleep(0.2)
            last_card = time.monotonic() - killed_at
            print(
                f"every incident had its Observe card {last_card:.1f} s after the kill "
                f"({len(observe_cards())}/{count}; target: all within 60 s)"
            )
            # Let the survivor finish what it took over before counting duplicates.
            await asyncio.sleep(15)
        finally:
            a.stop()
            b.stop()
        db = Database(database)
        async with db.session() as session:
            entries = (await session.scalars(select(TimelineRow))).all()
            incidents = {
                i.id: i.channel_id for i in (await session.scalars(select(Incident))).all()
            }
        await db.dispose()
        on_timeline = {e.text for e in entries}
        missing = [note for note, _ in accepted if not any(note in t for t in on_timeline)]
        messages = slack.messages()
        said_twice = []
        for note, _n in accepted:
            times = sum(1 for m in messages if note in m["text"])
            if times != 1:
                said_twice.append((note, times))
        cards_twice = []
        for number, channel in incidents.items():
            for prefix in (
                f"INC-{number} Observe",
                f"INC-{number} Orient",
                f"INC-{number} live summary",
            ):
                times = (
                    sum(1 for m in slack.messages(channel) if m["text"].startswith(prefix))
                    if channel
                    else 0
                )
                if times > 1:
                    cards_twice.append((prefix, times))
        print(
            f"notes and commands answered 2xx: {len(accepted)}; missing from the timeline: "
            f"{len(missing)} {missing[:5]}"
        )
        print(f"said other than once in Slack: {len(said_twice)} {said_twice[:5]}")
        print(f"cards posted twice: {len(cards_twice)} {cards_twice[:5]}")
        ok = last_card <= 60 and not missing and not said_twice and not cards_twice
        print("RESULT: " + ("pass" if ok else "FAIL"))
    for fake in (slack, pd, github):
        fake.stop()
    return 0 if ok else 1


def create_database(url: str) -> None:
    """Create the bench's own database when it does not exist (it is wiped at each run)."""
    parsed = make_url(sync_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_kill")
    args = parser.parse_args()
    create_database(args.database)
    sys.exit(asyncio.run(main(args.incidents, args.database)))
