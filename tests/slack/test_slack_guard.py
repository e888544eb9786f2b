"""/slack/events verifies before it parses: unsigned or stale → 401, oversize → 413 without
reading it all, unreadable → 400 with a reason, unknown → 200 ignored; nothing stored, never
a 500, and url_verification still answers its challenge."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select

from bot.compose import compose
from bot.devstack import SIGNING_SECRET, DevStack, slack_signature
from bot.storage.repo.interactions import REQUESTS
from bot.storage.tables import InboundEvent, Incident, Job
from bot.web.ingest import MAX_BODY
from tests.helpers.slack import ALICE, declare, general_id, timeline

FORM = "application/x-www-form-urlencoded"


def signed(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: str | None = None) -> dict:
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
    }


async def post(stack: DevStack, body: bytes, headers: dict) -> httpx.Response:
    assert stack.http is not None
    return await stack.http.post("/slack/events", content=body, headers=headers)


async def stored(stack: DevStack) -> tuple[int, int, int]:
    """Inbound events (but the fingerprints of accepted requests), incidents, jobs."""
    async with stack.runtime.db.session() as session:
        counts = [
            await session.scalar(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.source != REQUESTS)
            ),
            await session.scalar(select(func.count()).select_from(Incident)),
            await session.scalar(select(func.count()).select_from(Job)),
        ]
    return tuple(int(c or 0) for c in counts)  # type: ignore[return-value]


def declare_form(stack: DevStack, title: str = "Checkout down") -> bytes:
    return (
        f"command=%2Fincident&text=declare+{title.replace(' ', '+')}&user_id={ALICE}"
        f"&channel_id={general_id(stack)}&trigger_id=t.{time.monotonic_ns()}"
        f"&response_url={stack.slack.response_url()}"
    ).encode()


BROKEN = [
    (b"command=%2Fincident&text=\xff\xfe", FORM),
    (b'{"type": "event_callback", "x": "\xff"}', "application/json"),
    (b'{"type": "event_callback"', "application/json"),
    (b"payload=%7Bnot+json", FORM),
    (b"payload=%5B1%2C2%5D", FORM),  # JSON, but not an object
    (b"[1, 2]", "application/json"),
]


async def test_unsigned_requests_are_refused_before_parsing(stack: DevStack) -> None:
    before = await stored(stack)
    for body, content_type in BROKEN:
        for timestamp in ("", "soon", "1e9", str(int(time.time()))):
            headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
            headers["X-Slack-Signature"] = "v0=" + "0" * 64
            response = await post(stack, body, headers)
            assert response.status_code == 401, (body, timestamp, response.text)
            assert response.json()["ok"] is False and response.json()["error"]
        no_headers = await post(stack, body, {"Content-Type": content_type})
        assert no_headers.status_code == 401
    wrong = await post(stack, declare_form(stack), signed(declare_form(stack), secret="nope"))
    assert wrong.status_code == 401
    form = declare_form(stack)
    stale = await post(stack, form, signed(form, timestamp=str(int(time.time()) - 301)))
    assert stale.status_code == 401 and "Timestamp" in stale.json()["error"]
    odd_signature = signed(form) | {"X-Slack-Signature": "v0=\u00e9\u00e9".encode()}
    assert (await post(stack, form, odd_signature)).status_code == 401
    await stack.settle()
    assert await stored(stack) == before
    assert stack.slack.calls("conversations.create") == []


async def test_signed_but_unreadable_bodies_get_400_with_a_reason(stack: DevStack) -> None:
    before = await stored(stack)
    for body, content_type in BROKEN:
        response = await post(stack, body, signed(body) | {"Content-Type": content_type})
        assert response.status_code == 400, (body, response.text)
        answer = response.json()
        assert answer["ok"] is False and answer["error"].strip(), answer
    await stack.settle()
    assert await stored(stack) == before


async def test_unknown_but_well_formed_requests_are_ignored(stack: DevStack) -> None:
    before = await stored(stack)
    bodies = [
        json.dumps({"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1}),
        json.dumps(
            {
                "type": "event_callback",
                "event_id": "Ev1",
                "event": {"type": "team_join", "user": {}},
            }
        ),
    ]
    for raw in bodies:
        body = raw.encode()
        response = await post(stack, body, signed(body) | {"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
    payload = json.dumps({"type": "view_closed", "view": {"callback_id": "x"}})
    body = ("payload=" + payload).encode()
    assert (await post(stack, body, signed(body))).status_code == 200
    other_command = b"command=%2Fsomething-else&text=hi&user_id=U1&channel_id=C1"
    assert (await post(stack, other_command, signed(other_command))).status_code == 200
    await stack.settle()
    assert await stored(stack) == before


async def test_url_verification_answers_its_challenge(stack: DevStack) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"}).encode()
    response = await post(stack, body, signed(body) | {"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["challenge"] == "c-123"


async def test_oversize_body_is_413_without_reading_it_all(stack: DevStack) -> None:
    declared = await post(stack, b"x" * (MAX_BODY + 1), signed(b"x" * (MAX_BODY + 1)))
    assert declared.status_code == 413

    sent = 0
    chunk = b"x" * 65536

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 20 * MAX_BODY:
            sent += len(chunk)
            yield chunk

    transport = httpx.ASGITransport(app=stack_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://guard") as client:
        response = await client.post(
            "/slack/events", content=endless(), headers=signed(b"") | {"Content-Type": FORM}
        )
    assert response.status_code == 413
    assert sent <= MAX_BODY + 2 * len(chunk)
    await stack.settle()
    assert (await stored(stack))[0] == 0


def stack_app(stack: DevStack) -> object:

    return compose(stack.runtime.settings, runtime=stack.runtime, run_worker=False).app


async def test_a_command_whose_text_says_payload_is_still_a_command(stack: DevStack) -> None:
    channel = await declare(stack)
    # Bolt alone reads a form holding the word "payload" as an interaction without one.
    response = await stack.command("note payload queue is stuck", user=ALICE, channel=channel)
    assert response.status_code == 200
    await stack.settle()
    assert "payload queue is stuck" in [e.text for e in await timeline(stack)]
