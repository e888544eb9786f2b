"""The stage-band chart as a PNG (for Slack, which shows images, not SVG): the same SVG the
HTML postmortem inlines, rendered by resvg."""

from __future__ import annotations

from pathlib import Path

import resvg_py

from bot.postmortem.chart import build_chart
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import get_environment

ZOOM = 2.0  # sharp on high-density screens


def chart_svg(doc: PostmortemDoc, templates_dir: Path | None = None) -> str:
    env = get_environment("html", templates_dir)  # autoescaped: SVG is XML
    return env.get_template("chart.svg.j2").render(chart=build_chart(doc))


def chart_png(doc: PostmortemDoc, templates_dir: Path | None = None) -> bytes:
    """PNG bytes of the chart on a white background; ValueError if it cannot be drawn."""
    svg = chart_svg(doc, templates_dir)
    return bytes(resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff", zoom=ZOOM))
