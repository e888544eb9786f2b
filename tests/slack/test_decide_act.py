"""Decide and Act through the real app (DevStack): signed Slack requests in, fakes for Slack,
PagerDuty, GitHub and a signed-webhook receiver out."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from bot.devstack import DevStack
from bot.domain.ranking import evidence_sentence
from bot.service import decide
from bot.storage import repo
from integrations.webhook import SIGNATURE_HEADER, verify
from tests.helpers.decide_act import (
    ACTION_SECRET,
    FAST_VERIFY,
    ROLLBACK,
    SHORT_WINDOW,
    Opened,
    WebhookReceiver,
    action_runs,
    click_button,
    click_run,
    config_with,
    decide_card,
    incident_row,
    incident_stack,
    latest,
    other_modal,
    pick_other,
    playbooks_copy,
    set_roles,
    stage_spans,
    suggestions,
    texts,
    timeline,
)
from tests.helpers.postmortem import postmortem_files
from tests.helpers.stack import MakeStack

ALL_PLAYBOOKS = {
    "disable-feature-flag",
    "failover-region",
    "gather-recent-logs",
    "halt-canary",
    "open-dashboard",
    "page-owning-team",
    "restart-service",
    "revert-config-change",
    "rollback-argocd",
    "rollback-github-actions",
    "scale-up",
    "status-page-update",
}


async def test_pagerduty_trigger_to_rollback_to_alerts_cleared_to_resolve(
    make_stack: MakeStack,
) -> None:
    async with incident_stack(make_stack, env=FAST_VERIFY) as (stack, opened):
        scenario, alice = opened.scenario, opened.scenario.alice

        # Decide: the GitHub rollback comes first, with the suspect's reason, risk and roles.
        card = await decide_card(stack, opened)
        ranked = suggestions(card)
        assert 1 <= len(ranked) <= 3
        top = ranked[0]
        assert top["playbook"] == ROLLBACK
        assert top["button"]["text"]["text"] == f"Roll back checkout to {scenario.rollback_sha[:7]}"
        ctx = await decide.context_for(stack.runtime, 1)
        assert ctx is not None and ctx.suspect is not None
        assert ctx.suspect.change.sha == scenario.suspect_sha
        assert evidence_sentence(ctx.suspect) in top["text"]
        assert f"restores {scenario.rollback_sha[:7]}" in top["text"]
        assert "risk *medium*" in top["text"]
        assert "may run: commander, responder" in top["text"]

        # The confirmation modal shows exactly what will run, with the SHA to restore.
        await click_run(stack, opened, card, ROLLBACK, user=alice)
        modal = stack.slack.views[-1]
        assert modal["callback_id"] == "act_confirm"
        steps = modal["blocks"][1]["text"]["text"]
        inputs = json.dumps(
            {"sha": scenario.rollback_sha, "environment": "production", "incident": "INC-1"}
        )
        assert steps == (
            "*What will run:*\n"
            "• `github.workflow_dispatch` repo=`acme/checkout`, workflow=`rollback.yml`, "
            f"ref=`main`, inputs=`{inputs}`\n"
            "• `slack.message` text=`Rolling back checkout in production to "
            f"{scenario.rollback_sha[:7]} (rollback workflow rollback.yml in acme/checkout).`"
        )
        assert scenario.suspect_sha not in str(modal["blocks"])

        # Run: one dispatch with the resolved inputs, progress and result in the channel.
        submitted = await stack.submit(modal, {"reason": "deploy lines up"}, user=alice)
        assert submitted.status_code == 200
        await stack.settle()
        assert [
            (d["repo"], d["workflow"], d["ref"], d["inputs"]) for d in stack.github.dispatches
        ] == [
            (
                "acme/checkout",
                "rollback.yml",
                "main",
                {"sha": scenario.rollback_sha, "environment": "production", "incident": "INC-1"},
            )
        ]
        channel_text = texts(stack, opened.channel)
        assert "Running *Roll back checkout" in channel_text
        assert "succeeded in" in channel_text

        # Observe again: the rollback cleared the alerts; the message offers to resolve.
        cleared = latest(stack, opened.channel, ":large_green_circle: Alerts cleared")
        assert f"after *Roll back checkout to {scenario.rollback_sha[:7]}*" in cleared["text"]
        [resolve_button] = [
            e for b in cleared["blocks"] if b["type"] == "actions" for e in b["elements"]
        ]
        assert resolve_button["action_id"] == "incident_resolve"
        [run] = await action_runs(stack)
        assert run.status == "succeeded" and run.verify_passed is True
        assert run.approved_by == [alice] and run.params["ref"] == scenario.rollback_sha
        assert (await incident_row(stack)).mitigated_at is not None
        [decision] = await timeline(stack, "decision")
        assert decision.actor == alice and decision.data["reason"] == "deploy lines up"
        assert decision.data["evidence"][0] == evidence_sentence(ctx.suspect)

        # Resolve from that button: the resolve modal, then the postmortem.
        await stack.click(
            "incident_resolve", resolve_button["value"], user=alice, channel=opened.channel
        )
        await stack.settle()
        resolve_modal = stack.slack.views[-1]
        assert resolve_modal["callback_id"] == "resolve"
        await stack.submit(
            resolve_modal,
            {"summary": "Rolled back v1.43.0", "root_cause": "retry policy"},
            user=alice,
        )
        await stack.settle()
        incident = await incident_row(stack)
        assert incident.status == "resolved"
        postmortem = postmortem_files(stack)[-1]
        assert postmortem["title"] == "INC-1 postmortem"
        content = postmortem["content"].decode()
        assert "Decision log" in content
        assert "deploy lines up" in content  # the decision's reason
        assert f"Roll back checkout to {scenario.rollback_sha[:7]}" in content  # the action
        kinds = [r.kind for r in await timeline(stack)]
        for kind in ("decision", "action", "verify", "resolved"):
            assert kind in kinds, kinds
        spans = await stage_spans(stack)
        assert (1, "decide") in spans and (1, "act") in spans and (2, "observe") in spans


async def test_role_check_and_two_person_approval(make_stack: MakeStack) -> None:
    with WebhookReceiver() as receiver:
        config = config_with(webhooks={"failover": f"{receiver.url}/failover"})
        running = incident_stack(make_stack, config=config, env=SHORT_WINDOW)
        async with running as (stack, opened):
            alice, bob = opened.scenario.alice, opened.scenario.bob
            await set_roles(stack, 1, {"commander": alice})

            # Something else… lists every playbook; failover is picked and the confirm modal pushed.
            modal = await other_modal(stack, opened, user=bob)
            options = {o["value"] for o in modal["blocks"][0]["element"]["options"]}
            assert options == ALL_PLAYBOOKS
            pushed = (await stack.submit(modal, {"playbook": "failover-region"}, user=bob)).json()
            assert pushed["response_action"] == "push"
            assert pushed["view"]["callback_id"] == "act_confirm"
            assert "needs 2 approvals" in str(pushed["view"]["blocks"])

            # Bob is not the commander: refused in the modal and by an ephemeral message.
            refused = await stack.submit(pushed["view"], {"reason": "region down"}, user=bob)
            answer = refused.json()
            assert answer["response_action"] == "errors"
            assert "Only the commander of INC-1 may run" in answer["errors"]["reason"]
            await stack.settle()
            [ephemeral] = stack.slack.ephemerals(opened.channel)
            assert ephemeral["user"] == bob
            assert (
                "Only the commander of INC-1 may run Fail checkout over to standby"
                in ephemeral["text"]
            )
            assert [r.approved_by for r in await action_runs(stack)] == [[]]

            # Alice, the commander, confirms: it needs a second approver.
            pushed = await pick_other(stack, opened, "failover-region", user=alice)
            confirmed = await stack.submit(pushed["view"], {"reason": "us-east-1 down"}, user=alice)
            assert confirmed.status_code == 200 and not confirmed.content
            await stack.settle()
            ask = latest(stack, opened.channel, ":lock:")
            assert "needs a second approver" in ask["text"]
            approve = ask["blocks"][1]["elements"][0]
            assert approve["action_id"] == "act_approve"
            assert receiver.requests == []

            # The same person cannot be the second approver.
            await click_button(stack, opened, ask, approve, user=alice)
            assert (
                "a second person must approve it"
                in stack.slack.ephemerals(opened.channel)[-1]["text"]
            )
            assert receiver.requests == []

            # Bob approves: it runs once.
            for _ in range(2):  # a double click on Approve changes nothing
                await click_button(stack, opened, ask, approve, user=bob)
            [hook] = receiver.requests
            assert hook["path"] == "/failover"
            assert verify(
                ACTION_SECRET,
                hook["headers"][SIGNATURE_HEADER.lower()],
                hook["body"],
                now=int(time.time()),
            )
            assert json.loads(hook["body"]) == {
                "incident": "INC-1",
                "service": "checkout",
                "target": "standby",
                "reason": "INC-1: Checkout 5xx errors above SLO",
            }
            notes = stack.pagerduty.notes(opened.scenario.pd_incident_id)
            assert [n["content"] for n in notes] == [
                "Regional failover of checkout started from Slack for INC-1."
            ]
            assert "Failing checkout over to the standby region" in texts(stack, opened.channel)
            runs = await action_runs(stack)
            [ran] = [r for r in runs if r.status == "succeeded"]
            assert ran.approved_by == [alice, bob] and ran.playbook_id == "failover-region"
            assert [s["action"] for s in ran.response["steps"]] == [
                "pagerduty.note",
                "http.webhook",
                "slack.message",
            ]
            updated = next(m for m in stack.slack.messages(opened.channel) if m["ts"] == ask["ts"])
            assert "approved by" in updated["text"] and "act_approve" not in str(updated["blocks"])
            [decision] = await timeline(stack, "decision")
            assert decision.actor == alice and decision.data["reason"] == "us-east-1 down"


async def test_double_click_and_retried_submit_run_once(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack, env=FAST_VERIFY) as (stack, opened):
        alice = opened.scenario.alice
        card = await decide_card(stack, opened)
        await click_run(stack, opened, card, ROLLBACK, user=alice)
        await click_run(stack, opened, card, ROLLBACK, user=alice)
        first, second = stack.slack.views[-2:]
        assert first["callback_id"] == second["callback_id"] == "act_confirm"
        assert first["private_metadata"] == second["private_metadata"]  # one idempotency key
        # Both modals submitted at the same moment, then Slack retrying one of them.
        answers = await asyncio.gather(
            stack.submit(first, {"reason": "go"}, user=alice),
            stack.submit(second, {"reason": "go"}, user=alice),
        )
        answers.append(await stack.submit(second, {"reason": "go"}, user=alice))
        assert [a.status_code for a in answers] == [200, 200, 200]
        await stack.settle()
        assert len(stack.github.dispatches) == 1
        [run] = await action_runs(stack)
        assert run.status == "succeeded"
        assert len(await timeline(stack, "decision")) == 1
        assert len(await timeline(stack, "action")) == 1


async def test_global_dry_run_shows_what_would_run(make_stack: MakeStack) -> None:
    env = FAST_VERIFY | {"OODA_DRY_RUN": "true"}
    async with incident_stack(make_stack, env=env) as (stack, opened):
        await _dry_run_checks(stack, opened)


async def test_playbook_dry_run_shows_what_would_run(tmp_path: Path, make_stack: MakeStack) -> None:
    directory = playbooks_copy(tmp_path, rollback_github_actions={"dry_run": True})
    config = config_with(playbooks_dir=directory)
    running = incident_stack(make_stack, config=config, env=FAST_VERIFY)
    async with running as (stack, opened):
        await _dry_run_checks(stack, opened)


async def _dry_run_checks(stack: DevStack, opened: Opened) -> None:
    alice = opened.scenario.alice
    card = await decide_card(stack, opened)
    await click_run(stack, opened, card, ROLLBACK, user=alice)
    modal = stack.slack.views[-1]
    assert "*dry run*: nothing will change" in modal["blocks"][0]["text"]["text"]
    await stack.submit(modal, {"reason": "rehearsal"}, user=alice)
    await stack.settle()
    assert stack.github.dispatches == []
    channel_text = texts(stack, opened.channel)
    assert "(dry run) succeeded" in channel_text
    assert (
        "would run github.workflow_dispatch(repo=acme/checkout, workflow=rollback.yml"
        in channel_text
    )
    assert "would run slack.message(" in channel_text
    messages = stack.slack.messages(opened.channel)
    assert not [m for m in messages if m["text"].startswith("Rolling back")]  # step did not post
    assert "Alerts cleared" not in channel_text and "Still firing" not in channel_text
    [run] = await action_runs(stack)
    assert run.status == "dry_run" and run.dry_run is True and run.verify_passed is None
    assert (await incident_row(stack)).stage == "decide"  # nothing changed: decide again
    assert [d.text for d in await timeline(stack, "decision")] == [f"Dry run of {run.title}"]


async def test_something_else_runs_a_picked_playbook(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack, env=FAST_VERIFY) as (stack, opened):
        bob = opened.scenario.bob
        pushed = await pick_other(stack, opened, "open-dashboard", user=bob)
        assert pushed["response_action"] == "push"
        assert "https://grafana.example.com/d/checkout" in str(pushed["view"]["blocks"])
        await stack.submit(pushed["view"], {"reason": "look at the graphs"}, user=bob)
        await stack.settle()
        assert "Dashboard for checkout: https://grafana.example.com/d/checkout" in texts(
            stack, opened.channel
        )
        [run] = await action_runs(stack)
        assert (run.playbook_id, run.status, run.approved_by) == (
            "open-dashboard",
            "succeeded",
            [bob],
        )


async def test_something_else_picking_an_inapplicable_playbook_says_why(
    make_stack: MakeStack,
) -> None:
    async with incident_stack(make_stack) as (stack, opened):
        answer = await pick_other(stack, opened, "failover-region", user=opened.scenario.bob)
        assert answer["response_action"] == "errors"
        assert "checkout has no 'failover' webhook" in answer["errors"]["playbook"]
        assert await action_runs(stack) == []


async def test_something_else_records_your_own_decision(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack) as (stack, opened):
        bob = opened.scenario.bob
        modal = await other_modal(stack, opened, user=bob)
        empty = (await stack.submit(modal, {}, user=bob)).json()
        assert empty == {
            "response_action": "errors",
            "errors": {"decision": "Pick a playbook or write your decision."},
        }
        own = "Freeze deploys <!channel> and wait for payments"
        response = await stack.submit(
            modal, {"decision": own, "reason": "payments is degraded too"}, user=bob
        )
        assert response.status_code == 200
        await stack.settle()
        [entry] = await timeline(stack, "decision")
        assert (entry.text, entry.actor, entry.data["reason"]) == (
            own,
            bob,
            "payments is degraded too",
        )
        async with stack.runtime.db.session() as session:
            [logged] = await repo.decisions(session, 1)
        assert (logged.by, logged.text, logged.reason) == (bob, own, "payments is degraded too")
        said = latest(stack, opened.channel, ":brain:")
        assert "&lt;!channel&gt;" in said["text"] and "<!channel>" not in said["text"]
        assert await action_runs(stack) == []


async def test_pending_second_approval_can_be_cancelled(make_stack: MakeStack) -> None:
    with WebhookReceiver() as receiver:
        config = config_with(webhooks={"failover": f"{receiver.url}/failover"})
        async with incident_stack(make_stack, config=config) as (stack, opened):
            alice, bob = opened.scenario.alice, opened.scenario.bob
            await set_roles(stack, 1, {"commander": alice})
            pushed = await pick_other(stack, opened, "failover-region", user=alice)
            await stack.submit(pushed["view"], {"reason": "region down"}, user=alice)
            await stack.settle()
            ask = latest(stack, opened.channel, ":lock:")
            approve, cancel = ask["blocks"][1]["elements"]
            assert (approve["action_id"], cancel["action_id"]) == ("act_approve", "act_cancel")

            # Bob is neither involved nor the commander.
            await click_button(stack, opened, ask, cancel, user=bob)
            assert "may cancel it" in stack.slack.ephemerals(opened.channel)[-1]["text"]
            await click_button(stack, opened, ask, cancel, user=alice)
            updated = next(m for m in stack.slack.messages(opened.channel) if m["ts"] == ask["ts"])
            assert "cancelled by" in updated["text"] and "act_approve" not in str(updated["blocks"])
            await click_button(stack, opened, ask, approve, user=bob)  # a stale Approve button
            assert "was cancelled" in stack.slack.ephemerals(opened.channel)[-1]["text"]
            assert receiver.requests == []
            [run] = await action_runs(stack)
            assert run.status == "cancelled" and run.approved_by == [alice]
            [entry] = await timeline(stack, "action")
            assert entry.text.endswith(": cancelled") and entry.actor == alice
            again = await stack.submit(pushed["view"], {"reason": "region down"}, user=alice)
            assert again.json()["errors"]["reason"].startswith("This action was cancelled")
            assert receiver.requests == []
