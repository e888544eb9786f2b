"""The README's two console screenshots (the incidents list and INC-1's page), taken with
Playwright in the system's Chromium from `ooda demo --ui`'s own run.

Run: .venv/bin/python scripts/console_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo import DemoIncident, run_demo
from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.storage import repo

CHROMIUM = "/usr/bin/chromium"
EARLIER = [  # a few past incidents so the list is not a single row
    ("Search latency p99 above 2 s", "search", 2),
    ("Payments webhook backlog", "payments", 3),
    ("Checkout 502s after config push", "checkout", 2),
    ("Login emails delayed", "email", 4),
]


async def shoot(out: Path) -> None:
    async def take(stack: DevStack, demo: DemoIncident) -> None:
        async with stack.runtime.db.transaction() as session:
            for days, (title, service, severity) in enumerate(EARLIER, start=1):
                opened = utcnow() - timedelta(days=days * 3)
                row = await repo.create_incident(
                    session, title=title, service=service, severity=severity, opened_at=opened
                )
                row.status, row.resolved_at = "resolved", opened + timedelta(minutes=25 + days)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = await browser.new_page(viewport={"width": 1280, "height": 760})
            await page.goto(stack.url + "/ui/")
            await page.wait_for_selector("table.list")
            await page.screenshot(path=str(out / "console-list.png"))
            await page.goto(stack.url + "/ui/incidents/1")
            await page.wait_for_selector("#live-state:text('live')")
            await page.screenshot(path=str(out / "console-incident.png"), full_page=True)
            await browser.close()

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        await run_demo(Path(tmp) / "postmortem.md", ui=True, then=take)
    print(f"wrote {out / 'console-list.png'} and {out / 'console-incident.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    asyncio.run(shoot(parser.parse_args().out))
