"""The console in real headless Chromium (skipped when /usr/bin/chromium is absent): signing
in through the Slack fake's authorize page, each page without console errors, the chart's
colours on a screenshot, a note from Slack appearing live, a note from the console reaching
the channel. Every wait is on an event with a deadline."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from bot.demo import CONFIG, DemoIncident, Step
from bot.devstack import DevStack
from bot.domain.model import Stage, TimelineKind
from bot.postmortem.chart import STAGE_COLORS
from bot.storage import repo
from tests.helpers.browser import Problems, chromium
from tests.helpers.console import CONSOLE_ENV
from tests.helpers.png import count_colours, read_png
from tests.helpers.stack import FAST_VERIFY, MakeStack

pytestmark = pytest.mark.db
DEADLINE_MS = 15_000


@pytest.fixture
async def stack(make_stack: MakeStack) -> AsyncIterator[DevStack]:
    async with make_stack(CONFIG, env=FAST_VERIFY | CONSOLE_ENV) as running:
        yield running


async def sign_in(page: Page, stack: DevStack, user: str, path: str = "/ui/") -> None:
    """Through the real redirects: console → /auth/login → the fake's authorize → callback."""
    stack.slack.openid.sign_in_as(user)
    await page.goto(stack.url + path)
    await expect(page).to_have_url(re.compile(re.escape(stack.url + path) + "$"))


async def test_every_page_renders_without_console_errors(stack: DevStack) -> None:
    demo = await DemoIncident(stack).play()
    problems = Problems()
    async with chromium() as browser:
        page = problems.watch(await browser.new_page())
        await sign_in(page, stack, demo.scenario.alice)
        await expect(page.locator("table.list")).to_contain_text("Checkout 5xx errors above SLO")
        await page.get_by_role("link", name="Checkout 5xx errors above SLO").click()
        await expect(page.locator("h1")).to_contain_text("INC-1")
        await expect(page.locator("#live-state")).to_have_text("live", timeout=DEADLINE_MS)
        await page.get_by_role("link", name="Postmortem").click()
        frame = page.frame_locator("iframe.postmortem")
        await expect(frame.locator("h1")).to_contain_text("INC-1")
        await page.get_by_role("link", name="Trends").click()
        await expect(page.locator("#weekly svg").first).to_be_visible()
        await expect(page.locator("#playbooks table")).to_be_visible()
        await page.goto(stack.url + "/ui/?q=checkout&status=resolved")
        await expect(page.locator("table.list tbody tr")).to_have_count(1)
    assert problems.seen == []


async def test_the_incident_page_shows_the_charts_colours(stack: DevStack) -> None:
    demo = await DemoIncident(stack).play()
    async with chromium() as browser:
        page = await browser.new_page(
            viewport={"width": 1280, "height": 900}, device_scale_factor=2
        )
        await sign_in(page, stack, demo.scenario.alice, "/ui/incidents/1")
        chart = page.locator("figure.chart svg")
        await expect(chart).to_be_visible()
        png = await chart.screenshot()
    width, height, rows = read_png(png)
    assert width > 600 and height > 100
    hits = count_colours(rows, {stage.value: STAGE_COLORS[stage] for stage in Stage})
    for stage, pixels in hits.items():
        assert pixels > 200, f"{stage} band not visible ({pixels} pixels): {hits}"


async def test_a_note_from_slack_appears_without_a_reload(stack: DevStack) -> None:
    demo = await DemoIncident(stack).play(through=Step.ACKNOWLEDGE)
    alice = demo.scenario.alice
    problems = Problems()
    async with chromium() as browser:
        page = problems.watch(await browser.new_page())
        await sign_in(page, stack, alice, "/ui/incidents/1")
        await expect(page.locator("#live-state")).to_have_text("live", timeout=DEADLINE_MS)
        loads = []
        page.on("load", lambda _: loads.append(1))
        said = await stack.command("note cache warmed <fully>", user=alice, channel=demo.channel)
        assert said.status_code == 200
        fresh = page.locator("#timeline-entries li", has_text="cache warmed <fully>")
        await expect(fresh).to_be_visible(timeout=DEADLINE_MS)
        await expect(fresh).to_have_count(1)
        assert loads == []  # it came over the open stream, not a reload
    assert problems.seen == []


async def test_a_note_from_the_console_reaches_the_channel(stack: DevStack) -> None:
    demo = await DemoIncident(stack).play(through=Step.ACKNOWLEDGE)
    alice = demo.scenario.alice
    async with chromium() as browser:
        page = await browser.new_page()
        await sign_in(page, stack, alice, "/ui/incidents/1")
        await page.get_by_label("Add a note").fill("paged the DBA team")
        await page.get_by_role("button", name="Add note").click()
        entry = page.locator("#timeline-entries li", has_text="paged the DBA team")
        await expect(entry).to_be_visible(timeout=DEADLINE_MS)
        await expect(entry).to_have_count(1)
    await stack.settle()
    texts = [m["text"] for m in stack.slack.messages(demo.channel)]
    assert any("paged the DBA team" in t and f"<@{alice}>" in t for t in texts), texts
    async with stack.runtime.db.session() as session:
        notes = [e for e in await repo.timeline(session, 1) if e.kind is TimelineKind.NOTE]
    assert [(n.text, n.actor) for n in notes] == [("paged the DBA team", alice)]
