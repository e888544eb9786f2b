"""Slash-command ack latency of the real ooda app against a bare Bolt app that only acks.

Each app runs under uvicorn in its own process, behind the same Starlette route and signing
secret; this process is the load generator. The loopback fakes (Slack, PagerDuty, GitHub,
Argo CD) run in a process of their own, as the real vendors would. ooda has one PagerDuty-paged
incident and is sent `/incident note <text>` in its channel: every ack stores a note and its
job (PagerDuty mirror, Slack post). `bare` is Bolt with its defaults and one listener that only
acks; `bare-inline` the same with process_before_response=True (as ooda runs), for reference.

Requests go out in bursts of `concurrency` at once over fresh kept-alive connections; after a
burst, the app is let finish its jobs, so the next burst measures acks, not a backlog. Bursts
alternate between the apps. Prints p50/p99 per app and ooda's ratio to each bare app (lower is
better; goal: p99 within 2x of bare Bolt).

Run: .venv/bin/python bench/ack_vs_bare_bolt.py [--rounds 30] [--levels 10,50]
     [--profile DIR]   (pyinstrument text profile of the ooda process, if installed)
     [--slow-ms 5]     (ooda logs event-loop callbacks slower than this: asyncio debug mode)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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

from bot.devstack import BOT_TOKEN, SIGNING_SECRET, slack_signature

COMMAND = "/incident"
USER = "U0ALICE01"
PD_ID = "PBENCH1"
APPS = ("ooda", "bare", "bare-inline")


# ---- child processes ----------------------------------------------------------------------


async def _control(handlers: dict[str, Any]) -> None:
    """Answer the parent's line commands on stdin until `quit`."""
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            return
        await handlers[line]()
        print("OK", flush=True)


def ready(**fields: Any) -> None:
    print("READY " + json.dumps(fields), flush=True)


async def serve_fakes(args: argparse.Namespace) -> None:
    from bot.fakes.argocd_api import FakeArgoCD
    from bot.fakes.github_api import FakeGitHub
    from bot.fakes.pagerduty_api import FakePagerDuty
    from bot.fakes.pagerduty_webhooks import webhook_event
    from bot.fakes.slack_api import FakeSlack

    slack, pd = FakeSlack(token=BOT_TOKEN).start(), FakePagerDuty().start()
    github, argocd = FakeGitHub().start(), FakeArgoCD().start()
    slack.add_user("alice@example.com", USER, name="alice")
    incident = pd.add_incident(
        PD_ID, number=4242, title="Checkout 5xx", service_id="PCHKOUT", service_name="checkout"
    )
    pd.add_alert(PD_ID, summary="5xx rate 12%")
    urls = {"slack": slack.url, "pagerduty": pd.url, "github": github.url, "argocd": argocd.url}
    ready(urls=urls, trigger=webhook_event("incident.triggered", incident))
    await _control({})
    print(f"fakes: {len(pd.notes(PD_ID))} PagerDuty notes", file=sys.stderr)
    for fake in (slack, pd, github, argocd):
        fake.stop()


class Remote:
    """A fake served by the fakes process: DevStack needs only its URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> Remote:
        return self

    def stop(self) -> None:
        return None

    def response_url(self, token: str = "x") -> str:  # noqa: S107 - not a secret
        return f"{self.url}/response/{token}"


async def serve_ooda(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from bot import server
    from bot.devstack import DevStack
    from bot.storage.tables import Incident

    fakes = json.loads(args.fakes)
    config = {"services": [{"name": "checkout", "pagerduty_service_ids": ["PCHKOUT"]}]}
    # The production poll interval (DevStack's own is 0.2 s, for quick tests).
    env = {"OODA_WORKER_POLL": "1.0"}
    with tempfile.TemporaryDirectory(prefix="ooda-ackbench-") as tmp:
        stack = DevStack(Path(tmp), config=config, env=env)
        for name, url in fakes["urls"].items():
            setattr(stack, name, Remote(url))
        async with stack:
            await stack.pagerduty_webhook(fakes["trigger"])
            await stack.settle()
            async with stack.runtime.db.session() as session:
                channel = await session.scalar(select(Incident.channel_id))
            freeze = getattr(server, "freeze_startup_heap", None)  # as `ooda serve` does
            if freeze is not None:
                freeze()
            pauses = _watch_gc()
            profiler = _start_profiler(args)
            baseline = asyncio.all_tasks()

            async def drain() -> None:
                # Jobs, and whatever still runs after an ack (listener tasks of any kind).
                while True:
                    await stack.runtime.worker.drain(timeout=300)
                    if not asyncio.all_tasks() - baseline - {asyncio.current_task()}:
                        return
                    await asyncio.sleep(0.005)

            ready(url=stack.url, channel=channel, respond=stack.slack.response_url())
            await _control({"drain": drain})
            _stop_profiler(args, profiler)
            worst = max(pauses, default=0.0)
            print(
                f"ooda: {len(pauses)} full GC passes, longest {worst * 1e3:.0f} ms", file=sys.stderr
            )


def _watch_gc() -> list[float]:
    """Durations of the collector's oldest-generation passes (they stop the event loop)."""
    pauses: list[float] = []
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    gc.callbacks.append(callback)
    return pauses


def _start_profiler(args: argparse.Namespace) -> Any:
    if args.slow_ms:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = args.slow_ms / 1000
        logging.getLogger("asyncio").setLevel(logging.WARNING)
    if not args.profile:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    return profiler


