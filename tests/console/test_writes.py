"""Light writes from the console go through the same use cases as Slack, as the signed-in
person: a note (on the timeline, in the channel), a change's verdict, the postmortem's fields;
only responders may, and bad input gets a clear answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.demo import CONFIG, DemoIncident, Step
from bot.domain.model import TimelineKind
from bot.storage import repo
from tests.helpers.console import CONSOLE_ENV, csrf_of, signed_in
from tests.helpers.stack import FAST_VERIFY, MakeStack

pytestmark = pytest.mark.db


@pytest.fixture
async def demo(make_stack: MakeStack) -> AsyncIterator[DemoIncident]:
    async with make_stack(CONFIG, env=FAST_VERIFY | CONSOLE_ENV) as stack:
        yield await DemoIncident(stack).play(through=Step.SUSPECT)


async def test_a_note_lands_on_the_timeline_and_in_the_channel(demo: DemoIncident) -> None:
    stack, alice = demo.stack, demo.scenario.alice
    text = "Rolled <b>back</b> & watching <!channel>"
    async with signed_in(stack, alice) as client:
        csrf = csrf_of((await client.get("/ui/incidents/1")).text)
        answer = await client.post("/ui/incidents/1/notes", data={"csrf": csrf, "text": text})
        assert (
            answer.status_code == 303 and answer.headers["location"] == "/ui/incidents/1#timeline"
        )
        await stack.settle()
        async with stack.runtime.db.session() as session:
            notes = [e for e in await repo.timeline(session, 1) if e.kind is TimelineKind.NOTE]
        assert [(n.text, n.actor) for n in notes] == [(text, alice)]
        said = [m["text"] for m in stack.slack.messages(demo.channel) if "watching" in m["text"]]
        assert len(said) == 1 and f"<@{alice}>" in said[0]
        assert "&lt;b&gt;back&lt;/b&gt; &amp; watching &lt;!channel&gt;" in said[0]  # escaped
        assert "<!channel>" not in said[0]
        # and the page shows it, escaped
        page = (await client.get("/ui/incidents/1")).text
        assert "Rolled &lt;b&gt;back&lt;/b&gt; &amp; watching" in page

        for bad, status in (({"text": "  "}, 400), ({"text": "x" * 3001}, 400)):
            refused = await client.post("/ui/incidents/1/notes", data={"csrf": csrf} | bad)
            assert refused.status_code == status
        missing = await client.post("/ui/incidents/77/notes", data={"csrf": csrf, "text": "x"})
        assert missing.status_code == 404


async def test_a_verdict_and_the_postmortem_fields(demo: DemoIncident) -> None:
    stack, alice = demo.stack, demo.scenario.alice
    async with signed_in(stack, alice) as client:
        page = (await client.get("/ui/incidents/1")).text
        csrf = csrf_of(page)
        change = next(
            line.split('value="')[1].split('"')[0]
            for line in page.splitlines()
            if 'name="change"' in line
        )
        answer = await client.post(
            "/ui/incidents/1/verdicts", data={"csrf": csrf, "change": change, "verdict": "caused"}
        )
        assert answer.status_code == 303
        await stack.settle()
        async with stack.runtime.db.session() as session:
            ranked = await repo.ranked_changes(session, 1)
            entries = await repo.timeline(session, 1)
        assert ranked[0].verdict is not None and ranked[0].verdict.value == "caused"
        assert entries[-1].kind is TimelineKind.CHANGE_VERDICT and entries[-1].actor == alice
        orient = [
            m for m in stack.slack.messages(demo.channel) if m["text"].startswith("INC-1 Orient")
        ]
        assert "verdict: *caused*" in str(orient[-1]["blocks"])  # the card follows

        for bad in (
            {"change": change, "verdict": "guilty"},
            {"change": "github:0", "verdict": "caused"},
        ):
            refused = await client.post("/ui/incidents/1/verdicts", data={"csrf": csrf} | bad)
            assert refused.status_code in (400, 404), bad

        fields = {"summary": "Checkout <failed>", "impact": "12% of payments", "root_cause": ""}
        saved = await client.post("/ui/incidents/1/postmortem", data={"csrf": csrf} | fields)
        assert saved.status_code == 303
        async with stack.runtime.db.session() as session:
            row = await repo.get_incident(session, 1)
            entries = await repo.timeline(session, 1)
        assert row is not None
        assert (row.summary, row.impact, row.root_cause) == (
            "Checkout <failed>",
            "12% of payments",
            None,
        )
        assert entries[-1].text == "Postmortem summary edited" and entries[-1].actor == alice
        markdown = (await client.get("/ui/incidents/1/postmortem.md")).text
        assert "12% of payments" in markdown


async def test_only_responders_may_write(demo: DemoIncident) -> None:
    stack = demo.stack
    carol = stack.slack.add_user("carol@example.com", "U0CAROL01", name="carol")
    async with signed_in(stack, carol) as client:
        csrf = csrf_of((await client.get("/ui/incidents/1")).text)  # reading is fine
        refused = await client.post("/ui/incidents/1/notes", data={"csrf": csrf, "text": "hi"})
        assert refused.status_code == 403 and "Only responders" in refused.text
    async with stack.runtime.db.session() as session:
        assert not [e for e in await repo.timeline(session, 1) if e.kind is TimelineKind.NOTE]
