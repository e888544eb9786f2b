"""Slash-command ack latency of the real ooda app against a bare Bolt app that only acks.

Both run under uvicorn in their own process, signed with the same secret; this process is the
load generator. ooda is the whole DevStack (loopback fakes for Slack, PagerDuty, GitHub, Argo CD)
with one PagerDuty-paged incident; each request is `/incident note <text>` in its channel, so
every ack stores a note and queues its PagerDuty mirror and Slack post. Requests go out in bursts
of `concurrency` at once over kept-alive connections; after each burst the ooda worker is let
finish its jobs (the next burst measures acks, not a backlog). Bursts alternate between the two
apps. Prints p50/p99 per app and the ratio ooda / bare (lower is better; goal: p99 <= 2x).

Run: .venv/bin/python bench/ack_vs_bare_bolt.py [--rounds 30] [--levels 10,50]
     [--profile DIR]   (ooda child writes a pyinstrument HTML profile, if installed)
     [--slow-ms 5]     (ooda child logs event-loop callbacks slower than this, asyncio debug)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.devstack import SIGNING_SECRET, slack_signature

COMMAND = "/incident"
USER = "U0ALICE01"


# ---- the two servers (child processes) -----------------------------------------------------


async def _control(handlers: dict[str, Any]) -> None:
    """Answer the parent's line commands on stdin until `quit`."""
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            return
        await handlers[line]()
        print("OK", flush=True)


async def serve_ooda(args: argparse.Namespace) -> None:
    from bot.devstack import DevStack
    from bot.fakes.pagerduty_webhooks import webhook_event

    config = {"services": [{"name": "checkout", "pagerduty_service_ids": ["PCHKOUT"]}]}
    with tempfile.TemporaryDirectory(prefix="ooda-ackbench-") as tmp:
        async with DevStack(Path(tmp), config=config) as stack:
            stack.slack.add_user("alice@example.com", USER, name="alice")
            pd = stack.pagerduty.add_incident(
                "PBENCH1",
                number=4242,
                title="Checkout 5xx",
                service_id="PCHKOUT",
                service_name="checkout",
            )
            stack.pagerduty.add_alert(pd["id"], summary="5xx rate 12%")
            await stack.pagerduty_webhook(webhook_event("incident.triggered", pd))
            await stack.settle()
            channel = next(c["id"] for c in stack.slack.channels if c["name"].startswith("inc-"))
            profiler = _start_profiler(args)
            if args.slow_ms:
                loop = asyncio.get_running_loop()
                loop.set_debug(True)
                loop.slow_callback_duration = args.slow_ms / 1000
                logging.getLogger("asyncio").setLevel(logging.WARNING)

            baseline = asyncio.all_tasks()

            async def drain() -> None:
                # Jobs, and whatever still runs after an ack (Bolt listener tasks).
                while True:
                    await stack.runtime.worker.drain(timeout=300)
                    if not asyncio.all_tasks() - baseline - {asyncio.current_task()}:
                        return
                    await asyncio.sleep(0.005)

            ready = {"url": stack.url, "channel": channel, "respond": stack.slack.response_url()}
            print("READY " + json.dumps(ready), flush=True)
            await _control({"drain": drain})
            notes = [e for e in await _timeline(stack) if e.kind == "note"]
            print(f"ooda stored {len(notes)} notes", file=sys.stderr)
            if profiler is not None:
                profiler.stop()
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                out = Path(args.profile) / "ooda-ack.html"
                out.write_text(profiler.output_html(), encoding="utf-8")
                print(f"profile written to {out}", file=sys.stderr)


async def _timeline(stack: Any) -> list[Any]:
    from bot.storage import repo

    async with stack.runtime.db.session() as session:
        return await repo.timeline(session, 1, limit=100_000)


def _start_profiler(args: argparse.Namespace) -> Any:
    if not args.profile:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    return profiler


