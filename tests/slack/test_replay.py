"""A signed Slack request posted again (same body, timestamp and signature) within the 5-minute
window is answered 200 and does nothing; Slack's own retries, signed anew, are still recognised
by Slack's ids and do nothing twice either."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.devstack import SIGNING_SECRET, DevStack, slack_signature
from bot.storage.tables import Incident
from tests.helpers.slack import ALICE, general_id, responses

FORM = "application/x-www-form-urlencoded"


def command_body(stack: DevStack, text: str, channel: str) -> bytes:
    form = {
        "command": stack.runtime.settings.slash_command,
        "text": text,
        "user_id": ALICE,
        "channel_id": channel,
        "team_id": "T0LOCAL01",
        "response_url": stack.slack.response_url(),
        "trigger_id": f"trigger.{time.monotonic_ns()}",
    }
    return urllib.parse.urlencode(form).encode()


def headers(body: bytes, timestamp: int, **extra: str) -> dict[str, str]:
    ts = str(timestamp)
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body),
    } | extra


async def twice(stack: DevStack, body: bytes, **extra: str) -> list[httpx.Response]:
    """The same signed request, byte for byte, posted twice, the second after the first's work."""
    assert stack.http is not None
    sent = headers(body, int(time.time()), **extra)
    answers = []
    for _ in range(2):
        answers.append(await stack.http.post("/slack/events", content=body, headers=sent))
        await stack.settle()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    return answers


async def incident_count(stack: DevStack) -> int:
    async with stack.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Incident)) or 0)


async def test_a_replayed_declare_opens_one_incident(stack: DevStack) -> None:
    body = command_body(stack, "declare Checkout down", general_id(stack))
    await twice(stack, body)  # stored under its trigger_id: the replay finds it taken
    assert await incident_count(stack) == 1
    assert len(stack.slack.calls("conversations.create")) == 1


async def test_a_replayed_answer_or_modal_happens_once(stack: DevStack) -> None:
    await twice(stack, command_body(stack, "help", general_id(stack)))
    assert len(responses(stack)) == 1
    await twice(stack, command_body(stack, "declare", general_id(stack)))  # opens the modal
    assert len(stack.slack.calls("views.open")) == 1


async def test_a_replayed_shortcut_opens_one_picker(stack: DevStack) -> None:
    await twice(stack, command_body(stack, "declare Checkout down", general_id(stack)))
    payload: dict[str, Any] = {
        "type": "message_action",
        "callback_id": "add_to_timeline",
        "trigger_id": f"trigger.{time.monotonic_ns()}",
        "user": {"id": ALICE},
        "channel": {"id": general_id(stack)},
        "message_ts": "1700000000.000100",
        "message": {"type": "message", "user": ALICE, "ts": "1700000000.000100", "text": "x"},
        "response_url": stack.slack.response_url(),
    }
    await twice(stack, urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
    assert len(stack.slack.calls("views.open")) == 1


async def test_slack_retries_signed_anew_still_act_once(stack: DevStack) -> None:
    assert stack.http is not None
    body = command_body(stack, "declare Checkout down", general_id(stack))
    now = int(time.time())
    first = await stack.http.post("/slack/events", content=body, headers=headers(body, now - 2))
    retry = headers(body, now, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    again = await stack.http.post("/slack/events", content=body, headers=retry)
    assert (first.status_code, again.status_code) == (200, 200)
    await stack.settle()
    assert await incident_count(stack) == 1
