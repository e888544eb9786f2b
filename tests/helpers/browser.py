"""The console in real headless Chromium: the Debian `chromium` driven by Playwright with
`executable_path` (Playwright never downloads a browser here); tests skip without it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from tests.helpers.png import chromium_binary

ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium not installed (apt-get install -y chromium): browser tests skipped")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=binary, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Problems:
    """What a page logged as an error, or threw."""

    seen: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", self._thrown)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.seen.append(f"{message.type}: {message.text} ({message.location})")

    def _thrown(self, error: Error) -> None:
        self.seen.append(f"uncaught: {error}")
