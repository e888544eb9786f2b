"""Channel set-up survives a Slack failure part-way: the outbox tries the post again, and
everything is said once."""

from __future__ import annotations

from sqlalchemy import select

from bot.demo import CONFIG, DemoIncident, Step
from bot.storage.tables import Job
from tests.helpers.stack import MakeStack

ANNOUNCE = dict(CONFIG, announcements_channel="#incidents")


async def test_setup_retried_after_a_slack_error_posts_everything_once(
    make_stack: MakeStack,
) -> None:
    async with make_stack(ANNOUNCE) as stack:
        stack.slack.add_channel("incidents")
        demo = DemoIncident(stack)
        # The channel is created, then the first post fails: the outbox tries it again, while
        # the set-up job (which only records what to say) is not disturbed.
        stack.slack.fail_next("chat.postMessage", status=200, error="internal_error")
        await demo.play(through=Step.PAGE)
        async with stack.runtime.db.session() as session:
            setup = (await session.scalars(select(Job).where(Job.kind == "incident.setup"))).one()
        assert setup.status == "done" and setup.attempts == 1
        assert [c for c in stack.slack.calls("chat.postMessage") if not c.ok]  # it did fail
        messages = stack.slack.messages(demo.channel)
        texts = [m["text"] for m in messages]
        assert sum("INC-1 opened" in str(m["blocks"]) for m in messages) == 1, texts
        assert sum(t.startswith("INC-1 Observe") for t in texts) == 1
        announced = [m for m in stack.slack.messages(stack.slack.channel("incidents")["id"])]
        assert sum("INC-1 opened" in m["text"] for m in announced) == 1
        assert len(stack.slack.calls("conversations.create")) == 1
        async with stack.runtime.db.session() as session:
            reminders = (
                await session.scalars(select(Job).where(Job.kind == "incident.reminder"))
            ).all()
        kinds = sorted(j.payload["kind"] for j in reminders if j.status == "pending")
        assert kinds.count("status") == 1 and kinds.count("stall") >= 1, kinds
