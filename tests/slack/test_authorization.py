"""Buttons and modals change an incident only for its responders, and a click only from that
incident's own channel: a signed click whose value names another incident is refused, runs
nothing and leaves the timelines as they were."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from bot.devstack import DevStack
from bot.domain.model import Stage
from bot.storage import repo
from bot.storage.tables import ActionRunRow
from tests.helpers.decide_act import ROLLBACK, incident_stack
from tests.helpers.slack import ALICE, BOB, CAROL, declare, timeline
from tests.helpers.stack import MakeStack

NOT_RESPONDER = "Only responders of INC-2 may do that"


async def two_incidents(stack: DevStack) -> tuple[str, str]:
    """INC-1 declared by ALICE, INC-2 declared by BOB: each is in their own channel only."""
    return await declare(stack, "Checkout down", user=ALICE), await declare(
        stack, "Payments slow", user=BOB
    )


async def stage(stack: DevStack, number: int) -> str:
    async with stack.runtime.db.session() as session:
        row = await repo.get_incident(session, number)
    assert row is not None
    return row.stage


async def action_runs(stack: DevStack) -> int:
    async with stack.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ActionRunRow)) or 0)


def told(stack: DevStack, user: str) -> list[str]:
    return [e["text"] for e in stack.slack.ephemerals() if e.get("user") == user]


async def entries(stack: DevStack) -> tuple[int, int]:
    return len(await timeline(stack, 1)), len(await timeline(stack, 2))


async def test_a_forged_decide_run_for_another_incident_runs_nothing(stack: DevStack) -> None:
    first, _second = await two_incidents(stack)
    before = await entries(stack)
    value = json.dumps({"i": 2, "p": "restart-service"})
    for user in (ALICE, CAROL):  # a responder of INC-1 only; someone in neither channel
        response = await stack.click("decide_run", value, user=user, channel=first)
        assert response.status_code == 200
        await stack.settle()
        assert "That button is for INC-2" in told(stack, user)[-1]
    assert stack.slack.calls("views.open") == []
    assert await action_runs(stack) == 0
    assert await entries(stack) == before


async def test_forged_state_changing_clicks_are_refused(stack: DevStack) -> None:
    first, second = await two_incidents(stack)
    before = await entries(stack)
    clicks: list[tuple[str, str]] = [
        ("stage_decide", "2"),
        ("incident_ack", "INC-2"),
        ("verdict_caused", json.dumps({"i": 2, "c": "github:x"})),
        ("reminder_snooze_15", json.dumps({"incident": 2, "kind": "status", "seq": 1})),
        ("act_cancel", "2:restart-service:1.2"),
        ("decide_other", "2"),
        ("incident_resolve", "2"),
    ]
    for action_id, value in clicks:
        await stack.click(action_id, value, user=ALICE, channel=first, message_ts="1.2")
        await stack.settle()
        assert "That button is for INC-2" in told(stack, ALICE)[-1], action_id
    # In INC-2's own channel, by someone who is not one of its responders.
    await stack.click("stage_decide", "2", user=CAROL, channel=second)
    await stack.settle()
    assert NOT_RESPONDER in told(stack, CAROL)[-1]
    assert await stage(stack, 2) == Stage.OBSERVE.value
    assert stack.slack.calls("views.open") == []
    assert await entries(stack) == before


async def test_who_counts_as_a_responder(stack: DevStack) -> None:
    _first, second = await two_incidents(stack)
    # BOB declared INC-2 (and was invited to its channel): he may.
    await stack.click("stage_orient", "2", user=BOB, channel=second)
    await stack.settle()
    assert await stage(stack, 2) == Stage.ORIENT.value
    # CAROL is nothing to INC-2 until she joins its channel.
    await stack.click("stage_decide", "2", user=CAROL, channel=second)
    await stack.settle()
    assert await stage(stack, 2) == Stage.ORIENT.value
    stack.slack.join(second, CAROL)
    await stack.click("stage_decide", "2", user=CAROL, channel=second)
    await stack.settle()
    assert await stage(stack, 2) == Stage.DECIDE.value
    # ALICE acted on INC-2's timeline (a note) without joining: that counts too.
    await stack.command("note looking at payments", user=ALICE, channel=second)
    await stack.settle()
    await stack.click("stage_act", "2", user=ALICE, channel=second)
    await stack.settle()
    assert await stage(stack, 2) == Stage.ACT.value


async def test_a_pinned_messages_author_is_not_a_responder(stack: DevStack) -> None:
    _first, second = await two_incidents(stack)
    ts = stack.slack.user_says(second, CAROL, "it is the database")
    await stack.interact(
        {
            "type": "message_action",
            "callback_id": "add_to_timeline",
            "user": {"id": BOB},
            "channel": {"id": second},
            "message_ts": ts,
            "message": {"type": "message", "user": CAROL, "ts": ts, "text": "it is the database"},
            "response_url": stack.slack.response_url(),
        }
    )
    await stack.settle()
    assert any(e.actor == CAROL for e in await timeline(stack, 2))
    await stack.click("stage_decide", "2", user=CAROL, channel=second)
    await stack.settle()
    assert await stage(stack, 2) == Stage.OBSERVE.value
    assert NOT_RESPONDER in told(stack, CAROL)[-1]


def modal(callback_id: str, private_metadata: str, values: dict[str, Any]) -> dict[str, Any]:
    state = {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in values.items()}
    return {
        "id": f"V{time.monotonic_ns()}",
        "type": "modal",
        "hash": "h",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "state": {"values": state},
    }


async def submit(stack: DevStack, view: dict[str, Any], user: str) -> Any:
    user_ref = {"id": user, "username": user.lower(), "team_id": "T0LOCAL01"}
    response = await stack.interact({"type": "view_submission", "user": user_ref, "view": view})
    assert response.status_code == 200
    await stack.settle()
    return response


async def test_forged_modals_change_nothing(stack: DevStack) -> None:
    await two_incidents(stack)
    before = await entries(stack)
    await submit(stack, modal("resolve", "2", {"summary": "not mine"}), CAROL)
    await submit(stack, modal("decide_other", "2", {"decision": "drop the table"}), CAROL)
    await submit(stack, modal("postmortem_edit", "2", {"summary": "rewritten"}), CAROL)
    confirm = modal("act_confirm", json.dumps({"k": "2:restart-service:direct"}), {})
    assert "expired" in (await submit(stack, confirm, CAROL)).text  # no such run: nothing
    async with stack.runtime.db.session() as session:
        row = await repo.get_incident(session, 2)
    assert row is not None and row.status != "resolved" and row.summary is None
    assert await entries(stack) == before
    assert sum(NOT_RESPONDER in t for t in told(stack, CAROL)) == 3
    # The same submission from a responder does what it says.
    await submit(stack, modal("resolve", "2", {"summary": "fixed"}), BOB)
    async with stack.runtime.db.session() as session:
        row = await repo.get_incident(session, 2)
    assert row is not None and row.status == "resolved"


async def test_a_forged_confirmation_approves_nothing(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack) as (stack, opened):
        value = json.dumps({"i": 1, "p": ROLLBACK})
        alice = opened.scenario.alice
        await stack.click("decide_run", value, user=alice, channel=opened.channel, message_ts="5.6")
        await stack.settle()
        [shown] = stack.slack.calls("views.open")
        view = shown.params["view"]
        key = json.loads(view["private_metadata"])["k"]
        response = await submit(stack, view | {"id": "V1", "hash": "h"}, CAROL)
        assert response.json()["response_action"] == "errors"
        assert "Only responders of INC-1" in response.json()["errors"]["reason"]
        async with stack.runtime.db.session() as session:
            run = await repo.action_run(session, key)
        assert run is not None and run.status == "awaiting_approval" and run.approved_by == []
