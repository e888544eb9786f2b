"""Derived values of PostmortemDoc."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.model import Stage, StageSpan, Status, TimelineEntry, TimelineKind
from bot.postmortem.document import PostmortemDoc
from tests.helpers.postmortem import at

MIN = timedelta(minutes=1)


def test_key_numbers_and_rows(doc: PostmortemDoc) -> None:
    rows = [(r.label, r.value) for r in doc.key_number_rows]
    assert rows == [
        ("Time to acknowledge", 3 * MIN),
        ("Time to first Orient", 5 * MIN),
        ("Time to first decision", 12 * MIN),
        ("Time to mitigation", 20 * MIN),
        ("Time to resolve", 41 * MIN),
    ]
    assert doc.mitigated_at == at(10, 20)


def test_iterations_and_stage_totals(doc: PostmortemDoc) -> None:
    loops = doc.iterations
    assert [it.iteration for it in loops] == [1, 2]
    assert loops[0].durations == {
        Stage.OBSERVE: 5 * MIN, Stage.ORIENT: 5 * MIN, Stage.DECIDE: 2 * MIN, Stage.ACT: 8 * MIN,
    }  # fmt: skip
    assert loops[1].total == 21 * MIN
    assert doc.stage_totals == {
        Stage.OBSERVE: 10 * MIN, Stage.ORIENT: 10 * MIN, Stage.DECIDE: 5 * MIN,
        Stage.ACT: 16 * MIN,
    }  # fmt: skip
    assert doc.loop_total == 41 * MIN


def test_open_incident_counts_until_generated_at(doc: PostmortemDoc) -> None:
    incident = replace(doc.incident, status=Status.ACKNOWLEDGED, resolved_at=None)
    spans = [*doc.spans[:-1], StageSpan(Stage.ACT, 2, at(10, 33), None)]
    open_doc = replace(doc, incident=incident, spans=spans, generated_at=at(10, 50))
    assert open_doc.end_at == at(10, 50)
    assert open_doc.iterations[1].durations[Stage.ACT] == 17 * MIN
    assert open_doc.key_numbers.time_to_resolve is None


def test_participants_roles_first_then_by_activity(doc: PostmortemDoc) -> None:
    people = [(p.user_id, p.name, p.role_label, p.entries) for p in doc.participants]
    assert people == [
        ("U1", "Alice", "Commander", 3),
        ("U2", "Bob", "Scribe", 1),
        ("U4", "U4", "Responder", 1),  # unknown id shown as-is
        ("U3", "Carol", "Responder", 0),  # approved the rollback
    ]
    # system actors are not people
    assert all(p.user_id not in {"system", "pagerduty"} for p in doc.participants)


def test_one_person_can_hold_several_roles(doc: PostmortemDoc) -> None:
    incident = replace(doc.incident, roles={"scribe": "U1", "commander": "U1"})
    first = replace(doc, incident=incident).participants[0]
    assert (first.user_id, first.role_label) == ("U1", "Commander, Scribe")


def test_timeline_sorted_and_pinned(doc: PostmortemDoc) -> None:
    late = TimelineEntry(at(9, 59), TimelineKind.ALERT, "first alert", actor="pagerduty")
    shuffled = replace(doc, timeline=[*doc.timeline, late])
    assert shuffled.sorted_timeline[0] is late
    assert [e.text for e in shuffled.timeline_entries(pinned_only=True)] == [
        "p99 | 4s on /pay\nsecond line",
        "Resolved",
    ]


def test_links_include_pagerduty_once(doc: PostmortemDoc) -> None:
    assert doc.all_links[0] == ("PagerDuty incident", doc.incident.pd_url)
    again = replace(doc, links=[("PD", doc.incident.pd_url or "")])
    assert again.all_links == [("PD", doc.incident.pd_url)]


def test_key_events_in_time_order(doc: PostmortemDoc) -> None:
    kinds = [(e.at.strftime("%H:%M"), e.kind) for e in doc.key_events]
    assert kinds == [
        ("10:00", "opened"),
        ("10:03", "acknowledged"),
        ("10:12", "decision"),
        ("10:20", "action"),
        ("10:20", "mitigated"),
        ("10:33", "decision"),
        ("10:36", "action"),
        ("10:41", "resolved"),
    ]


def test_services_fall_back_to_incident_service(doc: PostmortemDoc) -> None:
    assert doc.service_names == ["checkout", "cart"]
    assert replace(doc, services=[]).service_names == ["checkout"]
