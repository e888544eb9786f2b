"""`/incident followup <text> [@owner]` through the real app, and owner parsing."""

from __future__ import annotations

from sqlalchemy import select

from bot.demo import CONFIG, DemoIncident, Step
from bot.service import postmortems
from bot.storage.tables import FollowUpRow, TimelineRow
from tests.helpers.stack import MakeStack


def test_parse_followup_owner() -> None:
    assert postmortems.parse_followup("Add a canary stage") == ("Add a canary stage", None)
    assert postmortems.parse_followup(" Add a canary stage @bob ") == ("Add a canary stage", "@bob")
    assert postmortems.parse_followup("Fix retries <@U0BOB0001|bob>") == (
        "Fix retries",
        "U0BOB0001",
    )
    assert postmortems.parse_followup("Fix retries <@U0BOB0001>") == ("Fix retries", "U0BOB0001")
    # an address in the middle is text, not an owner
    assert postmortems.parse_followup("mail ops@example.com now") == (
        "mail ops@example.com now",
        None,
    )
    assert postmortems.parse_followup("@bob") == ("@bob", None)


async def test_followup_command_records_item_timeline_and_message(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        demo = await DemoIncident(stack).play(through=Step.PAGE)
        alice, cid = demo.scenario.alice, demo.channel
        await stack.command(
            "followup Alert on retry queue depth <!channel> <@U0BOB0001|bob>",
            user=alice,
            channel=cid,
        )
        await stack.command("followup Write the retry policy ADR", user=alice, channel=cid)
        await stack.command("followup", user=alice, channel=cid)
        await stack.settle()

        async with stack.runtime.db.session() as session:
            rows = (await session.scalars(select(FollowUpRow).order_by(FollowUpRow.id))).all()
            entries = (
                await session.scalars(select(TimelineRow).where(TimelineRow.kind == "followup"))
            ).all()
        assert [(r.text, r.owner, r.created_by, r.url) for r in rows] == [
            ("Alert on retry queue depth <!channel>", "U0BOB0001", alice, None),
            ("Write the retry policy ADR", None, alice, None),
        ]
        assert sorted(e.text for e in entries) == [
            "Follow-up: Alert on retry queue depth <!channel>",
            "Follow-up: Write the retry policy ADR",
        ]
        posted = [m["text"] for m in stack.slack.messages(cid) if "Follow-up" in m["text"]]
        assert posted[0] == (
            ":pushpin: *Follow-up* Alert on retry queue depth &lt;!channel&gt; · owner <@U0BOB0001>"
            f" (added by <@{alice}>)"
        )
        usage = stack.slack.calls("response_url")[-1].params
        assert usage["text"] == "Usage: `/incident followup &lt;what to do&gt; [@owner]`"
        assert usage["response_type"] == "ephemeral"
