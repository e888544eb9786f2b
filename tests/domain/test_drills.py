"""Drill scenarios: the shipped files are valid, a broken one names its file, field and line;
the drill's world fires, clears and fixes alerts on its clock; the scorecard's points."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.drills import DrillClock, DrillError, default_drills_dir, parse_scenario, scan
from bot.domain.drills.scoring import (
    ACTION_POINTS,
    CAUSE_POINTS,
    MITIGATION_POINTS,
    STAGE_POINTS,
    WRONG_CAUSE_PENALTY,
    ActionRun,
    DrillRecord,
    MarkedChange,
    score,
)
from bot.domain.drills.world import alerts_at, changes, event_times
from bot.domain.model import Stage, StageSpan, Verdict, utcnow

SCENARIO = """\
name: tiny
title: Tiny outage
summary: Something broke.
service: api
alerts:
  - summary: api errors
  - summary: api latency
    at: 5
  - summary: dependency down
    at: 2
    clears: 20
changes:
  - id: bad
    summary: the bad deploy
    minutes_before: 10
  - id: old
    summary: an old deploy
    minutes_before: 300
expected:
  cause: bad
  playbooks: [rollback-github-actions]
targets: {observe: 1, orient: 2, decide: 3, act: 4}
"""


def test_the_shipped_scenarios_are_valid_and_cover_the_five_kinds() -> None:
    found, problems = scan(default_drills_dir())
    assert problems == []
    kinds = {s.name: (s.expected.cause, {c.kind.value for c in s.changes}) for s in found}
    assert len(found) >= 5
    assert kinds["bad-deploy"][0] is not None
    assert "flag" in kinds["flag-flip-dependency"][1]
    assert "config" in kinds["config-change"][1]
    assert kinds["downstream-outage"][0] is None
    assert kinds["capacity-exhaustion"][0] is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("  cause: nosuch", "no change 'nosuch' (ids: bad, old)"),
        ("  kause: bad", "expected.kause: unknown field (allowed: cause, playbooks) (line 20)"),
    ],
)
def test_problems_name_the_field_and_the_line(change: str, expected: str) -> None:
    assert parse_scenario(SCENARIO, "tiny.yaml").expected.cause == "bad"
    text = SCENARIO.replace("  cause: bad", change)
    with pytest.raises(DrillError) as caught:
        parse_scenario(text, "tiny.yaml")
    assert any(expected in e and e.startswith("tiny.yaml: ") for e in caught.value.errors), (
        caught.value.errors
    )


def test_alert_times_are_checked() -> None:
    late_first = SCENARIO.replace(
        "  - summary: api errors\n", "  - summary: api errors\n    at: 1\n"
    )
    with pytest.raises(DrillError, match="the first alert must fire at 0"):
        parse_scenario(late_first)
    backwards = SCENARIO.replace("clears: 20", "clears: 1")
    with pytest.raises(DrillError, match=r"alerts\[2\]: .*before it fires .*line 9"):
        parse_scenario(backwards)
    with pytest.raises(DrillError, match="line 2: not valid YAML"):
        parse_scenario("name: x\n  bad: [")


def test_a_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "copy.yaml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("- not a mapping\n", encoding="utf-8")
    found, problems = scan(tmp_path)
    assert [s.name for s in found] == ["tiny"]
    assert any(p.startswith("broken.yaml: the top level must be a mapping") for p in problems)
    assert any("good.yaml: name: duplicate name 'tiny' (also in copy.yaml)" in p for p in problems)


def test_the_world_fires_clears_and_is_fixed_on_its_clock() -> None:
    scenario = parse_scenario(SCENARIO)
    start = utcnow()
    clock = DrillClock(start, speed=60.0)  # a scenario minute per real second

    def states(seconds: float, fixed: float | None = None) -> dict[str, str]:
        fixed_at = start + timedelta(seconds=fixed) if fixed is not None else None
        now = start + timedelta(seconds=seconds)
        return {
            a["summary"]: a["status"] for a in alerts_at(scenario, clock, now, fixed_at=fixed_at)
        }

    assert states(0) == {"api errors": "triggered"}
    assert states(3) == {"api errors": "triggered", "dependency down": "triggered"}
    assert states(21) == {
        "api errors": "triggered",
        "dependency down": "resolved",  # recovered by itself at minute 20
        "api latency": "triggered",
    }
    # Fixed at second 4: the fired alert that waits for a fix clears; one due later never fires.
    assert states(6, fixed=4) == {"api errors": "resolved", "dependency down": "triggered"}
    assert event_times(scenario, clock) == [clock.at(2), clock.at(5), clock.at(20)]


def test_changes_keep_their_real_spacing_and_move_to_the_chosen_service() -> None:
    scenario = parse_scenario(SCENARIO)
    first = utcnow()
    planted = changes(scenario, 7, first, service="payments")
    assert [(c.external_id, c.service) for c in planted] == [
        ("drill-7-bad", "payments"),
        ("drill-7-old", "payments"),
    ]
    assert [first - c.created_at for c in planted] == [
        timedelta(minutes=10),
        timedelta(minutes=300),
    ]


def _record(**changes: object) -> DrillRecord:
    start = utcnow()
    spans = [
        StageSpan(Stage.OBSERVE, 1, start, start + timedelta(seconds=30)),
        StageSpan(Stage.ORIENT, 1, start + timedelta(seconds=30), start + timedelta(minutes=5)),
        StageSpan(Stage.DECIDE, 1, start + timedelta(minutes=5), start + timedelta(minutes=6)),
        StageSpan(Stage.ACT, 1, start + timedelta(minutes=6), None),
    ]
    base: dict[str, object] = {
        "number": 3,
        "opened_at": start,
        "resolved_at": start + timedelta(minutes=12),
        "spans": spans,
        "marked": [MarkedChange("bad", Verdict.CAUSED, start + timedelta(minutes=4))],
        "runs": [ActionRun("rollback-github-actions", "Roll back", "remediation", start, ok=True)],
        "mitigated_at": start + timedelta(minutes=8),
        "ranked": ["old", "bad"],
        "team_medians": {Stage.ORIENT: timedelta(minutes=7)},
        "team_count": 4,
    }
    return DrillRecord(**(base | changes))  # type: ignore[arg-type]


def test_the_scorecard_by_the_book() -> None:
    scenario = parse_scenario(SCENARIO)
    card = score(scenario, _record())
    spent = {s["stage"]: s["seconds"] for s in card["stages"]}
    # Act is still open at resolve: it counts until then (6 min → 12 min).
    assert spent == {"observe": 30.0, "orient": 270.0, "decide": 60.0, "act": 360.0}
    within = {s["stage"]: s["within"] for s in card["stages"]}
    assert within == {"observe": True, "orient": False, "decide": True, "act": False}
    assert card["stages"][1]["team_median_seconds"] == 420.0
    assert card["cause"] | {"summary": None} == {
        "expected": "bad",
        "summary": None,
        "verdict": "caused",
        "found": True,
        "after_seconds": 240.0,
        "wrong": [],
        "points": CAUSE_POINTS,
    }
    assert card["action"]["acceptable"] and card["action"]["points"] == ACTION_POINTS
    assert card["mitigation"] == {
        "after_seconds": 480.0,
        "by_itself": False,
        "points": MITIGATION_POINTS,
    }
    assert card["ranking"] == {"rank": 2, "candidates": 2, "expected": True}
    assert card["total"] == CAUSE_POINTS + ACTION_POINTS + MITIGATION_POINTS + 2 * STAGE_POINTS


def test_the_scorecard_when_the_responders_miss() -> None:
    scenario = parse_scenario(SCENARIO)
    start = utcnow()
    card = score(
        scenario,
        _record(
            marked=[
                MarkedChange("old", Verdict.CAUSED, start),
                MarkedChange("bad", Verdict.SUSPECT, start + timedelta(minutes=2)),
            ],
            runs=[
                ActionRun("gather-recent-logs", "Logs", "diagnostic", start, ok=True),
                ActionRun("restart-service", "Restart", "remediation", start, ok=True),
                ActionRun("rollback-github-actions", "Roll back", "remediation", start, ok=True),
            ],
            mitigated_at=None,
        ),
    )
    assert card["cause"]["verdict"] == "suspect" and not card["cause"]["found"]
    assert card["cause"]["points"] == CAUSE_POINTS // 2 - WRONG_CAUSE_PENALTY
    assert card["cause"]["wrong"] == ["old"]
    # The diagnostic run is not "the chosen action"; the first remediation was not acceptable.
    assert card["action"]["chosen"] == "restart-service"
    assert card["action"]["acceptable_later"] and card["action"]["points"] == ACTION_POINTS // 2
    assert card["mitigation"]["points"] == 0


def test_nothing_done_earns_nothing_but_the_stages_reached() -> None:
    """Resolved with no verdict and no action while the world recovered by itself: no cause,
    no action, no mitigation points; unreached stages earn nothing either."""
    scenario = parse_scenario(SCENARIO)
    start = utcnow()
    card = score(
        scenario,
        _record(
            spans=[StageSpan(Stage.OBSERVE, 1, start, None)],
            marked=[],
            runs=[],
            mitigated_at=start + timedelta(minutes=2),
            resolved_at=start + timedelta(minutes=3),
        ),
    )
    assert card["cause"]["points"] == card["action"]["points"] == 0
    assert card["mitigation"] == {"after_seconds": 120.0, "by_itself": True, "points": 0}
    assert [s["reached"] for s in card["stages"]] == [True, False, False, False]
    assert card["total"] == 0  # Observe took 3 min against a 1 min target


def test_no_change_to_blame_is_found_only_when_changes_were_ruled_out() -> None:
    blameless = parse_scenario(
        SCENARIO.replace("  cause: bad", "  cause: null").replace(
            "  playbooks: [rollback-github-actions]", "  playbooks: [scale-up]"
        )
    )
    start = utcnow()
    silent = score(blameless, _record(marked=[]))
    ruled_out = score(blameless, _record(marked=[MarkedChange("bad", Verdict.NOT_RELATED, start)]))
    blamed = score(blameless, _record(marked=[MarkedChange("old", Verdict.CAUSED, start)]))
    assert not silent["cause"]["found"] and silent["cause"]["points"] == 0
    assert ruled_out["cause"]["found"] and ruled_out["cause"]["points"] == CAUSE_POINTS
    assert not blamed["cause"]["found"] and blamed["cause"]["wrong"] == ["old"]


def test_a_clearing_after_resolve_does_not_count() -> None:
    scenario = parse_scenario(SCENARIO)
    start = utcnow()
    card = score(scenario, _record(mitigated_at=start + timedelta(minutes=30)))
    assert card["mitigation"]["after_seconds"] is None and card["mitigation"]["points"] == 0
