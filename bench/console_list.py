"""The web console's incidents list with 10,000 incidents in SQLite: latency of /ui/ (first
page, a text search, filters, a deep page) over loopback HTTP with a signed-in session,
against a bare Starlette app under uvicorn answering a page of the same size in the same run.
Target: p95 under 200 ms.

Run: .venv/bin/python bench/console_list.py [--incidents 10000] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo import CONFIG
from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.storage.tables import Incident

TARGET = 0.200
CONSOLE = {
    "SLACK_CLIENT_ID": "bench.client",
    "SLACK_CLIENT_SECRET": "bench-secret",
    "OODA_SESSION_SECRET": "bench-session-secret",
}
SERVICES = ["checkout", "payments", "search", "catalog", "auth", "cart", "email", "ledger"]
STATUSES = ["resolved"] * 8 + ["acknowledged", "triggered"]


async def seed(stack: DevStack, count: int) -> None:
    """Rows as the bot leaves them (a bench may add rows directly; the bot's own code never
    does): most resolved after 42 minutes, every 20th a drill."""
    now = utcnow()
    rows = []
    for i in range(count):
        opened = now - timedelta(minutes=37 * (count - i))
        status = STATUSES[i % len(STATUSES)]
        rows.append(
            Incident(
                title=f"{SERVICES[i % 8]} {['5xx errors', 'latency', 'queue backlog'][i % 3]} #{i}",
                service=SERVICES[i % 8],
                severity=1 + i % 4,
                status=status,
                stage="act" if status == "resolved" else "orient",
                opened_at=opened,
                first_alert_at=opened,
                resolved_at=opened + timedelta(minutes=42) if status == "resolved" else None,
                is_drill=i % 20 == 0,
            )
        )
    async with stack.runtime.db.transaction() as session:
        session.add_all(rows)


async def signed_in(stack: DevStack, user: str) -> httpx.AsyncClient:
    stack.slack.openid.sign_in_as(user)
    client = httpx.AsyncClient(base_url=stack.url, timeout=30)
    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize.headers["location"]).query).items()}
    done = await client.get("/auth/callback", params=query)
    assert done.status_code == 303, done.text
    return client


async def timed(client: httpx.AsyncClient, path: str, n: int) -> tuple[list[float], int]:
    samples, size = [], 0
    await client.get(path)  # warm
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    return samples, size


def line(name: str, samples: list[float], baseline: float | None = None) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    text = f"{name:<42} p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"
    if baseline is not None:
        text += f"   {p95 / baseline:5.1f}x bare p95   {'under' if p95 < TARGET else 'OVER'} 200 ms"
    return text


async def bare_server(body: bytes) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(body)

    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/", page)]), host="127.0.0.1", port=0,
                       log_level="warning", lifespan="off")
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def main(incidents: int, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ooda-console-bench-") as tmp:
        async with DevStack(Path(tmp), config=CONFIG, env=CONSOLE) as stack:
            started = time.perf_counter()
            await seed(stack, incidents)
            print(f"seeded {incidents} incidents in {time.perf_counter() - started:.1f} s")
            alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
            client = await signed_in(stack, alice)
            paths = {
                "/ui/ (first page, 50 rows)": "/ui/",
                "/ui/?q=latency (text search)": "/ui/?q=latency",
                "/ui/?status=resolved&severity=2&service=": "/ui/?status=resolved&severity=2&service=search",
                "/ui/?from=..&to=.. (date range)": "/ui/?from=2000-01-01&to=2100-01-01",
                "/ui/?drills=1&before=5000 (deep page)": "/ui/?drills=1&before=5000",
            }
            results = {name: await timed(client, path, requests) for name, path in paths.items()}
            await client.aclose()
            size = results["/ui/ (first page, 50 rows)"][1]
            server, task, url = await bare_server(b"x" * size)
            async with httpx.AsyncClient(base_url=url, timeout=30) as bare:
                baseline, _ = await timed(bare, "/", requests)
            server.should_exit = True
            await task
    bare_p95 = sorted(baseline)[max(0, int(len(baseline) * 0.95) - 1)]
    print(line(f"bare Starlette, {size} bytes", baseline))
    for name, (samples, _) in results.items():
        print(line(name, samples, bare_p95))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.requests))
