"""The OODA stage machine: transitions and time spent in each stage of each loop iteration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.model import STAGE_ORDER, Stage, StageSpan


def next_stage(stage: Stage) -> Stage:
    """Act loops back to Observe: after acting, the bot checks whether it helped."""
    index = STAGE_ORDER.index(stage)
    return STAGE_ORDER[(index + 1) % len(STAGE_ORDER)]


def iteration_for(spans: list[StageSpan], target: Stage) -> int:
    """Entering Observe again after having reached Orient or later starts a new loop iteration."""
    if not spans:
        return 1
    current = spans[-1]
    if target is Stage.OBSERVE and current.stage is not Stage.OBSERVE:
        return current.iteration + 1
    return current.iteration


@dataclass
class LoopIteration:
    iteration: int
    durations: dict[Stage, timedelta] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def total(self) -> timedelta:
        return sum(self.durations.values(), timedelta())


def loop_iterations(spans: list[StageSpan], now: datetime) -> list[LoopIteration]:
    """Group spans per iteration and add up the time in each stage (open spans count until now)."""
    by_iteration: dict[int, LoopIteration] = {}
    for span in sorted(spans, key=lambda s: s.started_at):
        loop = by_iteration.setdefault(span.iteration, LoopIteration(span.iteration))
        end = span.ended_at or now
        spent = max(end - span.started_at, timedelta())
        loop.durations[span.stage] = loop.durations.get(span.stage, timedelta()) + spent
        if loop.started_at is None or span.started_at < loop.started_at:
            loop.started_at = span.started_at
        if loop.ended_at is None or end > loop.ended_at:
            loop.ended_at = end
    return [by_iteration[i] for i in sorted(by_iteration)]


def time_in_current_stage(spans: list[StageSpan], now: datetime) -> timedelta:
    if not spans or spans[-1].ended_at is not None:
        return timedelta()
    return max(now - spans[-1].started_at, timedelta())


def first_entered(spans: list[StageSpan], stage: Stage) -> datetime | None:
    times = [s.started_at for s in spans if s.stage is stage]
    return min(times) if times else None


def format_duration(delta: timedelta | None) -> str:
    """Compact human duration: 45s, 12m, 1h 05m, 2d 3h."""
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    if seconds < 0:
        seconds = 0
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
