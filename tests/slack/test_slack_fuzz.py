"""Property-based fuzzing of /slack/events with mutated real Slack deliveries.

Per run: 1,000 correctly signed mutated bodies (slash commands, block_actions, view_submission,
message shortcuts, events) and 300 unsigned or badly signed ones, against the real app
(DevStack: loopback fakes, real database, one incident open from PagerDuty). Never a 5xx, never
an ERROR in the log, every unreadable body 400 with a reason, nothing stored for what was
refused; then the stored jobs run and none dies of the payload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.demo import CONFIG, DemoIncident, Step
from bot.devstack import SIGNING_SECRET, slack_signature
from bot.storage.repo.interactions import REQUESTS
from bot.storage.tables import InboundEvent, Incident, Job
from tests.helpers.fuzz import Harness, fuzz_settings
from tests.helpers.slack_fuzz import Base, bases, encode_base, mutated, readable
from tests.helpers.stack import MakeStack

# 1,300 generated bodies per run: minutes on a loaded 2-core machine (a bound, not a wait).
pytestmark = pytest.mark.timeout(1200)

SIGNED = 1000
UNSIGNED = 300


class Slack:
    def __init__(self, harness: Harness, found: list[Base]) -> None:
        self.harness = harness
        self.bases = found

    def post(self, raw: bytes, headers: dict[str, object]) -> httpx.Response:
        return self.harness.post("/slack/events", raw, headers)

    def stored(self) -> tuple[int, int, int]:
        """Inbound events (but request fingerprints), Slack jobs, incidents: what a request can
        store (other jobs come and go with the incident's own work)."""

        async def query() -> tuple[int, int, int]:
            async with self.harness.stack.runtime.db.session() as session:
                inbound = select(func.count()).select_from(InboundEvent)
                inbound = inbound.where(InboundEvent.source != REQUESTS)
                counts = [
                    await session.scalar(q)
                    for q in (
                        inbound,
                        select(func.count()).select_from(Job).where(Job.kind.like("slack.%")),
                        select(func.count()).select_from(Incident),
                    )
                ]
            return tuple(int(c or 0) for c in counts)  # type: ignore[return-value]

        return self.harness.run(query())


def signed(raw: bytes, content_type: str, *, secret: str = SIGNING_SECRET) -> dict[str, object]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, raw),
    }


@pytest.fixture
def slack(make_stack: MakeStack) -> Iterator[Slack]:
    running = Harness(make_stack(CONFIG))
    stack = running.stack
    general = stack.slack.add_channel("general")["id"]
    # INC-1 and its channel, Alice invited (its PagerDuty assignee).
    demo = running.run(DemoIncident(stack).play(through=Step.PAGE))
    found = bases(
        channel=demo.channel,
        general=general,
        user=demo.scenario.alice,
        response_url=stack.slack.response_url(),
    )
    try:
        yield Slack(running, found)
    finally:
        running.close()


def no_errors(slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    print("answers by status:", dict(sorted(slack.harness.tally.by_status.items())))
    slack.harness.settle()
    assert slack.harness.failed_jobs() == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def check(response: httpx.Response, *, readable_body: bool) -> None:
    """Never a 5xx; a refusal is JSON with a reason; an unreadable body is a 400."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        answer = response.json()
        assert answer["ok"] is False and answer["error"].strip(), answer
        assert response.status_code == 400, answer
    if not readable_body:
        assert response.status_code == 400, (response.status_code, response.text)


def unknown(encoding: str, body: dict[str, object]) -> bool:
    """No listener for it: another app's command, an action or view of another app, an event
    type the bot does not handle."""
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) else {}
    view, event = body.get("view"), body.get("event")
    return (
        body.get("command") == "/hello-world"
        or (isinstance(action, dict) and action.get("action_id") == "a")
        or (isinstance(view, dict) and view.get("callback_id") == "view-id")
        or (isinstance(event, dict) and event.get("type") == "app_mention")
    )


def test_every_real_body_is_accepted_and_unknown_ones_ignored(slack: Slack) -> None:
    for encoding, body in slack.bases:
        raw, content_type = encode_base(encoding, body)
        before = slack.stored()
        response = slack.post(raw, signed(raw, content_type))
        assert response.status_code == 200, (body, response.text)
        slack.harness.settle()
        if unknown(encoding, body):
            assert slack.stored() == before, body


def test_signed_mutations(slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    accepted = [False]

    @fuzz_settings(SIGNED)
    @given(body=mutated(slack.bases))
    def fuzz(body: tuple[bytes, str]) -> None:
        raw, content_type = body
        if accepted[0]:  # the last body's jobs may still store things: let them finish first
            slack.harness.settle()
        before = slack.stored()
        response = slack.post(raw, signed(raw, content_type))
        accepted[0] = response.status_code < 400
        check(response, readable_body=readable(raw, content_type))
        if response.status_code >= 400:
            assert slack.stored() == before

    fuzz()
    assert slack.harness.tally.sent >= SIGNED
    no_errors(slack, caplog)


ODD_TIMESTAMPS = [
    "",
    "soon",
    "1e9",
    "-1",
    "99999999999999999999",
    " 1",
    "0x10",
    "\uff11\uff12".encode(),
]
ODD_SIGNATURES = [b"", b"v0=", b"v0=\xc3\xa9\xc3\xa9", b"v1=" + b"0" * 64, b"garbage", b"v0=zz"]


def test_unsigned_or_badly_signed_store_nothing(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    stored_before, calls_before = slack.stored(), len(slack.harness.stack.slack.calls())

    @fuzz_settings(UNSIGNED)
    @given(
        body=mutated(slack.bases),
        kind=st.integers(0, 5),
        timestamp=st.sampled_from(ODD_TIMESTAMPS),
        signature=st.sampled_from(ODD_SIGNATURES),
    )
    def fuzz(body: tuple[bytes, str], kind: int, timestamp: object, signature: bytes) -> None:
        raw, content_type = body
        headers = signed(raw, content_type)
        if kind == 0:
            headers = {"Content-Type": content_type}
        elif kind == 1:
            headers = signed(raw, content_type, secret="wrong")
        elif kind == 2:
            headers["X-Slack-Request-Timestamp"] = timestamp
        elif kind == 3:
            headers["X-Slack-Signature"] = signature
        elif kind == 4:  # signed, but six minutes ago
            stale = str(int(time.time()) - 360)
            headers["X-Slack-Request-Timestamp"] = stale
            headers["X-Slack-Signature"] = slack_signature(SIGNING_SECRET, stale, raw)
        else:  # another body's signature
            headers = signed(raw + b"&", content_type)
        response = slack.post(raw, headers)
        assert response.status_code == 401, (response.status_code, response.text)
        assert response.json()["ok"] is False and response.json()["error"].strip()

    fuzz()
    assert slack.harness.tally.sent >= UNSIGNED
    assert slack.stored() == stored_before
    assert len(slack.harness.stack.slack.calls()) == calls_before  # nothing said in Slack
    no_errors(slack, caplog)
