"""Render a postmortem for a synthetic incident with 10,000 timeline entries; report time and memory.

Run: .venv/bin/python bench/postmortem_bench.py [--entries N]
Targets: < 1 s and < 200 MB peak (tracemalloc) per format, environment already warm.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.model import (
    ActionRun,
    Change,
    Decision,
    FollowUp,
    IncidentView,
    RankedChange,
    Severity,
    Stage,
    StageSpan,
    Status,
    TimelineEntry,
    TimelineKind,
)
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import render_postmortem

TIME_TARGET_S = 1.0
MEMORY_TARGET_MB = 200.0
KINDS = (TimelineKind.ALERT, TimelineKind.NOTE, TimelineKind.PINNED, TimelineKind.CONTEXT)


def synthetic_doc(entries: int = 10_000, loops: int = 4) -> PostmortemDoc:
    opened = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    resolved = opened + timedelta(hours=3)
    incident = IncidentView(
        number=1234, title="Synthetic: payments latency", severity=Severity.SEV1,
        status=Status.RESOLVED, stage=Stage.OBSERVE, opened_at=opened, service="payments",
        pd_url="https://example.pagerduty.com/incidents/PBENCH", acknowledged_at=opened
        + timedelta(minutes=2), resolved_at=resolved, summary="Synthetic benchmark incident.",
        roles={"commander": "U0", "comms": "U1", "scribe": "U2"},
    )  # fmt: skip
    spans: list[StageSpan] = []
    step = (resolved - opened) / (loops * 4)
    for i in range(loops * 4):
        stage = (Stage.OBSERVE, Stage.ORIENT, Stage.DECIDE, Stage.ACT)[i % 4]
        spans.append(StageSpan(stage, i // 4 + 1, opened + step * i, opened + step * (i + 1)))
    gap = (resolved - opened) / entries
    timeline = [
        TimelineEntry(
            at=opened + gap * i,
            kind=KINDS[i % len(KINDS)],
            text=f"entry {i}: value | {i * 7 % 1000} <b>ms</b>\nsee dashboard",
            actor=f"U{i % 25}",
            pinned=i % 50 == 0,
        )
        for i in range(entries)
    ]
    decisions = [
        Decision(spans[i * 4 + 2].started_at + timedelta(minutes=1), "U0", f"Decision {i + 1}",
                 "evidence says so", evidence=("error rate", "deploy"))
        for i in range(loops)
    ]  # fmt: skip
    actions = [
        ActionRun(
            key=f"a{i}", playbook_id="rollback", title=f"Roll back payments #{i + 1}",
            action="github.workflow_dispatch", params={"ref": f"v1.{i}"}, requested_by="U0",
            status="succeeded", created_at=spans[i * 4 + 3].started_at,
            started_at=spans[i * 4 + 3].started_at,
            finished_at=spans[i * 4 + 3].started_at + timedelta(minutes=5),
            verify_passed=i == loops - 1, approved_by=("U1",),
        )
        for i in range(loops)
    ]  # fmt: skip
    changes = [
        RankedChange(
            Change("github", f"d{i}", f"Deploy payments v1.{i}", opened - timedelta(minutes=i),
                   service="payments", sha=f"{i:040x}"),
            score=1 - i / 10, reason=f"deployed {i} min before first alert",
        )
        for i in range(5)
    ]  # fmt: skip
    return PostmortemDoc(
        incident=incident, spans=spans, timeline=timeline, changes=changes,
        decisions=decisions, actions=actions,
        followups=[FollowUp("Add latency SLO alert", "U0", resolved)],
        names={f"U{i}": f"Engineer {i}" for i in range(25)}, services=["payments"],
        generated_at=resolved + timedelta(minutes=5),
    )  # fmt: skip


def measure(fmt: str, entries: int) -> tuple[float, float, int]:
    """Wall time of one render (no tracing), then peak traced memory of another on a fresh doc."""
    render_postmortem(synthetic_doc(50), fmt=fmt)  # type: ignore[arg-type]  # warm the caches
    doc = synthetic_doc(entries)
    started = time.perf_counter()
    out = render_postmortem(doc, fmt=fmt)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    doc = synthetic_doc(entries)
    tracemalloc.start()
    render_postmortem(doc, fmt=fmt)  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 1024 / 1024, len(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()
    ok = True
    print(f"postmortem render, {args.entries} timeline entries")
    for fmt in ("markdown", "html"):
        elapsed, peak_mb, size = measure(fmt, args.entries)
        ok &= elapsed < TIME_TARGET_S and peak_mb < MEMORY_TARGET_MB
        print(
            f"{fmt}: {elapsed:.2f} s ({elapsed / TIME_TARGET_S:.2f}x of {TIME_TARGET_S:g} s target), "
            f"peak {peak_mb:.0f} MB ({peak_mb / MEMORY_TARGET_MB:.2f}x of {MEMORY_TARGET_MB:g} MB), "
            f"output {size / 1024:.0f} KiB"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
