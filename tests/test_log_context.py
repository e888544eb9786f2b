"""OODA_LOG_FORMAT=json over the demo's whole incident: every line the bot writes is one JSON
object, the lines of one incident are selected by its ref, and the lines of a webhook's or a
Slack request's work (its jobs' lines too) by its delivery id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot import context
from bot.demo import CONFIG, DemoIncident, Step
from bot.logs import UVICORN_LOGGERS, configure_logging
from tests.helpers.stack import FAST_VERIFY, MakeStack

FORGED = "\n1999-01-01 10:00:00,000 ERROR bot.worker: FORGED\r\u2028\x1b[2K"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger as `ooda serve` sets it up with OODA_LOG_FORMAT=json; restored after."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    uvicorn_saved = [(lg.handlers, lg.propagate, lg.level) for lg in loggers]
    buffer = io.StringIO()
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
        for lg, (handlers, propagate, lg_level) in zip(loggers, uvicorn_saved, strict=True):
            lg.handlers, lg.propagate, lg.level = handlers, propagate, lg_level


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


async def test_one_incidents_lines_are_selected_by_its_ref(
    make_stack: MakeStack, json_lines: io.StringIO
) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        configure_logging("INFO", json_lines, fmt="json")  # after the fakes' uvicorn set up
        demo = DemoIncident(stack)
        await demo.play(through=Step.RESOLVE)
        page_id = demo.page_response.request.headers["X-Webhook-Id"] if demo.page_response else ""
    records = parsed(json_lines)  # every line is one JSON object: this raises otherwise
    assert records and all({"timestamp", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(r["timestamp"].endswith("+00:00") for r in records)

    inc1 = [r for r in records if r.get("incident") == "INC-1"]
    kinds = {r.get("job_kind") for r in inc1}
    for kind in ("incident.setup", "incident.decide", "action.run", "incident.postmortem"):
        assert kind in kinds, sorted(k for k in kinds if k)
    assert {r.get("incident") for r in records if "incident" in r} == {"INC-1"}
    # The page's own job carries the webhook's delivery id through the queue.
    paged = [r for r in records if r.get("delivery") == f"pagerduty:{page_id}"]
    assert any(r.get("job_kind") == "pagerduty.event" for r in paged), paged
    # A click's stored interaction runs as a job carrying the Slack request's id and INC-1.
    clicks = [r for r in inc1 if r.get("job_kind") == "slack.interaction"]
    assert clicks and all(str(r.get("delivery", "")).startswith("slack:") for r in clicks)


def test_json_lines_keep_control_characters_escaped(json_lines: io.StringIO) -> None:
    configure_logging("INFO", json_lines, fmt="json")
    log = logging.getLogger("bot.web.pagerduty")
    with context.bound(incident="INC-9", delivery="pagerduty:" + FORGED):
        log.warning("incident %s" + FORGED, "P1" + FORGED)
        try:
            raise ValueError("boom" + FORGED)
        except ValueError:
            log.exception("failed")
    lines = json_lines.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "incident P1" + FORGED + FORGED
    assert first["delivery"] == "pagerduty:" + FORGED and first["incident"] == "INC-9"
    assert "ValueError: boom" in second["exc_info"] and second["level"] == "ERROR"


def test_text_lines_name_the_context(json_lines: io.StringIO) -> None:
    configure_logging("INFO", json_lines)
    with context.bound(incident="INC-3", delivery="github:" + FORGED):
        logging.getLogger("bot.worker").info("job 4 done")
    [line] = json_lines.getvalue().splitlines()
    assert " INFO bot.worker [INC-3 delivery=github:\\n1999-01-01" in line
    assert line.endswith(": job 4 done")


def test_a_job_carries_the_context_it_was_queued_in() -> None:
    with context.bound(incident="INC-2", delivery="changes:abc", job="7"):
        carry = context.carried()
    assert carry == {"log": {"incident": "INC-2", "delivery": "changes:abc"}}
    assert context.fields() == {}
    with context.restored(carry):
        assert context.fields() == {"incident": "INC-2", "delivery": "changes:abc"}
    with context.restored("not a carry"):
        assert context.fields() == {}


async def test_the_senders_lines_name_the_incident(
    make_stack: MakeStack, json_lines: io.StringIO
) -> None:
    """What Slack refuses is logged by the outbox sender, with the incident it was for."""
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        configure_logging("INFO", json_lines, fmt="json")
        demo = DemoIncident(stack)
        await demo.play(through=Step.PAGE)
        stack.slack.fail_next("chat.postMessage", status=200, error="msg_too_long")
        user = demo.scenario.alice
        await stack.command("note a note Slack will refuse", user=user, channel=demo.channel)
        await stack.settle()
    refused = [r for r in parsed(json_lines) if "Slack refused outbox item" in r["message"]]
    assert refused and all(r.get("incident") == "INC-1" for r in refused), refused
