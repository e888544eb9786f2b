"""Acknowledged means stored: a command, click or submission that got its 200 is in the
database already, a redelivery applies nothing twice, and a process that dies after the 200
leaves the work to another one on the same database."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.catalog import OodaConfig
from bot.devstack import DevStack
from bot.domain.jobs import JobKind
from bot.domain.model import Stage
from bot.job_handlers import register
from bot.service import incidents as incidents_service
from bot.service.runtime import build_runtime
from bot.storage import repo
from bot.storage.repo.interactions import SOURCE
from bot.storage.tables import InboundEvent, Job
from tests.helpers.pagerduty import CONFIG, incidents, seed_incident, timeline
from tests.helpers.slack import ALICE, add_people, texts
from tests.helpers.stack import MakeStack

PD = "PINC001"


@pytest.fixture
async def paged(make_stack: MakeStack) -> AsyncIterator[tuple[DevStack, str]]:
    """A stack with one PagerDuty-paged incident (INC-1) and its channel."""
    async with make_stack(CONFIG) as stack:
        add_people(stack)
        seed_incident(stack)
        event = stack.pagerduty.webhook_event("incident.triggered", PD)
        assert (await stack.pagerduty_webhook(event)).status_code == 202
        await stack.settle()
        [inc] = await incidents(stack)
        assert inc.channel_id
        stack.slack.join(inc.channel_id, ALICE)  # a responder: she joined the channel
        yield stack, inc.channel_id


def command_form(stack: DevStack, text: str, *, channel: str, trigger: str) -> bytes:
    form = {
        "team_id": "T0LOCAL01",
        "channel_id": channel,
        "user_id": ALICE,
        "command": stack.runtime.settings.slash_command,
        "text": text,
        "response_url": stack.slack.response_url(),
        "trigger_id": trigger,
        "api_app_id": "A0LOCAL01",
    }
    return urllib.parse.urlencode(form).encode()


async def deliver(stack: DevStack, body: bytes, *, retry: int | None = None) -> httpx.Response:
    """One delivery of a form-encoded Slack request; a retry carries Slack's retry headers."""
    headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    response = await stack.slack_post(
        body,
        content_type="application/x-www-form-urlencoded",
        headers=headers if retry is not None else None,
    )
    assert response.status_code == 200, response.text
    return response


