"""The whole loop through the real app: PagerDuty webhook → Observe → Orient → Decide → Act →
verify → resolve → postmortem, asserting on what Slack received, the timeline and the document
after each step of the demo's story (bot.demo.DemoIncident)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.demo import CONFIG, DemoIncident, Step
from bot.storage.tables import ActionRunRow, Incident, StageSpanRow, TimelineRow
from tests.helpers.postmortem import postmortem_files
from tests.helpers.stack import FAST_VERIFY, MakeStack


async def test_full_loop(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        demo = DemoIncident(stack)
        scenario = demo.scenario
        await demo.play(through=Step.PAGE)
        assert demo.page_response is not None and demo.page_response.status_code == 202
        # A redelivery of the same webhook id changes nothing.
        again = await stack.pagerduty_webhook(
            scenario.triggered, webhook_id=demo.page_response.request.headers["X-Webhook-Id"]
        )
        assert again.json().get("duplicate") is True
        await stack.settle()

        channel = stack.slack.channel(demo.channel)
        assert channel["name"] == "inc-1-checkout-5xx-errors-above-slo"
        channel_id = demo.channel
        texts = "\n".join(m["text"] for m in stack.slack.messages(channel_id))
        assert "INC-1 Observe" in texts
        assert "INC-1 Orient" in texts
        orient = next(
            m for m in stack.slack.messages(channel_id) if m["text"].startswith("INC-1 Orient")
        )
        orient_text = str(orient["blocks"])
        assert scenario.suspect_sha[:7] in orient_text
        assert "likely suspect" in orient_text
        assert "before the first alert" in orient_text
        # The suspect deploy is ranked first.
        first_change = next(b for b in orient["blocks"] if b["type"] == "section")
        assert scenario.suspect_sha[:7] in first_change["text"]["text"]

        # Acknowledge from Slack: mirrored to PagerDuty, and the loop moves on to Orient.
        await demo.play(through=Step.ACKNOWLEDGE)
        assert stack.pagerduty.incident(scenario.pd_incident_id)["status"] == "acknowledged"
        # PagerDuty echoes our own ack back as a webhook: it must not land twice.
        echo = stack.pagerduty.webhook_event("incident.acknowledged", scenario.pd_incident_id)
        assert (await stack.pagerduty_webhook(echo)).status_code == 202
        await stack.settle()

        # The responder's verdict shows on the Orient card, updated in place.
        await demo.play(through=Step.SUSPECT)
        [orient] = [
            m for m in stack.slack.messages(channel_id) if m["text"].startswith("INC-1 Orient")
        ]
        assert "verdict: *suspect*" in str(orient["blocks"])

        # Decide: the responder moves on; suggestions arrive as buttons, the rollback first.
        await demo.play(through=Step.DECIDE)
        assert "Roll back checkout" in demo.run_button["text"]["text"]

        # Act: click → confirmation modal with the resolved params → submit → workflow dispatch.
        await demo.play(through=Step.ACT)
        assert scenario.rollback_sha in str(demo.confirm_modal["blocks"])
        assert demo.confirmed is not None and demo.confirmed.status_code == 200
        assert len(stack.github.dispatches) == 1
        dispatch = stack.github.dispatches[0]
        assert dispatch["repo"] == "acme/checkout"
        assert scenario.rollback_sha in str(dispatch)

        # Observe again: the fake's alerts cleared after the rollback; verify reports it.
        texts = "\n".join(m["text"] for m in stack.slack.messages(channel_id))
        assert "Alerts cleared" in texts
        assert "approved by <@U0ALICE01>" in texts  # a real mention, not escaped text

        # Close: PagerDuty resolves; the postmortem is uploaded.
        await demo.play(through=Step.RESOLVE)
        files = postmortem_files(stack)
        assert files and files[-1]["title"] == "INC-1 postmortem"

        async with stack.runtime.db.session() as session:
            incident = (await session.scalars(select(Incident))).one()
            assert incident.status == "resolved"
            assert incident.mitigated_at is not None
            kinds = [
                r.kind
                for r in (await session.scalars(select(TimelineRow).order_by(TimelineRow.at))).all()
            ]
            spans = (await session.scalars(select(StageSpanRow))).all()
            run = (await session.scalars(select(ActionRunRow))).one()
        assert kinds[0] == "opened"
        assert kinds.count("status") == 1  # one ack, despite the echo
        for kind in ("stage", "decision", "action", "verify", "resolved"):
            assert kind in kinds, kinds
        assert {s.stage for s in spans} >= {"observe", "orient", "decide", "act"}
        assert max(s.iteration for s in spans) == 2  # back to Observe after acting
        assert all(s.ended_at is not None for s in spans)
        assert run.status == "succeeded" and run.verify_passed is True

        content = demo.postmortem
        assert "# INC-1: Checkout 5xx errors above SLO" in content
        assert scenario.suspect_sha[:7] in content
        assert "Decision log" in content
        assert incident.resolved_at - incident.opened_at < timedelta(minutes=5)