async def serve_bare(args: argparse.Namespace) -> None:
    """Bolt's defaults, one command listener that only acks; served like ooda (Starlette +
    uvicorn). A loopback fake Slack answers Bolt's one auth.test."""
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from bot.fakes.slack_api import FakeSlack

    slack = FakeSlack(token="xoxb-bare").start()
    client = AsyncWebClient(token="xoxb-bare", base_url=f"{slack.url}/api/")
    bolt = AsyncApp(client=client, signing_secret=SIGNING_SECRET)

    @bolt.command(COMMAND)
    async def only_ack(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    async def drain() -> None:
        return None

    ready = {
        "url": f"http://127.0.0.1:{port}",
        "channel": "C0BARE",
        "respond": slack.response_url(),
    }
    print("READY " + json.dumps(ready), flush=True)
    await _control({"drain": drain})
    server.should_exit = True
    await task
    slack.stop()


# ---- the load generator (this process) -----------------------------------------------------


class Target:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.name, self.proc = name, proc
        parsed = urllib.parse.urlsplit(ready["url"])
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.channel, self.respond = ready["channel"], ready["respond"]
        self.conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.samples: dict[int, list[float]] = {}
        self.sent = 0

    async def connect(self, n: int) -> None:
        """Fresh connections (not timed): uvicorn closes idle ones after 5 s."""
        for _, writer in self.conns:
            writer.close()
        self.conns = [await asyncio.open_connection(self.host, self.port) for _ in range(n)]

    def request(self) -> bytes:
        """One signed slash command, as Slack sends it (fresh trigger_id and timestamp)."""
        self.sent += 1
        form = {
            "token": "legacy",
            "team_id": "T0LOCAL01",
            "channel_id": self.channel,
            "user_id": USER,
            "user_name": "alice",
            "command": COMMAND,
            "text": f"note bench note {self.sent}",
            "response_url": self.respond,
            "trigger_id": f"bench.{os.getpid()}.{self.sent}.{time.monotonic_ns()}",
            "api_app_id": "A0LOCAL01",
        }
        body = urllib.parse.urlencode(form).encode()
        timestamp = str(int(time.time()))
        head = (
            f"POST /slack/events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Slack-Request-Timestamp: {timestamp}\r\n"
            f"X-Slack-Signature: {slack_signature(SIGNING_SECRET, timestamp, body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def burst(self, concurrency: int) -> list[float]:
        await self.connect(concurrency)
        requests = [self.request() for _ in range(concurrency)]
        started: list[float] = []
        for (_, writer), raw in zip(self.conns, requests, strict=False):
            started.append(time.perf_counter())
            writer.write(raw)
        ends = await asyncio.gather(*(_read_response(r) for r, _ in self.conns[:concurrency]))
        return [end - start for start, end in zip(started, ends, strict=True)]

    async def steady(self, concurrency: int, per_client: int) -> list[float]:
        """`concurrency` clients, each sending its next request as soon as it has an answer."""
        await self.connect(concurrency)

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[float]:
            out = []
            for _ in range(per_client):
                raw = self.request()
                start = time.perf_counter()
                writer.write(raw)
                out.append(await _read_response(reader) - start)
            return out

        results = await asyncio.gather(*(client(r, w) for r, w in self.conns[:concurrency]))
        return [x for r in results for x in r]

    async def call(self, line: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        answer = (await self.proc.stdout.readline()).decode().strip()
        assert answer == "OK", answer


async def _read_response(reader: asyncio.StreamReader) -> float:
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    assert status == b"200", head
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return time.perf_counter()


async def spawn(role: str, extra: list[str]) -> Target:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        role,
        *extra,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError(f"{role} server exited before it was ready")
        if line.startswith("READY "):
            return Target(role, proc, json.loads(line[6:]))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def run(args: argparse.Namespace) -> None:
    extra = [*(["--profile", args.profile] if args.profile else [])]
    extra += ["--slow-ms", str(args.slow_ms)] if args.slow_ms else []
    ooda, bare = await asyncio.gather(spawn("ooda", extra), spawn("bare", []))
    try:
        for level in args.levels:
            for target in (ooda, bare):  # warm-up: connections, first-use costs
                for _ in range(3):
                    await target.burst(level)
                    await target.call("drain")
                target.samples[level] = []
            for n in range(args.rounds):
                for target in (ooda, bare) if n % 2 else (bare, ooda):
                    if args.steady:
                        target.samples[level] += await target.steady(level, args.steady)
                    else:
                        target.samples[level] += await target.burst(level)
                    await target.call("drain")
    finally:
        for target in (ooda, bare):
            for _, writer in target.conns:
                writer.close()
            assert target.proc.stdin is not None
            target.proc.stdin.write(b"quit\n")
            await target.proc.stdin.drain()
            await target.proc.wait()
    print(f"slash-command ack latency, {args.rounds} bursts per level, SQLite, one process each")
    print(f"{'concurrent':>10} {'app':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for level in args.levels:
        figures = {}
        for target in (bare, ooda):
            s = target.samples[level]
            figures[target.name] = (statistics.median(s), percentile(s, 0.99), max(s))
            p50, p99, worst = figures[target.name]
            print(
                f"{level:>10} {target.name:>5} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f} {worst * 1e3:>8.1f}"
            )
        ratio50 = figures["ooda"][0] / figures["bare"][0]
        ratio99 = figures["ooda"][1] / figures["bare"][1]
        print(f"{level:>10} ratio ooda/bare: p50 {ratio50:.2f}x, p99 {ratio99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--levels", default="10,50")
    parser.add_argument("--serve", choices=["ooda", "bare"])
    parser.add_argument("--profile", default="")
    parser.add_argument("--steady", type=int, default=0, help="requests per client, no bursts")
    parser.add_argument("--slow-ms", type=float, default=0.0)
    args = parser.parse_args()
    args.levels = [int(x) for x in str(args.levels).split(",")]
    if args.serve == "ooda":
        asyncio.run(serve_ooda(args))
    elif args.serve == "bare":
        asyncio.run(serve_bare(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
