"""Geometry of the SVG timeline chart."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import pytest

from bot.domain.model import Decision, Stage
from bot.postmortem.chart import PLOT_LEFT, PLOT_RIGHT, STAGE_COLORS, build_chart
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import render_postmortem
from tests.helpers.postmortem import at

PLOT_W = PLOT_RIGHT - PLOT_LEFT


def x_at(minute: float) -> float:
    """x of 10:00 + minute on the 10:00 → 10:41 axis."""
    return round(PLOT_LEFT + PLOT_W * minute / 41, 1)


def test_one_rect_per_span_in_its_band(doc: PostmortemDoc) -> None:
    chart = build_chart(doc)
    assert [b.label for b in chart.bands] == ["Observe", "Orient", "Decide", "Act"]
    assert len(chart.rects) == len(doc.spans) == 8
    band_y = {b.label.lower(): b.y for b in chart.bands}
    for span, rect in zip(doc.spans, chart.rects, strict=True):
        assert rect.color == STAGE_COLORS[span.stage]
        assert rect.y == band_y[span.stage.value] + 2
        assert rect.label == f"#{span.iteration}"
    first_act = chart.rects[3]  # Act, loop 1: 10:12 → 10:20
    assert first_act.x == x_at(12)
    assert first_act.w == pytest.approx(x_at(20) - x_at(12), abs=0.2)
    assert first_act.title == "Act, loop 1: 10:12:00–10:20:00 UTC (8m)"
    assert chart.rects[0].x == PLOT_LEFT
    assert chart.rects[-1].x + chart.rects[-1].w == pytest.approx(PLOT_RIGHT, abs=0.2)


def test_axis_ticks_in_utc(doc: PostmortemDoc) -> None:
    chart = build_chart(doc)
    assert [t.label for t in chart.ticks] == [
        "10:00", "10:05", "10:10", "10:15", "10:20", "10:25", "10:30", "10:35", "10:40",
    ]  # fmt: skip
    assert chart.ticks[4].x == x_at(20)
    assert chart.ticks[0].anchor == "start"
    assert chart.caption == "2026-11-24 10:00 → 2026-11-24 10:41 UTC"


def test_event_ticks_and_labels(doc: PostmortemDoc) -> None:
    chart = build_chart(doc)
    labels = [e.label for e in chart.events]
    assert labels == [
        "Opened", "Acknowledged", "Decision: Roll back checkout", "Action: Roll back checkout",
        "Mitigated", "Decision: Scale up cart", "Action: Scale cart", "Resolved",
    ]  # fmt: skip
    assert chart.events[0].x == PLOT_LEFT and chart.events[-1].x == PLOT_RIGHT
    assert chart.events[-1].anchor == "end"  # stays inside the picture
    # labels sharing a lane never overlap (6 px per character estimate)
    by_lane: dict[float, list[tuple[float, float]]] = {}
    for e in chart.events:
        width = len(e.label) * 6
        left = e.label_x if e.anchor == "start" else e.label_x - width
        by_lane.setdefault(e.label_y, []).append((left, left + width))
    for spans in by_lane.values():
        spans.sort()
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start
    for e in chart.events:
        assert e.y2 == chart.bands_bottom + 2


def test_many_events_degrade_to_unlabelled_ticks(doc: PostmortemDoc) -> None:
    decisions = [Decision(at(10, 5, i), "U1", f"decision number {i}", "r") for i in range(40)]
    chart = build_chart(replace(doc, decisions=decisions))
    unlabelled = [e for e in chart.events if not e.label]
    assert unlabelled, "crowded labels are dropped, not drawn on top of each other"
    assert all(e.title for e in unlabelled)  # still named in the tooltip


def test_chart_rendered_in_html(doc: PostmortemDoc) -> None:
    page = render_postmortem(doc, fmt="html")
    assert page.count(f'fill="{STAGE_COLORS[Stage.OBSERVE]}"><title>Observe, loop') == 2
    assert "<title>Act, loop 1: 10:12:00–10:20:00 UTC (8m)</title>" in page
    assert ">Decision: Roll back checkout</text>" in page
    assert ">Times in UTC</text>" in page


def test_zero_length_incident_still_has_an_axis(doc: PostmortemDoc) -> None:
    incident = replace(doc.incident, resolved_at=doc.incident.opened_at)
    chart = build_chart(replace(doc, incident=incident, spans=[], decisions=[], actions=[]))
    assert chart.ticks and chart.rects == []
