"""A 429 storm: every third Slack Web API call answers 429 with Retry-After: 1.

Opens --incidents incidents and says --notes notes in each (each note also redraws the live
summary), then checks that every message arrived once and in order, and prints Slack calls
made against messages generated (cards are coalesced, so a burst of redraws costs one update).

Run: .venv/bin/python bench/rate_limit_storm.py [--incidents 5] [--notes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.devstack import DevStack
from bot.domain.model import Severity
from bot.service import cards, incidents

CONFIG = {"services": [{"name": "checkout"}], "announcements_channel": "#incidents"}


async def main(count: int, notes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ooda-bench-") as tmp:
        async with DevStack(Path(tmp), config=CONFIG) as stack:
            stack.slack.add_channel("incidents")
            rt = stack.runtime
            stack.slack.reset_calls()
            stack.slack.rate_limit_every(3, retry_after=1)
            started = time.perf_counter()
            numbers = [
                await incidents.open_incident(
                    rt, title=f"Storm {n}", severity=Severity.SEV2, declared_by="U0ALICE01"
                )
                for n in range(count)
            ]
            generated = 0
            for k in range(notes):
                for number in numbers:
                    await incidents.add_note(rt, number, f"update {k}", by="U0ALICE01")
                    await cards.refresh(rt, number)
                    generated += 2  # one note, one redraw of the live summary
            await stack.settle(timeout=300)
            elapsed = time.perf_counter() - started
            stack.slack.rate_limit_every(0)
            calls = stack.slack.calls()
            limited = sum(1 for c in calls if c.status == 429)
            problems = []
            for number in numbers:
                [chan] = [c for c in stack.slack.channels if c["name"].startswith(f"inc-{number}-")]
                said = [m["text"] for m in stack.slack.messages(chan["id"])]
                seen = [int(m.group(1)) for t in said if (m := re.search(r"update (\d+)", t))]
                if seen != list(range(notes)):
                    problems.append(f"INC-{number}: {seen}")
            print(f"{count} incidents × {notes} notes (+ a summary redraw each) in {elapsed:.1f} s")
            print(
                f"Slack calls: {len(calls)} ({limited} answered 429) for {generated} changes "
                f"said + {count * 6} set-up calls; ratio calls/changes "
                f"{(len(calls) - limited) / generated:.2f}"
            )
            updates = sum(1 for c in calls if c.method == "chat.update" and c.ok)
            print(f"summary redraws: {count * notes} rendered, {updates} chat.update sent")
            print(
                "every note once and in order: "
                + ("yes" if not problems else "NO " + "; ".join(problems))
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=5)
    parser.add_argument("--notes", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.notes))
