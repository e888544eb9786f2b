"""How fast the bot answers Slack and PagerDuty while it works: the ack budget is 3 s for Slack
and 5 s for PagerDuty. Drives the real app over loopback HTTP (DevStack) with the incident
set-up work running in the background, and prints latency percentiles and their ratio to the
budgets (lower is better; 1.0x means the budget is used up).

Run: .venv/bin/python bench/ack_latency.py [--incidents 30] [--commands 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo import CONFIG
from bot.devstack import DevStack
from bot.fakes.pagerduty_webhooks import webhook_event

SLACK_BUDGET = 3.0
PAGERDUTY_BUDGET = 5.0


def report(name: str, samples: list[float], budget: float) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    worst = ordered[-1]
    print(
        f"{name}: n={len(ordered)} p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {worst * 1000:.1f} ms -> p95 is {p95 / budget:.4f}x of the {budget:.0f} s budget"
    )


async def main(incidents: int, commands: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ooda-bench-") as tmp:
        async with DevStack(Path(tmp), config=CONFIG) as stack:
            pd_times: list[float] = []
            for n in range(incidents):
                incident = stack.pagerduty.add_incident(
                    f"PBENCH{n:03d}",
                    number=9000 + n,
                    title=f"Checkout errors {n}",
                    service_id=f"PSVC{n:03d}",
                    service_name=f"service-{n}",
                )
                stack.pagerduty.add_alert(incident["id"], summary=f"5xx rate {n}%")
                event = webhook_event("incident.triggered", incident)
                started = time.perf_counter()
                response = await stack.pagerduty_webhook(event)
                pd_times.append(time.perf_counter() - started)
                assert response.status_code == 202, response.text
            slack_times: list[float] = []
            for n in range(commands):
                started = time.perf_counter()
                response = await stack.command(
                    "status" if n % 2 else "help", user="U0BENCH01", channel="C0GENERAL"
                )
                slack_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            backlog_started = time.perf_counter()
            await stack.settle(timeout=300)
            backlog = time.perf_counter() - backlog_started
            channels = sum(1 for c in stack.slack.channels if c["name"].startswith("inc-"))
    print(f"{incidents} PagerDuty triggers, {commands} slash commands, SQLite, one process")
    report("PagerDuty webhook answer", pd_times, PAGERDUTY_BUDGET)
    report("Slack slash-command ack", slack_times, SLACK_BUDGET)
    print(f"background set-up finished {backlog:.1f} s after the last request; {channels} channels")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=30)
    parser.add_argument("--commands", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.commands))
