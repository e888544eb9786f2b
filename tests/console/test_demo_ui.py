"""`ooda demo --ui`: the demo played, then the console served on 127.0.0.1 with a sign-in
that goes through the demo's own fake Slack (and its made-up secrets)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.demo import DemoIncident, run_demo
from bot.devstack import DevStack


async def test_demo_ui_serves_the_console_on_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    async def look(stack: DevStack, demo: DemoIncident) -> None:
        assert stack.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=stack.url, follow_redirects=True) as browser:
            page = await browser.get("/ui/incidents/1")
            seen["status"], seen["text"] = page.status_code, page.text
            seen["hops"] = [str(r.url) for r in page.history]

    code = await run_demo(tmp_path / "pm.md", ui=True, then=look)
    assert code == 0
    assert seen["status"] == 200
    assert "Checkout 5xx errors above SLO" in str(seen["text"])
    hops = [str(h).split("?")[0] for h in seen["hops"]]  # type: ignore[attr-defined]
    assert hops[1].endswith("/auth/login") and hops[2].endswith("/openid/connect/authorize")
    assert hops[3].endswith("/auth/callback")
    printed = capsys.readouterr().out
    assert "/ui/incidents/1" in printed and "Web console" in printed
