"""The first minutes of an incident, against loopback stand-ins that answer after --latency s.

Measures, in one run:
- trigger → Observe card *with the alerts* delivered to Slack, against the floor of two round
  trips (create the channel, then post, with every fetch overlapped);
- trigger → Orient card with ranked changes delivered (posted or updated in place);
- the same for other incidents while one PagerDuty incident's REST calls hang;
and prints the ratios and the call waterfall of one incident.

The bot runs as `ooda serve` in a process of its own (SQLite, the default deployment), as it
would in production, so the stand-ins' work in this process does not compete with it for the
interpreter; `--in-process` runs it inside this process instead (DevStack), for profiling.

Run: .venv/bin/python bench/first_minutes.py [--latency 0.1] [--incidents 5] [--in-process]
Targets (issue 10): Observe <= 1.5x the floor, Orient <= 2.5x; with a hanging incident the
others' cards no later than without it (within 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo import CONFIG
from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.storage import jobs, outbox_delivery
from bot.storage.db import Database

SERVICES = [
    {
        "name": f"svc{n}",
        "pagerduty_service_ids": [f"PSVC{n:03d}"],
        "github_repo": f"acme/svc{n}",
        "github_environment": "production",
    }
    for n in range(40)
]


def seed(stack: DevStack, n: int, now: datetime) -> dict[str, Any]:
    first_alert = now - timedelta(minutes=3)
    repo = f"acme/svc{n}"
    stack.github.add_deployment(
        repo,
        sha=f"{n:02d}" + "a" * 38,
        created_at=first_alert - timedelta(hours=5),
        description="v1.0.0",
    )
    stack.github.add_deployment(
        repo,
        sha=f"{n:02d}" + "b" * 38,
        created_at=first_alert - timedelta(minutes=12),
        description="v1.1.0: new retry policy",
    )
    pd_id = f"PBENCH{n:03d}"
    stack.pagerduty.add_incident(
        pd_id,
        number=9000 + n,
        title=f"svc{n} 5xx errors",
        service_id=f"PSVC{n:03d}",
        service_name=f"svc{n}",
        created_at=first_alert,
    )
    for m in range(3):
        stack.pagerduty.add_alert(
            pd_id, summary=f"alert {m} on svc{n}", created_at=first_alert + timedelta(minutes=m)
        )
    return stack.pagerduty.webhook_event("incident.triggered", pd_id)


def card_times(stack: DevStack, number: int, sent: datetime) -> tuple[float | None, float | None]:
    """Seconds from `sent` to the Observe card with alerts and the Orient card with changes."""
    observe = orient = None
    for call in stack.slack.calls():
        if call.method not in ("chat.postMessage", "chat.update") or not call.ok:
            continue
        text = str(call.params.get("text") or "")
        at = (call.at - sent).total_seconds()
        observe_card = text.startswith(f"INC-{number} Observe") and "alert" in text
        if observe is None and observe_card and "0 alert(s)" not in text:
            observe = at
        if orient is None and text.startswith(f"INC-{number} Orient") and "top:" in text:
            orient = at
    return observe, orient


async def round_trip(url: str) -> float:
    async with httpx.AsyncClient() as client:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            await client.post(f"{url}/api/api.test")
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def trigger_and_wait(stack: DevStack, n: int, number: int) -> tuple[float, float]:
    event = seed(stack, n, utcnow())
    sent = utcnow()
    response = await stack.pagerduty_webhook(event)
    assert response.status_code == 202, response.text

    def done(_slack: Any) -> bool:
        observe, orient = card_times(stack, number, sent)
        return observe is not None and orient is not None

    await stack.slack.wait_for(done, timeout=60)
    observe, orient = card_times(stack, number, sent)
    assert observe is not None and orient is not None
    return observe, orient


def waterfall(stack: DevStack, sent: datetime) -> list[str]:
    rows = []
    for who, calls in (
        ("slack", [(c.at, c.method) for c in stack.slack.calls()]),
        ("pagerduty", [(c.at, f"{c.method} {c.path}") for c in stack.pagerduty.calls]),
        ("github", [(c.at, f"{c.method} {c.path}") for c in stack.github.calls]),
    ):
        rows += [(at, who, what) for at, what in calls if at >= sent]
    return [
        f"  +{(at - sent).total_seconds() * 1000:7.0f} ms  {who:9} {what}"
        for at, who, what in sorted(rows)
    ]


async def settled(stack: DevStack, db: Database | None) -> None:
    """Wait until the bot has nothing due within 2 s left to run or to say."""
    if db is None:
        await stack.settle()
        return
    while True:
        async with db.session() as session:
            lanes = await outbox_delivery.lanes_with_work(session, limit=1, free=False)
        if not lanes and await jobs.pending_count(db, within=timedelta(seconds=2)) == 0:
            return
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def bot_process(stack: DevStack) -> AsyncIterator[Database]:
    """`ooda serve` on the stack's settings in a child process; yields its database."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(stack.workdir)} | stack.environment()
    log = (stack.workdir / "serve.log").open("wb")
    # OODA_BENCH_WRAP: a command to run the server under (a profiler), e.g. "py-spy record -o x --"
    wrap = os.environ.get("OODA_BENCH_WRAP", "").split()
    proc = subprocess.Popen(
        [
            *wrap,
            sys.executable,
            "-c",
            "from bot.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        cwd=stack.workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.url = f"http://127.0.0.1:{port}"
    stack.http = httpx.AsyncClient(base_url=stack.url, timeout=30)
    db = Database(stack.database_url)
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if (await stack.http.get("/healthz")).status_code == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"ooda serve exited: see {log.name}")
            await asyncio.sleep(0.1)
        yield db
    finally:
        await stack.http.aclose()
        proc.send_signal(signal.SIGINT if wrap else signal.SIGTERM)  # a profiler writes on ^C
        proc.wait(timeout=60)
        log.close()
        await db.dispose()


@contextlib.asynccontextmanager
async def running(stack: DevStack, in_process: bool) -> AsyncIterator[Database | None]:
    if in_process:
        async with stack:
            yield None
        return
    stack.start_fakes()
    try:
        async with bot_process(stack) as db:
            yield db
    finally:
        for fake in (stack.slack, stack.pagerduty, stack.github, stack.argocd):
            fake.stop()


async def main(latency: float, incidents: int, in_process: bool) -> None:
    config = dict(CONFIG, services=SERVICES)
    with tempfile.TemporaryDirectory(prefix="ooda-bench-") as tmp:
        env = {"OODA_WORKER_POLL": "0.5"}
        stack = DevStack(Path(tmp), config=config, env=env)
        async with running(stack, in_process) as db:
            for fake in (stack.slack, stack.pagerduty, stack.github, stack.argocd):
                fake.latency = latency
            rtt = await round_trip(stack.slack.url)
            floor = 2 * rtt
            print(
                f"round trip to a stand-in: {rtt * 1000:.0f} ms; floor (2 round trips) "
                f"{floor * 1000:.0f} ms"
            )
            observes, orients = [], []
            number = 0
            for n in range(incidents):
                number += 1
                if n == 0:
                    stack.slack.reset_calls()
                    stack.pagerduty.reset_calls()
                    stack.github.reset_calls()
                    sent0 = utcnow()
                observe, orient = await trigger_and_wait(stack, n, number)
                if n == 0:
                    rows = waterfall(stack, sent0)
                observes.append(observe)
                orients.append(orient)
                await settled(stack, db)
            obs, ori = statistics.median(observes), statistics.median(orients)
            print(
                f"\ntrigger → Observe card with alerts: median {obs * 1000:.0f} ms = "
                f"{obs / floor:.2f}× the floor (target ≤ 1.5×)"
            )
            print(
                f"trigger → Orient card with ranked changes: median {ori * 1000:.0f} ms = "
                f"{ori / floor:.2f}× the floor (target ≤ 2.5×)"
            )
            print("\nwaterfall of the first incident (time the stand-in answered):")
            print("\n".join(rows))

            # One PagerDuty incident hangs; the others must not wait for it.
            hung = incidents
            gate = stack.pagerduty.hold(f"/incidents/PBENCH{hung:03d}")
            try:
                event = seed(stack, hung, utcnow())
                assert (await stack.pagerduty_webhook(event)).status_code == 202
                number += 1
                others = []
                for n in range(hung + 1, hung + 1 + incidents):
                    number += 1
                    observe, _ = await trigger_and_wait(stack, n, number)
                    others.append(observe)
            finally:
                gate.set()
            with_hang = statistics.median(others)
            print(
                f"\nwith one PagerDuty incident hanging: others' Observe card median "
                f"{with_hang * 1000:.0f} ms vs {obs * 1000:.0f} ms without "
                f"(difference {(with_hang - obs) * 1000:+.0f} ms, target within 500 ms)"
            )
            await settled(stack, db)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--incidents", type=int, default=5)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.latency, args.incidents, args.in_process))