def payload_form(payload: dict[str, Any]) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def click_payload(stack: DevStack, action_id: str, value: str, channel: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0LOCAL01"},
        "user": {"id": ALICE, "username": "alice", "team_id": "T0LOCAL01"},
        "trigger_id": f"click.{time.monotonic_ns()}",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": channel},
        "channel": {"id": channel, "name": "incident"},
        "response_url": stack.slack.response_url(),
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


async def own_decision(stack: DevStack, channel: str, text: str) -> dict[str, Any]:
    """Open the "Decide" modal with its button; the submission Slack would send for it."""
    response = await deliver(
        stack, payload_form(click_payload(stack, "decide_other", "1", channel))
    )
    assert response.status_code == 200
    await stack.settle()
    modal = next(v for v in stack.slack.views if v["callback_id"] == "decide_other")
    state = {
        "decision": {"value": {"type": "plain_text_input", "value": text}},
        "reason": {"value": {"type": "plain_text_input", "value": "errors began with it"}},
    }
    return {
        "type": "view_submission",
        "team": {"id": "T0LOCAL01"},
        "user": {"id": ALICE, "username": "alice", "team_id": "T0LOCAL01"},
        "trigger_id": f"submit.{time.monotonic_ns()}",
        "view": modal
        | {"id": "V0DECIDE1", "hash": "1700000000.abcdEFGH", "state": {"values": state}},
    }


async def interaction_jobs(stack: DevStack) -> list[Job]:
    async with stack.runtime.db.session() as session:
        query = select(Job).where(Job.kind == JobKind.SLACK_INTERACTION).order_by(Job.id)
        return list((await session.scalars(query)).all())


async def stored_count(stack: DevStack) -> int:
    async with stack.runtime.db.session() as session:
        query = select(func.count()).select_from(InboundEvent).where(InboundEvent.source == SOURCE)
        return int(await session.scalar(query) or 0)


async def decisions(stack: DevStack) -> list[str]:
    async with stack.runtime.db.session() as session:
        return [d.text for d in await repo.decisions(session, 1)]


async def test_notes_that_got_their_200_are_on_the_timeline_in_the_order_sent(
    paged: tuple[DevStack, str],
) -> None:
    stack, channel = paged
    gate = stack.pagerduty.hold(f"/incidents/{PD}/notes")  # PagerDuty does not answer yet
    try:
        for text in ("restarted the canary", "error rate falling"):
            response = await stack.command(f"note {text}", user=ALICE, channel=channel)
            assert response.status_code == 200
        # No settle: what the 200 promised is in the database before PagerDuty answered.
        notes = [e for e in await timeline(stack) if e.kind == "note"]
        assert [(e.text, e.actor) for e in notes] == [
            ("restarted the canary", ALICE),
            ("error rate falling", ALICE),
        ]
        jobs = await interaction_jobs(stack)
        assert [j.ordering_key for j in jobs] == ["incident:1", "incident:1"]
    finally:
        gate.set()
    await stack.settle()
    assert [n["content"] for n in stack.pagerduty.notes(PD)] == [
        "restarted the canary",
        "error rate falling",
    ]
    notes = [e for e in await timeline(stack) if e.kind == "note"]
    assert [e.text for e in notes] == ["restarted the canary", "error rate falling"]
    assert all(e.source_key.startswith("pd-note:") for e in notes)  # the echoes will match
    shown = [t for t in texts(stack, channel) if "restarted" in t or "falling" in t]
    assert len(shown) == 2 and "restarted" in shown[0] and "falling" in shown[1]


async def test_a_click_that_got_its_200_is_stored_with_its_job(
    paged: tuple[DevStack, str],
) -> None:
    stack, channel = paged
    await stack.runtime.worker.stop()  # nothing runs it here: only the record can carry it
    response = await stack.click("stage_decide", "1", user=ALICE, channel=channel)
    assert response.status_code == 200
    [job] = await interaction_jobs(stack)
    assert (job.status, job.ordering_key) == ("pending", "incident:1")
    assert await stored_count(stack) == 1
    [inc] = await incidents(stack)
    assert inc.stage != Stage.DECIDE.value  # not applied yet: the job does that


async def test_redelivered_command_click_and_submission_apply_once(
    paged: tuple[DevStack, str],
) -> None:
    stack, channel = paged
    note = command_form(stack, "note rolled back 1.44", channel=channel, trigger="trig.note.1")
    click = payload_form(click_payload(stack, "stage_decide", "1", channel))
    submission = payload_form(await own_decision(stack, channel, "Roll back checkout"))
    before = len(await interaction_jobs(stack))
    for body in (note, click, submission):
        await deliver(stack, body)
        await deliver(stack, body, retry=1)  # Slack's retry of the same delivery
    # Two copies at the same moment: one transaction may hold both.
    twice = command_form(stack, "note paged payments", channel=channel, trigger="trig.note.2")
    await asyncio.gather(deliver(stack, twice), deliver(stack, twice, retry=1))
    await deliver(stack, note, retry=2)
    await stack.settle()

    assert len(await interaction_jobs(stack)) == before + 4
    notes = [e.text for e in await timeline(stack) if e.kind == "note"]
    assert notes == ["rolled back 1.44", "paged payments"]
    assert [n["content"] for n in stack.pagerduty.notes(PD)] == notes
    assert len([t for t in texts(stack, channel) if "rolled back 1.44" in t]) == 1
    assert len([e for e in await timeline(stack) if e.kind == "stage" and "decide" in e.text]) == 1
    assert await decisions(stack) == ["Roll back checkout"]


async def test_work_acknowledged_by_a_process_that_died_is_done_by_another(
    paged: tuple[DevStack, str],
) -> None:
    stack, channel = paged
    submission = payload_form(await own_decision(stack, channel, "Page the payments team"))
    await stack.runtime.worker.stop()  # this process dies right after its 200s
    await stack.command("note found the bad deploy", user=ALICE, channel=channel)
    await stack.click("stage_decide", "1", user=ALICE, channel=channel)
    await deliver(stack, submission)
    assert [e.text for e in await timeline(stack) if e.kind == "note"] == ["found the bad deploy"]
    assert stack.pagerduty.notes(PD) == []

    # Another process on the same database (and the same Slack and PagerDuty) takes over.
    other = build_runtime(stack.settings(), config=OodaConfig.model_validate(CONFIG))
    register(other)
    try:
        await other.drain(30)  # its jobs, and the Slack outbox they fill
    finally:
        await other.aclose()
    assert [n["content"] for n in stack.pagerduty.notes(PD)] == ["found the bad deploy"]
    assert [t for t in texts(stack, channel) if "found the bad deploy" in t]
    [inc] = await incidents(stack)
    assert inc.stage == Stage.DECIDE.value
    assert await decisions(stack) == ["Page the payments team"]
    assert {j.status for j in await interaction_jobs(stack)} == {"done"}


async def test_a_stored_click_that_fails_tells_the_clicker(
    paged: tuple[DevStack, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, channel = paged

    async def broken(*_args: Any, **_kwargs: Any) -> bool:
        # What the click does fails in its job (Slack posts go through the outbox, which
        # retries them on its own: they no longer fail the job).
        raise RuntimeError("the database went away")

    monkeypatch.setattr(incidents_service, "move_stage", broken)
    response = await stack.click("stage_decide", "1", user=ALICE, channel=channel)
    assert response.status_code == 200
    await stack.settle()
    told = [e for e in stack.slack.ephemerals(channel) if e.get("user") == ALICE]
    assert told and "did not work" in told[-1]["text"]
