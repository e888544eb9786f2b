"""What actually worked: per playbook and service, how often the verify step judged a run
effective (its alerts cleared within the window) and how long they took to clear.

Pure: built from the judged runs of real incidents (drills and dry runs are left out by the
caller); the Decide card quotes it and orders suggestions by it after the evidence.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.stages import format_duration


@dataclass(frozen=True)
class RunOutcome:
    playbook_id: str
    service: str | None
    effective: bool
    cleared_after: timedelta | None = None  # from the action's end to the verdict, when cleared


@dataclass(frozen=True)
class PlaybookRecord:
    playbook_id: str
    service: str | None
    runs: int
    effective: int
    median_clear: timedelta | None

    @property
    def rate(self) -> float:
        return self.effective / self.runs if self.runs else 0.0

    def sentence(self, title: str) -> str:
        """“Roll back” worked 4 of 5 times on checkout; alerts cleared in 3m median."""
        where = self.service or "this service"
        times = "time" if self.runs == 1 else "times"
        text = f"“{title}” worked {self.effective} of {self.runs} {times} on {where}"
        if self.median_clear is not None:
            text += f"; alerts cleared in {format_duration(self.median_clear)} median"
        return text


def records(outcomes: Iterable[RunOutcome]) -> dict[tuple[str, str | None], PlaybookRecord]:
    """One record per (playbook, service)."""
    grouped: dict[tuple[str, str | None], list[RunOutcome]] = {}
    for outcome in outcomes:
        grouped.setdefault((outcome.playbook_id, outcome.service), []).append(outcome)
    found = {}
    for (playbook_id, service), runs in grouped.items():
        clears = [r.cleared_after for r in runs if r.effective and r.cleared_after is not None]
        median = (
            timedelta(seconds=statistics.median(c.total_seconds() for c in clears))
            if clears
            else None
        )
        found[(playbook_id, service)] = PlaybookRecord(
            playbook_id, service, len(runs), sum(1 for r in runs if r.effective), median
        )
    return dict(sorted(found.items(), key=lambda kv: (kv[0][1] or "", kv[0][0])))
