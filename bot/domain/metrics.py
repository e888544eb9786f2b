"""Incident metrics: key numbers of one incident, and aggregate stats for `/incident stats`.

Pure functions over domain values. Every duration is measured from ``opened_at``; negative
durations (clock skew, hand-edited data) are clamped to zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.model import (
    STAGE_ORDER,
    ActionRun,
    Decision,
    IncidentView,
    Severity,
    Stage,
    StageSpan,
)
from bot.domain.stages import first_entered

NO_SERVICE = "(no service)"


def _since(start: datetime, moment: datetime | None) -> timedelta | None:
    if moment is None:
        return None
    return max(moment - start, timedelta())


@dataclass(frozen=True)
class KeyNumbers:
    """Time from ``incident.opened_at`` to each milestone; None when it has not happened."""

    time_to_acknowledge: timedelta | None
    time_to_first_orient: timedelta | None
    time_to_first_decision: timedelta | None
    time_to_mitigation: timedelta | None
    time_to_resolve: timedelta | None


def mitigation_time(incident: IncidentView, actions: Iterable[ActionRun]) -> datetime | None:
    """``incident.mitigated_at`` if set, else when the first action whose verify passed finished."""
    if incident.mitigated_at is not None:
        return incident.mitigated_at
    finished = [
        a.finished_at for a in actions if a.verify_passed is True and a.finished_at is not None
    ]
    return min(finished) if finished else None


def key_numbers(
    incident: IncidentView,
    spans: list[StageSpan],
    decisions: list[Decision],
    actions: list[ActionRun],
) -> KeyNumbers:
    opened = incident.opened_at
    first_decision = min((d.at for d in decisions), default=None)
    return KeyNumbers(
        time_to_acknowledge=_since(opened, incident.acknowledged_at),
        time_to_first_orient=_since(opened, first_entered(spans, Stage.ORIENT)),
        time_to_first_decision=_since(opened, first_decision),
        time_to_mitigation=_since(opened, mitigation_time(incident, actions)),
        time_to_resolve=_since(opened, incident.resolved_at),
    )


# --------------------------------------------------------------------------- stats


@dataclass(frozen=True)
class IncidentSample:
    """What the stats need from one incident."""

    number: int
    service: str | None
    severity: Severity
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    is_drill: bool = False
    spans: list[StageSpan] = field(default_factory=list)

    @classmethod
    def from_view(cls, incident: IncidentView, spans: list[StageSpan]) -> IncidentSample:
        return cls(
            number=incident.number,
            service=incident.service,
            severity=incident.severity,
            opened_at=incident.opened_at,
            acknowledged_at=incident.acknowledged_at,
            resolved_at=incident.resolved_at,
            is_drill=incident.is_drill,
            spans=list(spans),
        )

    def stage_totals(self) -> dict[Stage, timedelta]:
        """Time per stage summed over all loop iterations.

        An open span of a resolved incident counts until ``resolved_at``; an open span of an
        unresolved incident is left out (its length is not known yet).
        """
        totals: dict[Stage, timedelta] = {}
        for span in self.spans:
            end = span.ended_at or self.resolved_at
            if end is None:
                continue
            spent = max(end - span.started_at, timedelta())
            totals[span.stage] = totals.get(span.stage, timedelta()) + spent
        return totals


@dataclass
class GroupStats:
    """MTTA, MTTR and median time per stage for one group of incidents."""

    count: int = 0
    mtta: timedelta | None = None
    mttr: timedelta | None = None
    median_stage: dict[Stage, timedelta | None] = field(default_factory=dict)


@dataclass
class StatsReport:
    """Aggregate metrics over non-drill incidents (filtered by service and ``since``)."""

    count: int
    count_by_severity: dict[Severity, int]
    mtta: timedelta | None
    mttr: timedelta | None
    median_stage: dict[Stage, timedelta | None]
    by_service: dict[str, GroupStats]
    by_severity: dict[Severity, GroupStats]
    service: str | None = None
    since: datetime | None = None


def _mean(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return sum(values, timedelta()) / len(values)


def median_duration(values: list[timedelta]) -> timedelta | None:
    """statistics.median, spelled out: its stubs take numbers only, and timedelta is not one."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _group_stats(samples: list[IncidentSample]) -> GroupStats:
    ack = [
        max(s.acknowledged_at - s.opened_at, timedelta())
        for s in samples
        if s.acknowledged_at is not None
    ]
    resolve = [
        max(s.resolved_at - s.opened_at, timedelta()) for s in samples if s.resolved_at is not None
    ]
    per_stage: dict[Stage, list[timedelta]] = {stage: [] for stage in STAGE_ORDER}
    for sample in samples:
        for stage, spent in sample.stage_totals().items():
            per_stage[stage].append(spent)
    return GroupStats(
        count=len(samples),
        mtta=_mean(ack),
        mttr=_mean(resolve),
        median_stage={stage: median_duration(per_stage[stage]) for stage in STAGE_ORDER},
    )


def compute_stats(
    samples: Iterable[IncidentSample],
    *,
    service: str | None = None,
    since: datetime | None = None,
) -> StatsReport:
    """Stats over incidents opened at or after ``since`` (aware datetime), optionally one service.

    Drills are excluded; unresolved incidents count everywhere except MTTR; incidents that never
    reached a stage are left out of that stage's median.
    """
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be a timezone-aware datetime")
    kept = [
        s
        for s in samples
        if not s.is_drill
        and (service is None or s.service == service)
        and (since is None or s.opened_at >= since)
    ]
    overall = _group_stats(kept)
    by_service_samples: dict[str, list[IncidentSample]] = {}
    by_severity_samples: dict[Severity, list[IncidentSample]] = {}
    for sample in kept:
        by_service_samples.setdefault(sample.service or NO_SERVICE, []).append(sample)
        by_severity_samples.setdefault(sample.severity, []).append(sample)
    return StatsReport(
        count=overall.count,
        count_by_severity={sev: len(by_severity_samples.get(sev, [])) for sev in sorted(Severity)},
        mtta=overall.mtta,
        mttr=overall.mttr,
        median_stage=overall.median_stage,
        by_service={
            name: _group_stats(group) for name, group in sorted(by_service_samples.items())
        },
        by_severity={
            sev: _group_stats(by_severity_samples[sev]) for sev in sorted(by_severity_samples)
        },
        service=service,
        since=since,
    )


def weekly_stats(
    samples: Iterable[IncidentSample],
    *,
    service: str | None = None,
    since: datetime | None = None,
) -> list[tuple[datetime, GroupStats]]:
    """MTTA, MTTR and median time per stage for each week (Monday 00:00 UTC) that had
    incidents, oldest first; filtered as compute_stats filters."""
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be a timezone-aware datetime")
    weeks: dict[datetime, list[IncidentSample]] = {}
    for s in samples:
        if s.is_drill or (service is not None and s.service != service):
            continue
        if since is not None and s.opened_at < since:
            continue
        day = s.opened_at.replace(hour=0, minute=0, second=0, microsecond=0)
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(s)
    return [(week, _group_stats(group)) for week, group in sorted(weeks.items())]
