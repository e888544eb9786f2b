"""Act and verify through the real app: the loop back to Observe, both ways, with stage spans;
failures with a hint and a second attempt; refusals that lose nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.domain.model import utcnow
from bot.storage.tables import StageSpanRow
from tests.helpers.decide_act import (
    ROLLBACK,
    SHORT_WINDOW,
    WebhookReceiver,
    action_runs,
    click_run,
    config_with,
    decide_card,
    incident_row,
    incident_stack,
    latest,
    opened_channel,
    pick_other,
    run_suggested,
    stage_spans,
    texts,
    timeline,
)
from tests.helpers.stack import MakeStack


async def test_verify_still_firing_then_cleared_on_the_next_loop(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack, env=SHORT_WINDOW) as (stack, opened):
        alice, pd_id = opened.scenario.alice, opened.scenario.pd_incident_id
        stack.github.on_dispatch = None  # this rollback does not fix production

        card = await decide_card(stack, opened)
        await run_suggested(
            stack, opened, card, ROLLBACK, user=alice, values={"reason": "suspect deploy"}
        )

        [first] = await action_runs(stack)
        assert first.status == "succeeded" and first.verify_passed is False
        firing = latest(stack, opened.channel, ":red_circle: Still firing")
        assert f"after *{first.title}*: marked not effective. Back to *Orient*." in firing["text"]
        assert "incident_resolve" not in str(firing["blocks"])
        incident = await incident_row(stack)
        assert incident.stage == "orient" and incident.mitigated_at is None
        [verdict] = await timeline(stack, "verify")
        assert verdict.data["passed"] is False and verdict.data["key"] == first.key
        assert (await stage_spans(stack))[-4:] == [
            (1, "decide"),
            (1, "act"),
            (2, "observe"),
            (2, "orient"),
        ]

        # The next loop: Decide again on the same card; a new attempt, and this time it works.
        stack.github.on_dispatch = lambda _d: stack.pagerduty.resolve_alerts(
            pd_id, resolve_incident=False
        )
        card = await decide_card(stack, opened)
        await click_run(stack, opened, card, ROLLBACK, user=alice)
        modal = stack.slack.views[-1]
        assert json.loads(modal["private_metadata"])["k"] == f"{first.key}#2"
        await stack.submit(modal, {"reason": "try again, alerts flapped"}, user=alice)
        await stack.settle()

        assert len(stack.github.dispatches) == 2
        second = (await action_runs(stack))[1]
        assert second.key == f"{first.key}#2"
        assert second.status == "succeeded" and second.verify_passed is True
        cleared = latest(stack, opened.channel, ":large_green_circle: Alerts cleared")
        assert f"after *{second.title}*" in cleared["text"]
        assert "incident_resolve" in str(cleared["blocks"])
        assert (await incident_row(stack)).mitigated_at is not None
        assert [v.data["passed"] for v in await timeline(stack, "verify")] == [False, True]

        spans = await stage_spans(stack)
        assert spans[-4:] == [(2, "orient"), (2, "decide"), (2, "act"), (3, "observe")]
        async with stack.runtime.db.session() as session:
            rows = (await session.scalars(select(StageSpanRow).order_by(StageSpanRow.id))).all()
        closed = [r for r in rows if r.ended_at is not None]
        assert len(closed) == len(rows) - 1  # only the current stage is open
        assert all(r.ended_at >= r.started_at for r in closed)


async def test_failed_step_says_what_to_try_and_can_run_again(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack, env=SHORT_WINDOW) as (stack, opened):
        alice = opened.scenario.alice
        stack.github.workflows = {"deploy.yml"}  # no rollback.yml in the repository: 404

        card = await decide_card(stack, opened)
        await run_suggested(stack, opened, card, ROLLBACK, user=alice)

        [failed] = await action_runs(stack)
        assert failed.status == "failed" and failed.verify_passed is None
        assert "GitHub API returned 404" in (failed.result or "")
        assert failed.response["steps"][0]["ok"] is False
        result = latest(stack, opened.channel, ":x:")
        assert f"*{failed.title}* failed in" in result["text"]
        assert "github.workflow_dispatch failed: GitHub API returned 404" in result["text"]
        assert "_Try:_ check the names in the playbook and the catalog" in result["text"]
        # The Slack step after the failed one did not run; nothing to verify; back to Decide.
        assert "Rolling back checkout" not in texts(stack, opened.channel).split("failed in")[0]
        assert "Back to *Observe*" not in texts(stack, opened.channel)
        assert (await incident_row(stack)).stage == "decide"
        [entry] = await timeline(stack, "action")
        assert entry.data["ok"] is False and "check the names" in entry.data["hint"]

        stack.github.workflows = None  # fixed: the same card runs it again
        card = latest(stack, opened.channel, "INC-1 Decide")
        await run_suggested(stack, opened, card, ROLLBACK, user=alice)
        assert len(stack.github.dispatches) == 1
        assert [r.status for r in await action_runs(stack)] == ["failed", "succeeded"]


async def test_refusals_lose_nothing(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack) as (stack, opened):
        alice = opened.scenario.alice
        card = await decide_card(stack, opened)
        await click_run(stack, opened, card, ROLLBACK, user=alice)
        modal = stack.slack.views[-1]

        # A modal whose action is unknown (a stale or forged key): an error, nothing queued.
        forged = modal | {"private_metadata": json.dumps({"k": "1:rollback-github-actions:nope"})}
        answer: dict[str, Any] = (await stack.submit(forged, {}, user=alice)).json()
        assert answer == {
            "response_action": "errors",
            "errors": {"reason": "This action expired; pick it again."},
        }

        # PagerDuty resolves the incident while the modal is open: the run is refused.
        resolved = stack.pagerduty.webhook_event(
            "incident.resolved", opened.scenario.pd_incident_id
        )
        stack.pagerduty.resolve_alerts(opened.scenario.pd_incident_id)
        assert (await stack.pagerduty_webhook(resolved)).status_code == 202
        await stack.settle()
        answer = (await stack.submit(modal, {}, user=alice)).json()
        assert answer["response_action"] == "errors"
        assert answer["errors"]["reason"] == "INC-1 is resolved; nothing to run."
        await stack.settle()
        assert stack.github.dispatches == []
        [run] = await action_runs(stack)
        assert run.status == "awaiting_approval" and run.approved_by == []
        assert await timeline(stack, "decision") == []


async def test_declared_incident_without_pagerduty(make_stack: MakeStack) -> None:
    with WebhookReceiver() as receiver:
        config = config_with(webhooks={"restart": f"{receiver.url}/restart"})
        async with make_stack(config) as stack:
            alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
            await stack.command("declare", user=alice, channel="C0GENERAL")
            await stack.settle()
            declare = stack.slack.views[-1]
            assert declare["callback_id"] == "declare"
            values = {"title": "Checkout is slow", "severity": "SEV2", "service": "checkout"}
            await stack.submit(declare, values, user=alice)
            await stack.settle()
            opened = opened_channel(stack)
            channel = opened.channel

            # A remediation runs; with no PagerDuty alerts to watch, nothing is polled.
            pushed = await pick_other(stack, opened, "restart-service", user=alice)
            await stack.submit(pushed["view"], {"reason": "pods look stuck"}, user=alice)
            await stack.settle()  # would time out if a 10-minute verify were polling
            assert len(receiver.requests) == 1
            said = latest(stack, channel, ":arrows_counterclockwise: Back to *Observe*")
            assert "has no PagerDuty alerts to watch" in said["text"]
            [run] = await action_runs(stack)
            assert run.status == "succeeded" and run.verify_passed is None

            # A PagerDuty step cannot run: it says so and what to do instead.
            pushed = await pick_other(stack, opened, "page-owning-team", user=alice)
            await stack.submit(pushed["view"], {}, user=alice)
            await stack.settle()
            result = latest(stack, channel, ":x:")
            assert "pagerduty.escalate failed: INC-1 has no PagerDuty incident" in result["text"]
            assert "_Try:_ page the team by hand" in result["text"]


async def test_argocd_rollback_refused_while_auto_sync_then_runs(make_stack: MakeStack) -> None:
    config = {
        "services": [
            {
                "name": "checkout",
                "pagerduty_service_ids": ["PCHKOUT"],
                "argocd_app": "checkout-prod",
            }
        ]
    }
    async with make_stack(config, env=SHORT_WINDOW) as stack:
        alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
        first_alert = utcnow() - timedelta(minutes=3)
        argo = stack.argocd
        argo.add_application(
            "checkout-prod", repo_url="https://github.com/acme/deploy", auto_sync=True
        )
        good = argo.add_history(
            "checkout-prod", revision="a" * 40, deployed_at=first_alert - timedelta(hours=5)
        )
        argo.add_history(
            "checkout-prod",
            revision="b" * 40,
            deployed_at=first_alert - timedelta(minutes=10),
            health="Degraded",
        )
        stack.pagerduty.add_incident(
            "PARGO01",
            number=99,
            title="Checkout errors",
            service_id="PCHKOUT",
            service_name="checkout",
            created_at=first_alert,
            priority="P2",
        )
        stack.pagerduty.add_alert("PARGO01", summary="checkout 5xx", created_at=first_alert)
        trigger = stack.pagerduty.webhook_event("incident.triggered", "PARGO01")
        assert (await stack.pagerduty_webhook(trigger)).status_code == 202
        await stack.settle()
        opened = opened_channel(stack)
        channel = opened.channel
        stack.slack.join(channel, alice)  # a responder: in the channel

        await stack.click("stage_decide", "1", user=alice, channel=channel)
        await stack.settle()
        card = latest(stack, channel, "INC-1 Decide")
        await click_run(stack, opened, card, "rollback-argocd", user=alice)
        modal = stack.slack.views[-1]
        assert f"history_id=`{good}`" in str(modal["blocks"])
        await stack.submit(modal, {}, user=alice)
        await stack.settle()
        result = latest(stack, channel, ":x:")
        assert "has automated sync enabled, which would undo a rollback" in result["text"]
        assert (
            "_Try:_ disable auto-sync (argocd app set checkout-prod --sync-policy none)"
            in (result["text"])
        )
        assert argo.application("checkout-prod")["status"]["history"][-1]["revision"] == "b" * 40

        argo.set_auto_sync("checkout-prod", False)  # the responder follows the hint
        card = latest(stack, channel, "INC-1 Decide")
        await run_suggested(stack, opened, card, "rollback-argocd", user=alice)
        assert argo.application("checkout-prod")["status"]["history"][-1]["revision"] == "a" * 40
        assert [r.status for r in await action_runs(stack)] == ["failed", "succeeded"]
