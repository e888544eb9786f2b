"""The stats chart: per week, the median time in each OODA stage (stacked bars) with MTTA and
MTTR marked, as SVG (Jinja2, `trends.svg.j2`) and PNG (resvg) for `ooda stats --png` and
`/incident stats`. Layout is computed here; the template only draws."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import resvg_py

from bot.domain.metrics import GroupStats
from bot.domain.model import STAGE_ORDER
from bot.domain.stages import format_duration
from bot.postmortem.chart import STAGE_COLORS
from bot.postmortem.render import get_environment

WIDTH, HEIGHT = 1000.0, 380.0
LEFT, RIGHT, TOP, BOTTOM = 70.0, 20.0, 50.0, 60.0
MTTA_COLOR, MTTR_COLOR = "#344054", "#d92d20"
ZOOM = 2.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    color: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class WeekLabel:
    x: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    width: float
    height: float
    title: str
    left: float
    right: float
    top: float
    axis_y: float
    bars: list[Bar]
    mtta: list[Mark]
    mttr: list[Mark]
    ticks: list[Tick]
    weeks: list[WeekLabel]
    legend: list[tuple[str, str]]  # (label, color)
    empty: bool


def _step(top: float) -> float:
    """A round tick step (seconds) giving about five ticks up to `top`."""
    for step in (60, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 172800):
        if top / step <= 6:
            return float(step)
    return 86400.0 * math.ceil(top / 86400 / 6)


def build_trends(weeks: list[tuple[datetime, GroupStats]], *, scope: str) -> TrendChart:
    plot_w, bottom = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    plot_h = bottom - TOP
    stacks = [
        sum((g.median_stage.get(s) or timedelta()).total_seconds() for s in STAGE_ORDER)
        for _, g in weeks
    ]
    peaks = [
        max(stack, (g.mtta or timedelta()).total_seconds(), (g.mttr or timedelta()).total_seconds())
        for stack, (_, g) in zip(stacks, weeks, strict=True)
    ]
    step = _step(max(peaks, default=0.0) or 3600.0)
    top = step * max(1, math.ceil(max(peaks, default=0.0) / step))

    def y_of(seconds: float) -> float:
        return bottom - plot_h * min(seconds / top, 1.0)

    slot = plot_w / max(len(weeks), 1)
    bar_w = min(48.0, slot * 0.6)
    bars: list[Bar] = []
    mtta: list[Mark] = []
    mttr: list[Mark] = []
    labels: list[WeekLabel] = []
    for index, (week, group) in enumerate(weeks):
        center = LEFT + slot * (index + 0.5)
        base = 0.0
        for stage in STAGE_ORDER:
            spent = (group.median_stage.get(stage) or timedelta()).total_seconds()
            if spent <= 0:
                continue
            y0, y1 = y_of(base + spent), y_of(base)
            title = f"Week of {week:%d %b}: {stage.value} median {format_duration(timedelta(seconds=spent))}"
            bars.append(Bar(round(center - bar_w / 2, 1), round(y0, 1), round(bar_w, 1),
                            round(max(y1 - y0, 0.5), 1), STAGE_COLORS[stage], title))  # fmt: skip
            base += spent
        for value, marks, name, color in (
            (group.mtta, mtta, "MTTA", MTTA_COLOR),
            (group.mttr, mttr, "MTTR", MTTR_COLOR),
        ):
            if value is not None:
                title = f"Week of {week:%d %b}: {name} {format_duration(value)} ({group.count} incidents)"
                marks.append(
                    Mark(round(center, 1), round(y_of(value.total_seconds()), 1), color, title)
                )
        labels.append(WeekLabel(round(center, 1), f"{week:%d %b}"))
    ticks = [
        Tick(round(y_of(step * n), 1), format_duration(timedelta(seconds=step * n)))
        for n in range(int(top // step) + 1)
    ]
    legend = [(s.value.capitalize(), STAGE_COLORS[s]) for s in STAGE_ORDER]
    legend += [("MTTA", MTTA_COLOR), ("MTTR", MTTR_COLOR)]
    return TrendChart(
        WIDTH, HEIGHT, f"Per week: median time in each OODA stage, MTTA and MTTR — {scope}",
        LEFT, WIDTH - RIGHT, TOP, bottom, bars, mtta, mttr, ticks, labels, legend, not weeks,
    )  # fmt: skip


def trends_svg(chart: TrendChart) -> str:
    return get_environment("html").get_template("trends.svg.j2").render(chart=chart)


def trends_png(chart: TrendChart) -> bytes:
    svg = trends_svg(chart)
    return bytes(resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff", zoom=ZOOM))
