"""The console's pages on the demo's incident: the list with its filters and pages, the
incident page, the postmortem and its downloads, the trends; unknown things are 404 pages
and user text is escaped everywhere."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.demo import CONFIG, DemoIncident, Step
from bot.devstack import DevStack
from bot.domain.drills import default_drills_dir, scan
from bot.domain.model import TimelineKind, utcnow
from bot.drill_run import LOCAL_ENV, DrillPlay, ScriptedResponder, local_config
from bot.storage import repo
from tests.helpers.console import CONSOLE_ENV, signed_in
from tests.helpers.stack import FAST_VERIFY, MakeStack

pytestmark = pytest.mark.db

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
async def demo(make_stack: MakeStack) -> AsyncIterator[DemoIncident]:
    async with make_stack(CONFIG, env=FAST_VERIFY | CONSOLE_ENV) as stack:
        yield await DemoIncident(stack).play()


def numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/ui/incidents/(\d+)">INC-', page)]


async def add_incidents(stack: DevStack, count: int, **fields: object) -> None:
    async with stack.runtime.db.transaction() as session:
        for i in range(count):
            await repo.create_incident(
                session, title=f"Incident {i}", opened_at=utcnow() - timedelta(hours=i), **fields
            )


async def test_the_list_filters_searches_and_pages(demo: DemoIncident) -> None:
    stack = demo.stack
    await add_incidents(stack, 60, service="search", severity=2)
    await add_incidents(stack, 2, service="search", is_drill=True)
    async with signed_in(stack, demo.scenario.alice) as client:
        first = await client.get("/ui/")
        assert first.status_code == 200
        shown = numbers(first.text)
        assert 64 not in shown and 63 not in shown  # the drills are hidden...
        drills = numbers((await client.get("/ui/", params={"drills": "1"})).text)
        assert drills[:2] == [63, 62]  # ...unless asked for
        assert len(shown) == 50 and shown == sorted(shown, reverse=True)
        older = re.search(r'href="(/ui/\?[^"]*before=\d+)"', first.text)
        assert older is not None
        second = await client.get(html.unescape(older.group(1)))
        rest = numbers(second.text)
        assert rest == list(range(shown[-1] - 1, 0, -1)) and 1 in rest
        assert "after=" in second.text and "before=" not in second.text
        newer = re.search(r'href="(/ui/\?[^"]*after=\d+)"', second.text)
        assert newer is not None
        assert numbers((await client.get(html.unescape(newer.group(1)))).text) == shown

        def only(params: dict[str, str]) -> object:
            return client.get("/ui/", params=params)

        assert numbers((await only({"q": "checkout 5xx"})).text) == [1]
        assert numbers((await only({"service": "checkout"})).text) == [1]
        assert numbers((await only({"status": "resolved"})).text) == [1]
        assert len(numbers((await only({"severity": "2", "service": "search"})).text)) == 50
        today = utcnow().strftime("%Y-%m-%d")
        assert 1 in numbers((await only({"from": today, "to": today})).text)
        assert numbers((await only({"to": "2000-01-01"})).text) == []
        for bad in ({"severity": "9"}, {"severity": "x"}, {"from": "yesterday"},
                    {"status": "lost"}, {"before": "-1"}):  # fmt: skip
            answer = await only(bad)
            assert answer.status_code == 400, bad
            assert "Bad filter" in answer.text


async def test_the_incident_page_shows_the_whole_record(demo: DemoIncident) -> None:
    stack = demo.stack
    async with signed_in(stack, demo.scenario.alice) as client:
        page = await client.get("/ui/incidents/1")
        assert page.status_code == 200
        text = page.text
        assert "Checkout 5xx errors above SLO" in text and "SEV" in text
        assert "<svg" in text and "#2f6fdb" in text  # the stage-band chart, inline
        assert "v1.43.0: new payment retry policy" in text  # the ranked changes...
        assert "Suspect" in text  # ...with the verdict Alice gave
        assert "rollback.yml" in text or "github.workflow_dispatch" in text  # the action
        assert demo.REASON in text  # the decision's reason
        assert 'name="csrf"' in text
        assert "https://slack.com/app_redirect?channel=" + demo.channel in text
        assert "alice" in text.lower()  # actors by name
        for path in ("/ui/incidents/999", "/ui/incidents/abc", "/ui/incidents/1/postmortem.pdf",
                     "/ui/nothing-here", "/ui/incidents/99999999999999"):  # fmt: skip
            missing = await client.get(path)
            assert missing.status_code == 404, path
            assert "Not found" in missing.text


async def test_the_postmortem_and_its_downloads(demo: DemoIncident) -> None:
    async with signed_in(demo.stack, demo.scenario.alice) as client:
        page = await client.get("/ui/incidents/1/postmortem")
        assert page.status_code == 200 and "postmortem.md?download=1" in page.text
        markdown = await client.get("/ui/incidents/1/postmortem.md", params={"download": "1"})
        assert markdown.headers["content-type"].startswith("text/markdown")
        assert 'filename="INC-1-postmortem.md"' in markdown.headers["content-disposition"]
        assert markdown.text.startswith("# INC-1")
        inline = await client.get("/ui/incidents/1/postmortem.html")
        assert "content-disposition" not in inline.headers
        assert "<svg" in inline.text and "Checkout 5xx errors above SLO" in inline.text


async def test_trends_show_charts_and_playbook_efficacy(demo: DemoIncident) -> None:
    async with signed_in(demo.stack, demo.scenario.alice) as client:
        page = await client.get("/ui/stats")
        assert page.status_code == 200
        assert page.text.count("<svg") == 2  # all services, then checkout
        assert "MTTA" in page.text and "MTTR" in page.text
        efficacy = page.text[page.text.index('id="playbooks"') :]
        assert "rollback" in efficacy.lower() and "100%" in efficacy  # the demo's rollback worked
        assert (await client.get("/ui/stats", params={"days": "0"})).status_code == 400


async def test_user_text_is_escaped_everywhere(demo: DemoIncident) -> None:
    stack = demo.stack
    async with stack.runtime.db.transaction() as session:
        row = await repo.create_incident(
            session, title=HOSTILE, service=HOSTILE[:40], summary=HOSTILE, root_cause=HOSTILE
        )
        await repo.add_entry(session, row.id, TimelineKind.NOTE, HOSTILE, actor=HOSTILE[:100])
        number = row.id
    async with signed_in(stack, demo.scenario.alice) as client:
        for path in (f"/ui/?q={HOSTILE[:8]}", f"/ui/incidents/{number}",
                     f"/ui/incidents/{number}/postmortem", f"/ui/incidents/{number}/postmortem.html",
                     "/ui/"):  # fmt: skip
            body = (await client.get(path)).text
            assert "<script>alert" not in body and "<b>bold</b>" not in body, path
        assert "&lt;script&gt;alert(" in (await client.get(f"/ui/incidents/{number}")).text


async def test_pages_refuse_without_a_session(demo: DemoIncident) -> None:
    assert demo.stack.http is not None
    for path in ("/ui/", "/ui/incidents/1", "/ui/incidents/1/postmortem.md", "/ui/stats"):
        answer = await demo.stack.http.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/login")
    live = await demo.stack.http.get("/ui/incidents/1/live")
    assert live.status_code == 401


@pytest.mark.parametrize("step", [Step.PAGE])
async def test_an_open_incident_shows_its_current_stage(make_stack: MakeStack, step: Step) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY | CONSOLE_ENV) as stack:
        demo = await DemoIncident(stack).play(through=step)
        async with signed_in(stack, demo.scenario.alice) as client:
            page = (await client.get("/ui/incidents/1")).text
            assert "Observe for" in page or "Orient for" in page
            assert 'class="status triggered"' in page


async def test_a_drill_shows_its_scorecard_and_the_trends_list_it(make_stack: MakeStack) -> None:
    scenario = next(s for s in scan(default_drills_dir())[0] if s.name == "capacity-exhaustion")
    env = LOCAL_ENV | CONSOLE_ENV
    async with make_stack(local_config(scenario, None), env=env) as stack:
        play = DrillPlay(stack, scenario, ScriptedResponder())
        card = await play.play()
        async with signed_in(stack, play.alice) as client:
            page = (await client.get(f"/ui/incidents/{play.number}")).text
            trends = (await client.get("/ui/stats")).text
    assert f"Drill scorecard: {card['total']}/{card['out_of']}" in page
    drills = trends.split('<section id="drills">', 1)[1].split("</section>", 1)[0]
    row = drills.split(f'href="/ui/incidents/{play.number}">INC-{play.number}</a>', 1)[1]
    assert "<code>capacity-exhaustion</code>" in row.split("</tr>", 1)[0]
    assert f"{card['total']}/{card['out_of']}" in row.split("</tr>", 1)[0]
