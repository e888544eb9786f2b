"""Slack's own sample payloads (tests/fixtures/vendor-samples, see SOURCES.md), signed and posted
to the running app: anything we do not listen for is acknowledged and ignored."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from bot.devstack import DevStack
from tests.helpers.samples import sample_path, vendor_sample
from tests.helpers.slack import ALICE, declare, responses


def as_form(payload: Any) -> bytes:
    """How Slack delivers interactivity: `payload=<urlencoded JSON>`."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


async def still_works(stack: DevStack) -> None:
    """The app keeps serving: a real command opens an incident end to end afterwards."""
    channel = await declare(stack, "After the samples")
    await stack.command("status", user=ALICE, channel=channel)
    await stack.settle()
    assert responses(stack)[-1].startswith("*INC-1*")


@pytest.mark.parametrize("name", ["slack_block_actions.json", "slack_view_submission.json"])
async def test_unknown_interaction_sample_is_acked_and_ignored(stack: DevStack, name: str) -> None:
    body = vendor_sample(name)
    response = await stack.slack_post(
        as_form(body), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.text
    assert not response.content  # a plain ack: no view pushed, no errors
    await stack.settle()
    # Nothing was said anywhere on the strength of a payload we do not know.
    assert not stack.slack.calls("chat.postMessage")
    assert not stack.slack.calls("chat.postEphemeral")
    assert not stack.slack.calls("views.open")
    await still_works(stack)


async def test_url_verification_sample_echoes_the_challenge(stack: DevStack) -> None:
    body = vendor_sample("slack_url_verification.json")
    raw = json.dumps(body).encode()
    response = await stack.slack_post(raw, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": body["challenge"]}


async def test_app_mention_sample_is_acked_and_ignored(stack: DevStack) -> None:
    raw = sample_path("slack_event_callback_app_mention.json").read_bytes()
    response = await stack.slack_post(raw, content_type="application/json")
    assert response.status_code == 200
    await stack.settle()
    assert not stack.slack.calls("chat.postMessage")
    await still_works(stack)


async def test_unsigned_sample_is_refused(stack: DevStack) -> None:
    raw = as_form(vendor_sample("slack_block_actions.json"))
    assert stack.http is not None
    response = await stack.http.post(
        "/slack/events",
        content=raw,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (401, 403)


class FrozenClock(Clock):
    """The sample's own clock: its signature is from 2018, outside a real 5-minute window."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slack_signature_vector_verifies_with_slack_sdk() -> None:
    vector = vendor_sample("slack_signature_vector.json")
    secret, timestamp, body = vector["signing_secret"], vector["timestamp"], vector["body"]
    expected = vector["expected_X-Slack-Signature"]
    verifier = SignatureVerifier(secret, clock=FrozenClock(float(timestamp)))
    assert verifier.generate_signature(timestamp=timestamp, body=body) == expected
    assert verifier.is_valid(body=body, timestamp=timestamp, signature=expected)
    assert not verifier.is_valid(body=body + "x", timestamp=timestamp, signature=expected)
    # With the real clock the same request is stale and refused.
    assert not SignatureVerifier(secret).is_valid(
        body=body, timestamp=timestamp, signature=expected
    )
