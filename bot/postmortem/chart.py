"""Geometry of the SVG timeline chart in the HTML postmortem, computed here rather than in Jinja.

One horizontal band per OODA stage along a UTC time axis (opened → resolved); every StageSpan is a
rect in its band; key events (opened, acknowledged, decisions, actions, mitigated, resolved) are
vertical ticks with labels placed in lanes above the bands so they do not overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.model import STAGE_ORDER, Stage
from bot.domain.stages import format_duration
from bot.postmortem.document import PostmortemDoc

WIDTH = 1000.0
PLOT_LEFT = 84.0
PLOT_RIGHT = WIDTH - 20.0
BAND_H = 30.0
BAND_GAP = 6.0
LANE_H = 14.0
MAX_LANES = 4
CHAR_W = 6.0  # rough width of one character at font-size 11
MAX_LABEL = 30
TOP_PAD = 6.0

STAGE_COLORS: dict[Stage, str] = {
    Stage.OBSERVE: "#2f6fdb",
    Stage.ORIENT: "#e8861a",
    Stage.DECIDE: "#8e44c9",
    Stage.ACT: "#1f9d55",
}
EVENT_COLORS: dict[str, str] = {
    "opened": "#b42318",
    "acknowledged": "#475467",
    "decision": "#6b21a8",
    "action": "#166534",
    "mitigated": "#0e7490",
    "resolved": "#b42318",
}
TICK_STEPS = (
    10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800,
)  # fmt: skip


@dataclass(frozen=True)
class ChartBand:
    label: str
    y: float
    h: float
    label_y: float
    color: str


@dataclass(frozen=True)
class ChartRect:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str
    label: str  # iteration number, empty when the rect is too narrow
    label_x: float
    label_y: float


@dataclass(frozen=True)
class ChartTick:
    x: float
    label: str
    anchor: str = "middle"  # start/end at the edges so labels stay inside the plot


@dataclass(frozen=True)
class ChartEvent:
    x: float
    y1: float
    y2: float
    color: str
    label: str  # empty when no lane had room (the title still names it)
    label_x: float
    label_y: float
    anchor: str  # start | end
    title: str


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_width: float
    band_label_x: float
    tick_label_y: float
    caption_y: float
    bands_top: float
    bands_bottom: float
    axis_y: float
    bands: list[ChartBand]
    rects: list[ChartRect]
    ticks: list[ChartTick]
    events: list[ChartEvent]
    caption: str


def _r(value: float) -> float:
    return round(value, 1)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ticks(start: datetime, end: datetime, to_x: Callable[[datetime], float]) -> list[ChartTick]:
    seconds = (end - start).total_seconds()
    step = next((s for s in TICK_STEPS if seconds / s <= 10), TICK_STEPS[-1])
    multi_day = start.date() != end.date()
    fmt = "%H:%M:%S" if step < 60 else "%H:%M"
    if multi_day:
        fmt = "%b %d " + fmt
    first = math.ceil(start.timestamp() / step) * step
    ticks = []
    moment = first
    while moment <= end.timestamp():
        at = datetime.fromtimestamp(moment, UTC)
        x, label = to_x(at), at.strftime(fmt)
        half = len(label) * CHAR_W / 2
        anchor = "start" if x - half < PLOT_LEFT - 8 else "end" if x + half > WIDTH else "middle"
        ticks.append(ChartTick(_r(x), label, anchor))
        moment += step
    return ticks


def _place_labels(
    items: list[tuple[float, str]], lanes: int
) -> list[tuple[int | None, float, str]]:
    """Greedy lane assignment: each label goes to the first lane where it does not overlap."""
    lane_end = [-math.inf] * lanes
    placed: list[tuple[int | None, float, str]] = []
    for x, text in items:
        width = len(text) * CHAR_W + 6
        anchor = "start" if x + width <= WIDTH - 2 else "end"
        left, right = (x, x + width) if anchor == "start" else (x - width, x)
        lane = next((i for i in range(lanes) if lane_end[i] < left), None)
        if lane is not None:
            lane_end[lane] = right + 4
        placed.append((lane, x, anchor))
    return placed


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def build_chart(doc: PostmortemDoc) -> Chart:
    inc = doc.incident
    start = _utc(inc.opened_at)
    end = _utc(doc.end_at)
    for span in doc.spans:
        start = min(start, _utc(span.started_at))
        end = max(end, _utc(span.ended_at or doc.end_at))
    if end - start < timedelta(minutes=1):
        end = start + timedelta(minutes=1)
    total = (end - start).total_seconds()
    plot_w = PLOT_RIGHT - PLOT_LEFT

    def to_x(moment: datetime) -> float:
        offset = (_utc(moment) - start).total_seconds()
        return PLOT_LEFT + plot_w * min(max(offset / total, 0.0), 1.0)

    events_in = doc.key_events
    labels = [(to_x(e.at), _short(e.label)) for e in events_in]
    placed = _place_labels(labels, MAX_LANES)
    used_lanes = max((lane + 1 for lane, _, _ in placed if lane is not None), default=0)
    bands_top = TOP_PAD + used_lanes * LANE_H + (4 if used_lanes else 0)

    bands: list[ChartBand] = []
    band_y: dict[Stage, float] = {}
    for i, stage in enumerate(STAGE_ORDER):
        y = bands_top + i * (BAND_H + BAND_GAP)
        band_y[stage] = y
        bands.append(
            ChartBand(stage.value.capitalize(), _r(y), BAND_H, _r(y + BAND_H / 2 + 4),
                      STAGE_COLORS[stage])
        )  # fmt: skip
    bands_bottom = bands_top + len(STAGE_ORDER) * (BAND_H + BAND_GAP) - BAND_GAP

    rects: list[ChartRect] = []
    for span in doc.spans:
        span_end = span.ended_at or doc.end_at
        x1, x2 = to_x(span.started_at), to_x(span_end)
        w = max(x2 - x1, 1.5)
        spent = format_duration(max(span_end - span.started_at, timedelta()))
        title = (
            f"{span.stage.value.capitalize()}, loop {span.iteration}: "
            f"{_utc(span.started_at):%H:%M:%S}–{_utc(span_end):%H:%M:%S} UTC ({spent})"
        )
        rects.append(
            ChartRect(
                _r(x1), _r(band_y[span.stage] + 2), _r(w), BAND_H - 4,
                STAGE_COLORS[span.stage], title, f"#{span.iteration}" if w >= 22 else "",
                _r(x1 + 4), _r(band_y[span.stage] + BAND_H / 2 + 4),
            )
        )  # fmt: skip

    events: list[ChartEvent] = []
    for event, (lane, x, anchor) in zip(events_in, placed, strict=True):
        label = _short(event.label) if lane is not None else ""
        label_y = TOP_PAD + (lane or 0) * LANE_H + 10
        events.append(
            ChartEvent(
                x=_r(x),
                y1=_r(label_y + 2 if lane is not None else bands_top - 2),
                y2=_r(bands_bottom + 2),
                color=EVENT_COLORS.get(event.kind, "#333333"),
                label=label,
                label_x=_r(x + 3 if anchor == "start" else x - 3),
                label_y=_r(label_y),
                anchor=anchor,
                title=f"{event.label} — {_utc(event.at):%Y-%m-%d %H:%M:%S} UTC",
            )
        )

    axis_y = bands_bottom + 6
    caption = f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"
    return Chart(
        width=WIDTH,
        height=_r(axis_y + 34),
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        plot_width=plot_w,
        band_label_x=PLOT_LEFT - 8,
        tick_label_y=_r(axis_y + 14),
        caption_y=_r(axis_y + 30),
        bands_top=_r(bands_top),
        bands_bottom=_r(bands_bottom),
        axis_y=_r(axis_y),
        bands=bands,
        rects=rects,
        ticks=_ticks(start, end, to_x),
        events=events,
        caption=caption,
    )
