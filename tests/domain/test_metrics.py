"""Key numbers and /incident stats, checked against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.metrics import (
    NO_SERVICE,
    IncidentSample,
    KeyNumbers,
    compute_stats,
    key_numbers,
)
from bot.domain.model import (
    ActionRun,
    Decision,
    IncidentView,
    Severity,
    Stage,
    StageSpan,
    Status,
)

OBS, ORI, DEC, ACT = Stage.OBSERVE, Stage.ORIENT, Stage.DECIDE, Stage.ACT


def t(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def incident(**kw: object) -> IncidentView:
    base: dict[str, object] = dict(
        number=7, title="x", severity=Severity.SEV2, status=Status.RESOLVED, stage=OBS,
        opened_at=t(24, 10, 0),
    )  # fmt: skip
    base.update(kw)
    return IncidentView(**base)  # type: ignore[arg-type]


def action(finished: datetime | None, verify: bool | None, key: str = "a") -> ActionRun:
    return ActionRun(
        key=key, playbook_id="p", title="t", action="noop", params={}, requested_by="U1",
        status="succeeded", created_at=t(24, 10, 0), finished_at=finished, verify_passed=verify,
    )  # fmt: skip


# ----------------------------------------------------------------------------- key numbers


def test_key_numbers_from_opened_at() -> None:
    inc = incident(acknowledged_at=t(24, 10, 3), resolved_at=t(24, 10, 41))
    spans = [
        StageSpan(OBS, 1, t(24, 10, 0), t(24, 10, 5)),
        StageSpan(ORI, 1, t(24, 10, 5), t(24, 10, 10)),
        StageSpan(OBS, 2, t(24, 10, 20), t(24, 10, 25)),
        StageSpan(ORI, 2, t(24, 10, 25), None),
    ]
    decisions = [
        Decision(t(24, 10, 33), "U2", "later", "r"),
        Decision(t(24, 10, 12), "U1", "first", "r"),
    ]
    actions = [
        action(t(24, 10, 15), False, "fail"),
        action(t(24, 10, 30), True, "late"),
        action(t(24, 10, 20), True, "early"),
        action(None, True, "unfinished"),
    ]
    assert key_numbers(inc, spans, decisions, actions) == KeyNumbers(
        time_to_acknowledge=m(3),
        time_to_first_orient=m(5),
        time_to_first_decision=m(12),
        time_to_mitigation=m(20),
        time_to_resolve=m(41),
    )


def test_key_numbers_prefer_mitigated_at_and_handle_missing() -> None:
    inc = incident(mitigated_at=t(24, 10, 17))
    numbers = key_numbers(inc, [], [], [action(t(24, 10, 20), True)])
    assert numbers.time_to_mitigation == m(17)
    assert numbers.time_to_acknowledge is None
    assert numbers.time_to_first_orient is None
    assert numbers.time_to_first_decision is None
    assert numbers.time_to_resolve is None
    assert (
        key_numbers(incident(), [], [], [action(t(24, 10, 20), False)]).time_to_mitigation is None
    )


def test_key_numbers_clamp_clock_skew_to_zero() -> None:
    inc = incident(acknowledged_at=t(24, 9, 59))
    assert key_numbers(inc, [], [], []).time_to_acknowledge == timedelta()


# ----------------------------------------------------------------------------- stats

# INC_A: checkout SEV1, ack 4m, resolved 60m. Observe 10+10, Orient 10 + open span (until resolve) 10,
#    Decide 5, Act 15.
INC_A = IncidentSample(
    1, "checkout", Severity.SEV1, t(24, 10, 0), t(24, 10, 4), t(24, 11, 0),
    spans=[
        StageSpan(OBS, 1, t(24, 10, 0), t(24, 10, 10)),
        StageSpan(ORI, 1, t(24, 10, 10), t(24, 10, 20)),
        StageSpan(DEC, 1, t(24, 10, 20), t(24, 10, 25)),
        StageSpan(ACT, 1, t(24, 10, 25), t(24, 10, 40)),
        StageSpan(OBS, 2, t(24, 10, 40), t(24, 10, 50)),
        StageSpan(ORI, 2, t(24, 10, 50), None),
    ],
)  # fmt: skip
# INC_B: checkout SEV2, ack 10m, resolved 30m. Observe 6, Orient 4, Decide 2, Act 18.
INC_B = IncidentSample(
    2, "checkout", Severity.SEV2, t(24, 12, 0), t(24, 12, 10), t(24, 12, 30),
    spans=[
        StageSpan(OBS, 1, t(24, 12, 0), t(24, 12, 6)),
        StageSpan(ORI, 1, t(24, 12, 6), t(24, 12, 10)),
        StageSpan(DEC, 1, t(24, 12, 10), t(24, 12, 12)),
        StageSpan(ACT, 1, t(24, 12, 12), t(24, 12, 30)),
    ],
)  # fmt: skip
# INC_C: payments SEV2, ack 2m, unresolved. Observe 8; its open Orient span is not counted.
INC_C = IncidentSample(
    3, "payments", Severity.SEV2, t(25, 9, 0), t(25, 9, 2), None,
    spans=[StageSpan(OBS, 1, t(25, 9, 0), t(25, 9, 8)), StageSpan(ORI, 1, t(25, 9, 8), None)],
)  # fmt: skip
# DRILL: a drill, excluded everywhere.
DRILL = IncidentSample(
    4, "checkout", Severity.SEV1, t(25, 8, 0), t(25, 8, 1), t(25, 8, 5), is_drill=True,
    spans=[StageSpan(OBS, 1, t(25, 8, 0), t(25, 8, 5))],
)  # fmt: skip
# INC_E: payments SEV3, never acknowledged, resolved 50m, no stage spans.
INC_E = IncidentSample(5, "payments", Severity.SEV3, t(25, 14, 0), None, t(25, 14, 50))
ALL = [INC_A, INC_B, INC_C, DRILL, INC_E]


def test_stats_overall() -> None:
    report = compute_stats(ALL)
    assert report.count == 4
    assert report.count_by_severity == {
        Severity.SEV1: 1, Severity.SEV2: 2, Severity.SEV3: 1, Severity.SEV4: 0,
    }  # fmt: skip
    assert report.mtta == timedelta(minutes=16) / 3  # (4 + 10 + 2) / 3
    assert report.mtta == timedelta(minutes=5, seconds=20)
    assert report.mttr == timedelta(minutes=46, seconds=40)  # (60 + 30 + 50) / 3, C unresolved
    assert report.median_stage == {OBS: m(8), ORI: m(12), DEC: m(3.5), ACT: m(16.5)}
    # Observe [20, 6, 8] -> 8; Orient [20, 4] -> 12; Decide [5, 2] -> 3.5; Act [15, 18] -> 16.5


def test_stats_by_service_and_severity() -> None:
    report = compute_stats(ALL)
    assert list(report.by_service) == ["checkout", "payments"]
    checkout = report.by_service["checkout"]
    assert (checkout.count, checkout.mtta, checkout.mttr) == (2, m(7), m(45))
    assert checkout.median_stage == {OBS: m(13), ORI: m(12), DEC: m(3.5), ACT: m(16.5)}
    payments = report.by_service["payments"]
    assert (payments.count, payments.mtta, payments.mttr) == (2, m(2), m(50))
    assert payments.median_stage == {OBS: m(8), ORI: None, DEC: None, ACT: None}

    assert list(report.by_severity) == [Severity.SEV1, Severity.SEV2, Severity.SEV3]
    sev2 = report.by_severity[Severity.SEV2]
    assert (sev2.count, sev2.mtta, sev2.mttr) == (2, m(6), m(30))
    assert sev2.median_stage[OBS] == m(7)  # [6, 8]
    sev3 = report.by_severity[Severity.SEV3]
    assert (sev3.count, sev3.mtta, sev3.mttr) == (1, None, m(50))


def test_stats_filters() -> None:
    only_payments = compute_stats(ALL, service="payments")
    assert only_payments.count == 2
    assert list(only_payments.by_service) == ["payments"]
    assert only_payments.service == "payments"

    recent = compute_stats(ALL, since=t(25, 0, 0))
    assert recent.count == 2  # C and E; the drill on the 25th stays out
    assert recent.mtta == m(2)
    assert recent.mttr == m(50)

    with pytest.raises(ValueError, match="timezone-aware"):
        compute_stats(ALL, since=datetime(2026, 11, 25))


def test_stats_empty_and_no_service() -> None:
    empty = compute_stats([])
    assert empty.count == 0
    assert empty.mtta is None and empty.mttr is None
    assert empty.median_stage == {OBS: None, ORI: None, DEC: None, ACT: None}
    assert empty.by_service == {} and empty.by_severity == {}

    orphan = IncidentSample(9, None, Severity.SEV4, t(24, 1, 0), t(24, 1, 1), t(24, 1, 2))
    report = compute_stats(iter([orphan]))  # any iterable
    assert list(report.by_service) == [NO_SERVICE]
    assert report.count_by_severity[Severity.SEV4] == 1


def test_sample_from_view() -> None:
    inc = incident(service="checkout", acknowledged_at=t(24, 10, 1), is_drill=True)
    spans = [StageSpan(OBS, 1, t(24, 10, 0), t(24, 10, 1))]
    sample = IncidentSample.from_view(inc, spans)
    assert sample == IncidentSample(
        7, "checkout", Severity.SEV2, t(24, 10, 0), t(24, 10, 1), None, True, spans
    )
    assert compute_stats([sample]).count == 0