def _stop_profiler(args: argparse.Namespace, profiler: Any) -> None:
    if profiler is None:
        return
    profiler.stop()
    Path(args.profile).mkdir(parents=True, exist_ok=True)
    out = Path(args.profile) / "ooda-ack.txt"
    out.write_text(profiler.output_text(color=False), encoding="utf-8")
    print(f"profile written to {out}", file=sys.stderr)


async def serve_bare(args: argparse.Namespace) -> None:
    """One command listener that only acks; served like ooda (Starlette route + uvicorn)."""
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    slack_url = json.loads(args.fakes)["urls"]["slack"]
    bolt = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=f"{slack_url}/api/"),  # its auth.test
        signing_secret=SIGNING_SECRET,
        process_before_response=args.serve == "bare-inline",
    )

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

    ready(url=f"http://127.0.0.1:{port}", channel="C0BARE", respond=f"{slack_url}/response/x")
    await _control({"drain": drain})
    server.should_exit = True
    await task


# ---- the load generator (this process) ----------------------------------------------------


class Child:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.name, self.proc, self.info = name, proc, info

    async def call(self, line: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        if line != "quit":
            answer = (await self.proc.stdout.readline()).decode().strip()
            assert answer == "OK", answer

    async def quit(self) -> None:
        if self.proc.returncode is None:
            await self.call("quit")
            await self.proc.wait()


async def spawn(role: str, args: list[str]) -> Child:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        role,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 22,
    )
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError(f"{role} exited before it was ready")
        if line.startswith("READY "):
            return Child(role, proc, json.loads(line[6:]))


class Target(Child):
    def __init__(self, child: Child) -> None:
        super().__init__(child.name, child.proc, child.info)
        parsed = urllib.parse.urlsplit(self.info["url"])
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.samples: dict[int, list[float]] = {}
        self.sent = 0

    async def connect(self, n: int) -> None:
        """Fresh connections (not timed): uvicorn closes idle ones after 5 s."""
        for _, writer in self.conns:
            writer.close()
        self.conns = [await asyncio.open_connection(self.host, self.port) for _ in range(n)]

    def request(self) -> bytes:
        """One signed slash command, as Slack sends it (a fresh trigger_id each time)."""
        self.sent += 1
        form = {
            "token": "legacy",
            "team_id": "T0LOCAL01",
            "channel_id": self.info["channel"],
            "user_id": USER,
            "user_name": "alice",
            "command": COMMAND,
            "text": f"note bench note {self.sent}",
            "response_url": self.info["respond"],
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
        """`concurrency` requests written at once; seconds until each full response."""
        await self.connect(concurrency)
        requests = [self.request() for _ in range(concurrency)]
        started: list[float] = []
        for (_, writer), raw in zip(self.conns, requests, strict=True):
            started.append(time.perf_counter())
            writer.write(raw)
        ends = await asyncio.gather(*(_read_response(reader) for reader, _ in self.conns))
        return [end - start for start, end in zip(started, ends, strict=True)]


async def _read_response(reader: asyncio.StreamReader) -> float:
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"200", head
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return time.perf_counter()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def run(args: argparse.Namespace) -> None:
    fakes = await spawn("fakes", [])
    children: list[Child] = [fakes]
    try:
        shared = ["--fakes", json.dumps(fakes.info)]
        extra = ["--profile", args.profile] if args.profile else []
        extra += ["--slow-ms", str(args.slow_ms)] if args.slow_ms else []
        ooda = Target(await spawn("ooda", [*shared, *extra]))
        children.append(ooda)
        targets = [ooda]
        for name in APPS[1:]:
            targets.append(Target(await spawn(name, shared)))
            children.append(targets[-1])
        for level in args.levels:
            for target in targets:  # warm-up: first-use costs, Bolt's auth.test
                for _ in range(3):
                    await target.burst(level)
                    await target.call("drain")
                target.samples[level] = []
            for n in range(args.rounds):
                for target in targets[n % 3 :] + targets[: n % 3]:
                    target.samples[level] += await target.burst(level)
                    await target.call("drain")
            for target in targets:
                for _, writer in target.conns:
                    writer.close()
                target.conns = []
    finally:
        for child in reversed(children):
            await child.quit()
    report(args, targets)


def report(args: argparse.Namespace, targets: list[Target]) -> None:
    print(f"\nslash-command ack latency: {args.rounds} bursts per level, SQLite, one process each")
    print(f"{'concurrent':>10} {'app':>12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for level in args.levels:
        figures = {}
        for target in targets:
            s = target.samples[level]
            figures[target.name] = (statistics.median(s), percentile(s, 0.99), max(s))
            p50, p99, worst = figures[target.name]
            print(
                f"{level:>10} {target.name:>12} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f} {worst * 1e3:>8.1f}"
            )
        for bare in APPS[1:]:
            p50 = figures["ooda"][0] / figures[bare][0]
            p99 = figures["ooda"][1] / figures[bare][1]
            print(f"{level:>10} ooda / {bare}: p50 {p50:.2f}x, p99 {p99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--levels", default="10,50")
    parser.add_argument("--profile", default="")
    parser.add_argument("--slow-ms", type=float, default=0.0)
    parser.add_argument("--serve", choices=["fakes", *APPS], help=argparse.SUPPRESS)
    parser.add_argument("--fakes", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.levels = [int(x) for x in str(args.levels).split(",")]
    serve = {"fakes": serve_fakes, "ooda": serve_ooda, "bare": serve_bare}
    serve["bare-inline"] = serve_bare
    asyncio.run(serve[args.serve](args) if args.serve else run(args))


if __name__ == "__main__":
    main()
