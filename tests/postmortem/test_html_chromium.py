"""Open the HTML postmortem in headless Chromium and look at the screenshot.

Skipped when Chromium is not installed (apt-get install -y chromium).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.domain.model import Stage
from bot.postmortem.chart import STAGE_COLORS
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import render_postmortem
from tests.helpers.png import chromium_binary, count_colours, read_png


def test_html_page_renders_in_headless_chromium(doc: PostmortemDoc, tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium not installed: apt-get install -y chromium")
    page = tmp_path / "postmortem.html"
    page.write_text(render_postmortem(doc, fmt="html"), encoding="utf-8")
    png = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0", f"--screenshot={png}", "--window-size=1200,1600",
        page.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    assert png.stat().st_size > 20_000, "screenshot is suspiciously small"
    for line in result.stderr.splitlines():
        assert "Uncaught" not in line, line
        assert "CONSOLE" not in line, line  # no JS, no blocked resources, nothing logged
        assert "Refused to" not in line, line

    width, height, rows = read_png(png.read_bytes())
    assert (width, height) == (1200, 1600)
    # the chart's stage bands are visible: enough pixels of each stage colour
    hits = count_colours(rows, {stage.value: STAGE_COLORS[stage] for stage in Stage})
    for stage, pixels in hits.items():
        assert pixels > 500, f"{stage} band not visible ({pixels} pixels): {hits}"
