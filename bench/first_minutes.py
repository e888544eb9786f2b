"""The first minutes of an incident, against loopback stand-ins that answer after --latency s.

Measures, in one run:
- trigger → Observe card *with the alerts* delivered to Slack, against the floor of two round
  trips (create the channel, then post, with every fetch overlapped);
- trigger → Orient card with ranked changes delivered (posted or updated in place);
- the same for other incidents while one PagerDuty incident's REST calls hang;
and prints the ratios and the call waterfall of one incident.

Run: .venv/bin/python bench/first_minutes.py [--latency 0.1] [--incidents 5]
Targets (issue 10): Observe <= 1.5x the floor, Orient <= 2.5x; with a hanging incident the
others' cards no later than without it (within 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo import CONFIG
from bot.devstack import DevStack
from bot.domain.model import utcnow

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


async def main(latency: float, incidents: int) -> None:
    config = dict(CONFIG, services=SERVICES)
    with tempfile.TemporaryDirectory(prefix="ooda-bench-") as tmp:
        env = {"OODA_WORKER_POLL": "0.5"}
        async with DevStack(Path(tmp), config=config, env=env) as stack:
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
                await stack.settle()
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
            await stack.settle(timeout=60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--incidents", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.latency, args.incidents))
