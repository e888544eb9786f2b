"""The drill scorecard: how the responders did against the scenario, and how the bot did.

Pure: built from what the incident's record says (stage spans, verdicts, action runs, when the
alerts cleared, the ranking) and the team's medians on real incidents of the same severity. The
points are plain so a team can argue with them: 30 for the cause, 30 for the action, 20 for
mitigating, 5 per OODA stage within its target."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.drills.schema import Scenario
from bot.domain.model import STAGE_ORDER, Stage, StageSpan, Verdict

CAUSE_POINTS, ACTION_POINTS, MITIGATION_POINTS, STAGE_POINTS = 30, 30, 20, 5
WRONG_CAUSE_PENALTY = 10


@dataclass(frozen=True)
class MarkedChange:
    change_id: str | None  # the scenario's id; None for a change outside the drill
    verdict: Verdict
    at: datetime | None


@dataclass(frozen=True)
class ActionRun:
    playbook_id: str
    title: str
    kind: str  # remediation | diagnostic
    finished_at: datetime
    ok: bool


@dataclass(frozen=True)
class DrillRecord:
    """What the scorecard reads from one drill incident's record."""

    number: int
    opened_at: datetime
    resolved_at: datetime
    spans: list[StageSpan]
    marked: list[MarkedChange]
    runs: list[ActionRun]
    mitigated_at: datetime | None
    ranked: list[str | None]  # the scenario change ids in the bot's rank order
    team_medians: dict[Stage, timedelta | None] = field(default_factory=dict)
    team_count: int = 0  # real incidents of this severity behind the medians
    # How fast the scenario's clock ran. Stage times stay the responders' real time: a faster
    # world does not make people think faster.
    speed: float = 1.0


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 3)


def stage_totals(spans: list[StageSpan], resolved_at: datetime) -> dict[Stage, timedelta]:
    totals: dict[Stage, timedelta] = {}
    for span in spans:
        end = span.ended_at or resolved_at
        totals[span.stage] = totals.get(span.stage, timedelta()) + max(
            end - span.started_at, timedelta()
        )
    return totals


def score(scenario: Scenario, record: DrillRecord) -> dict[str, Any]:
    """The scorecard as stored (JSON): every figure, the points for each, the total."""
    totals = stage_totals(record.spans, record.resolved_at)
    stages: list[dict[str, Any]] = []
    for stage in STAGE_ORDER:
        spent = totals.get(stage, timedelta())
        target = timedelta(minutes=scenario.targets.minutes(stage))
        median = record.team_medians.get(stage)
        reached = stage in totals  # a stage never entered earns nothing
        within = reached and spent <= target
        stages.append(
            {
                "stage": stage.value,
                "seconds": _seconds(spent) if reached else None,
                "target_seconds": _seconds(target),
                "team_median_seconds": _seconds(median),
                "reached": reached,
                "within": within,
                "points": STAGE_POINTS if within else 0,
            }
        )
    cause = _cause(scenario, record)
    action = _action(scenario, record)
    mitigation = _mitigation(record)
    expected = scenario.expected.cause
    rank = record.ranked.index(expected) + 1 if expected in record.ranked else None
    total = sum(int(s["points"]) for s in stages) + cause["points"] + action["points"]
    total += int(mitigation["points"] or 0)
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "number": record.number,
        "severity": scenario.severity,
        "speed": record.speed,
        "total": total,
        "out_of": CAUSE_POINTS + ACTION_POINTS + MITIGATION_POINTS + STAGE_POINTS * len(stages),
        "stages": stages,
        "team_count": record.team_count,
        "cause": cause,
        "action": action,
        "mitigation": mitigation,
        "ranking": {
            "rank": rank,
            "candidates": len(record.ranked),
            "expected": expected is not None,
        },
        "resolved_after_seconds": _seconds(record.resolved_at - record.opened_at),
    }


def _cause(scenario: Scenario, record: DrillRecord) -> dict[str, Any]:
    expected = scenario.expected.cause
    change = scenario.change(expected)
    caused = [m for m in record.marked if m.verdict is Verdict.CAUSED]
    true_mark = next((m for m in record.marked if m.change_id == expected), None)
    wrong = [m for m in caused if m.change_id != expected]
    if expected is None:
        # Nothing to blame: found when the responders ruled changes out and blamed none.
        ruled_out = any(m.verdict is Verdict.NOT_RELATED for m in record.marked)
        found = not caused and (ruled_out or not record.ranked)
        points = CAUSE_POINTS if found else 0
        verdict = None
    else:
        verdict = true_mark.verdict if true_mark else None
        found = verdict is Verdict.CAUSED
        points = CAUSE_POINTS if found else CAUSE_POINTS // 2 if verdict is Verdict.SUSPECT else 0
    points = max(points - WRONG_CAUSE_PENALTY * len(wrong), 0)
    at = true_mark.at if true_mark and verdict in (Verdict.CAUSED, Verdict.SUSPECT) else None
    return {
        "expected": expected,
        "summary": change.summary if change else None,
        "verdict": verdict.value if verdict else None,
        "found": found,
        "after_seconds": _seconds(at - record.opened_at) if at else None,
        "wrong": [m.change_id or "?" for m in wrong],
        "points": points,
    }


def _mitigation(record: DrillRecord) -> dict[str, Any]:
    """When the alerts cleared; it earns points only when the responders acted before it (a
    world that recovered by itself is said so). A clearing after resolve does not count."""
    at = record.mitigated_at
    if at is not None and at > record.resolved_at:
        at = None
    acted = at is not None and any(
        r.ok and r.kind != "diagnostic" and r.finished_at <= at for r in record.runs
    )
    return {
        "after_seconds": _seconds(at - record.opened_at) if at else None,
        "by_itself": at is not None and not acted,
        "points": MITIGATION_POINTS if acted else 0,
    }


def _action(scenario: Scenario, record: DrillRecord) -> dict[str, Any]:
    acceptable = set(scenario.expected.playbooks)
    ran = [r for r in record.runs if r.ok and r.kind != "diagnostic"]
    first = ran[0] if ran else None
    good = next((r for r in ran if r.playbook_id in acceptable), None)
    if first is not None and first.playbook_id in acceptable:
        points = ACTION_POINTS
    elif good is not None:
        points = ACTION_POINTS // 2
    else:
        points = 0
    return {
        "chosen": first.playbook_id if first else None,
        "title": first.title if first else None,
        "acceptable": first is not None and first.playbook_id in acceptable,
        "acceptable_later": good is not None and good is not first,
        "expected": sorted(acceptable),
        "after_seconds": _seconds(first.finished_at - record.opened_at) if first else None,
        "points": points,
    }
