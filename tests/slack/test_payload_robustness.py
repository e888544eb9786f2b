"""Signed Slack payloads with values the bot never wrote: odd private_metadata, state that is
not an object, 20-digit incident numbers. Answered without a 500 or an ERROR, changing nothing."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.slack.out.blocks import view_values
from bot.storage import repo
from tests.helpers.slack import ALICE, declare, timeline

HUGE = "9" * 20


def view(callback_id: str, meta: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    state = {k: {"a": {"type": "plain_text_input", "value": v}} for k, v in (values or {}).items()}
    return {
        "id": f"V{time.monotonic_ns()}",
        "type": "modal",
        "hash": "h",
        "callback_id": callback_id,
        "private_metadata": meta,
        "state": {"values": state},
    }


async def submit(stack: DevStack, body: dict[str, Any]) -> Any:
    response = await stack.interact(
        {"type": "view_submission", "user": {"id": ALICE}, "view": body}
    )
    assert response.status_code == 200, response.text
    return response


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_odd_private_metadata_and_numbers_change_nothing(
    stack: DevStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    channel = await declare(stack)
    before = len(await timeline(stack))
    for meta in ("not a number", HUGE, "-1", "1.5", "{", "[]", "0"):
        await submit(stack, view("resolve", meta, {"summary": "x"}))
        await submit(stack, view("postmortem_edit", meta, {"summary": "x"}))
        await submit(stack, view("decide_other", meta, {"decision": "x"}))
        await submit(stack, view("decide_other", meta, {"playbook": "restart-service"}))
        confirm = await submit(stack, view("act_confirm", meta, {"reason": "x"}))
        assert confirm.json()["response_action"] == "errors"
        await submit(stack, view("timeline_pick", meta, {"incident": HUGE}))
        await stack.click("incident_ack", meta, user=ALICE, channel=channel)
    for action_id in ("incident_ack", "stage_decide", "incident_resolve", "decide_other"):
        await stack.click(action_id, HUGE, user=ALICE, channel=channel)
        await stack.click(action_id, f"INC-{HUGE}", user=ALICE, channel=channel)
    for value in ({"i": HUGE, "p": "x"}, {"i": 2**70}, {"incident": True, "kind": "status"}):
        for action_id in ("decide_run", "verdict_caused", "reminder_snooze_15"):
            await stack.click(action_id, json.dumps(value), user=ALICE, channel=channel)
    await stack.settle()
    assert errors(caplog) == []
    assert len(await timeline(stack)) == before
    async with stack.runtime.db.session() as session:
        row = await repo.get_incident(session, 1)
    assert row is not None and row.status != "resolved"


def test_view_values_of_state_that_is_not_slacks() -> None:
    assert view_values({"state": None}) == {}
    assert view_values({"state": {"values": []}}) == {}
    assert view_values({"state": {"values": {"b": ["x"], "c": {"a": "x"}}}}) == {}
    odd = {"b": {"a": {"type": "static_select", "selected_option": "x"}}}
    assert view_values({"state": {"values": odd}}) == {"b": None}
    assert view_values("not a view") == {}


async def test_state_that_is_not_an_object_is_a_400(stack: DevStack) -> None:
    body = view("resolve", "1") | {"state": {"values": [1, 2]}}
    response = await stack.interact(
        {"type": "view_submission", "user": {"id": ALICE}, "view": body}
    )
    assert response.status_code == 400
    assert "state" in response.json()["error"]


async def test_ids_and_owners_longer_than_their_columns(stack: DevStack) -> None:
    channel = await declare(stack)
    long_id = "U" + "Z" * 60
    response = await stack.command("declare Checkout down", user=long_id, channel=channel)
    assert response.status_code == 400 and "user_id" in response.json()["error"]
    owner = "@" + "x" * 60
    await stack.command(f"followup fix the retries {owner}", user=ALICE, channel=channel)
    await stack.settle()
    async with stack.runtime.db.session() as session:
        [followup] = await repo.followups(session, 1)
    assert followup.owner is None and owner in followup.text
