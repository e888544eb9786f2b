"""Driving the running app the way Slack does: slash commands, Events API callbacks, shortcuts."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sqlalchemy import select, update

from bot.devstack import DevStack
from bot.domain.model import TimelineEntry, utcnow
from bot.storage import repo
from bot.storage.tables import Job

ALICE, BOB, CAROL = "U0ALICE01", "U0BOB0001", "U0CAROL01"
ANNOUNCE = "incidents"
GENERAL = "general"


def config(**extra: Any) -> dict[str, Any]:
    return {
        "services": [{"name": "checkout", "slack_channel": None}],
        "announcements_channel": f"#{ANNOUNCE}",
    } | extra


def add_people(stack: DevStack) -> None:
    stack.slack.add_user("alice@example.com", ALICE, name="alice")
    stack.slack.add_user("bob@example.com", BOB, name="bob")
    stack.slack.add_user("carol@example.com", CAROL, name="carol")
    stack.slack.add_channel(ANNOUNCE)
    stack.slack.add_channel(GENERAL)


async def declare(stack: DevStack, title: str = "Checkout down", *, user: str = ALICE) -> str:
    """Declare an incident with a title and wait for its channel; returns the channel id."""
    before = {c["id"] for c in stack.slack.channels}
    response = await stack.command(f"declare {title}", user=user, channel=general_id(stack))
    assert response.status_code == 200
    await stack.settle()
    created = [c for c in stack.slack.channels if c["id"] not in before]
    assert len(created) == 1, created
    return str(created[0]["id"])


def general_id(stack: DevStack) -> str:
    chan = stack.slack.channel_by_name(GENERAL)
    assert chan is not None
    return str(chan["id"])


def announce_id(stack: DevStack) -> str:
    chan = stack.slack.channel_by_name(ANNOUNCE)
    assert chan is not None
    return str(chan["id"])


def responses(stack: DevStack) -> list[str]:
    """Texts sent back through response_url (ephemeral answers to commands), in order."""
    return [str(c.params.get("text") or "") for c in stack.slack.calls("response_url")]


def texts(stack: DevStack, channel: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel)]


async def slack_event(
    stack: DevStack,
    event: dict[str, Any],
    *,
    event_id: str,
    retry_num: int | None = None,
) -> httpx.Response:
    """An Events API callback, signed; a retry carries X-Slack-Retry-Num like Slack's."""
    envelope = {
        "token": "legacy",
        "team_id": "T0LOCAL01",
        "api_app_id": "A0LOCAL01",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": "T0LOCAL01",
                "user_id": "U0BOT00001",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }
    headers = {}
    if retry_num is not None:
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
    return await stack.slack_post(
        json.dumps(envelope).encode(), content_type="application/json", headers=headers
    )


def reaction(
    kind: str, *, user: str, channel: str, ts: str, name: str = "pushpin"
) -> dict[str, Any]:
    return {
        "type": kind,
        "user": user,
        "reaction": name,
        "item_user": ALICE,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }


async def message_shortcut(
    stack: DevStack, *, user: str, channel: str, ts: str, author: str, text: str
) -> httpx.Response:
    return await stack.interact(
        {
            "type": "message_action",
            "callback_id": "add_to_timeline",
            "user": {"id": user, "username": user.lower(), "team_id": "T0LOCAL01"},
            "channel": {"id": channel, "name": "somewhere"},
            "message_ts": ts,
            "message": {"type": "message", "user": author, "ts": ts, "text": text},
            "response_url": stack.slack.response_url(),
        }
    )


async def timeline(stack: DevStack, number: int = 1) -> list[TimelineEntry]:
    async with stack.runtime.db.session() as session:
        return await repo.timeline(session, number)


async def jobs_with_prefix(stack: DevStack, prefix: str) -> list[Job]:
    async with stack.runtime.db.session() as session:
        query = select(Job).where(Job.dedup_key.like(f"{prefix}%")).order_by(Job.id)
        return list((await session.scalars(query)).all())


async def fast_forward(stack: DevStack, prefix: str) -> int:
    """Make pending jobs under this dedup prefix due now: time travel without sleeping."""
    async with stack.runtime.db.transaction() as session:
        result = await session.execute(
            update(Job)
            .where(Job.dedup_key.like(f"{prefix}%"), Job.status == "pending")
            .values(due_at=utcnow())
        )
    stack.runtime.worker.wake()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def click_on(
    stack: DevStack, message: dict[str, Any], action_id: str, *, user: str
) -> httpx.Response:
    """Click a button of a posted message; the payload carries the message as Slack's does."""
    elements = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    button = next(e for e in elements if e["action_id"] == action_id)
    return await stack.interact(
        {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0LOCAL01"},
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
            },
            "channel": {"id": message["channel"], "name": "incident"},
            "message": {"ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
            "response_url": stack.slack.response_url(),
            "actions": [button | {"block_id": "b", "action_ts": f"{time.time():.6f}"}],
        }
    )
