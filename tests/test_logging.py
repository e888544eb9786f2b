"""OODA_LOG_LEVEL, and log lines nobody can forge: a control character in any logged value
(message, argument, exception message) stays on its record's line; Bolt's log of a forged
request no longer carries the body."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest
import uvicorn
from pydantic import ValidationError

from bot.devstack import slack_signature
from bot.logs import UVICORN_LOGGERS, SafeFormatter, configure_logging, escape_control
from bot.server import uvicorn_logging
from bot.settings import Settings
from tests.helpers.stack import MakeStack

FORGED = "\n1999-01-01 10:00:00,000 ERROR bot.worker: FORGED\r\u2028\x1b[2K"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger as `ooda serve` sets it up, writing to a buffer; restored after."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    uvicorn_saved = [(lg.handlers, lg.propagate, lg.level) for lg in loggers]
    buffer = io.StringIO()
    configure_logging("INFO", buffer)
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


def records(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_escape_control_keeps_text_on_one_line() -> None:
    assert escape_control("a\nb\rc\td\x00e\x1bf\x85g\u2028h\u2029") == (
        "a\\nb\\rc\\td\\x00e\\x1bf\\x85g\\u2028h\\u2029"
    )
    assert escape_control("ünïcode 🙂 ok") == "ünïcode 🙂 ok"


def test_message_and_arguments_cannot_start_a_line(stream: io.StringIO) -> None:
    log = logging.getLogger("bot.web.pagerduty")
    log.info("PagerDuty %s for unknown incident %s ignored", "incident.resolved", "P1" + FORGED)
    log.warning("raw message" + FORGED)
    log.info("mapping %(id)s", {"id": FORGED})
    lines = records(stream)
    assert len(lines) == 3
    assert all(" bot.web.pagerduty: " in line for line in lines)
    assert "P1\\n1999-01-01 10:00:00,000 ERROR bot.worker: FORGED\\r\\u2028\\x1b[2K" in lines[0]


def test_traceback_stays_multi_line_but_exception_messages_are_escaped(
    stream: io.StringIO,
) -> None:
    log = logging.getLogger("bot.worker")
    try:
        try:
            raise KeyError("inner" + FORGED)
        except KeyError as exc:
            raise ValueError("outer" + FORGED) from exc
    except ValueError:
        log.exception("job %s failed", "7" + FORGED)
    lines = records(stream)
    assert lines[0].endswith("ERROR bot.worker: job 7\\n1999-01-01 10:00:00,000 ERROR "
                             "bot.worker: FORGED\\r\\u2028\\x1b[2K failed")  # fmt: skip
    assert "Traceback (most recent call last):" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
    assert any(line.startswith("KeyError: 'inner\\n1999") for line in lines)
    assert any(line.startswith("ValueError: outer\\n1999") for line in lines)
    # no line but the first looks like a record of its own
    assert [line for line in lines if " ERROR " in line and line[:4].isdigit()] == [lines[0]]
    assert not [line for line in lines if line.startswith("1999-01-01")]


def test_formatter_leaves_the_record_as_it_was() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b\nc",), None)
    assert SafeFormatter("%(message)s").format(record) == "a b\\nc"
    assert record.msg == "a %s" and record.args == ("b\nc",)
    assert record.getMessage() == "a b\nc"


def test_log_level_setting() -> None:
    assert Settings(_env_file=None).log_level == "INFO"  # type: ignore[call-arg]
    assert Settings(_env_file=None, OODA_LOG_LEVEL="debug").log_level == "DEBUG"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="DEBUG, INFO, WARNING, ERROR or CRITICAL"):
        Settings(_env_file=None, OODA_LOG_LEVEL="loud")  # type: ignore[call-arg]


def test_configure_logging_applies_the_level(stream: io.StringIO) -> None:
    configure_logging("WARNING", stream)
    logging.getLogger("bot.test").info("not shown")
    logging.getLogger("bot.test").warning("shown")
    assert records(stream) == [line for line in records(stream) if line.endswith("shown")]
    assert len(records(stream)) == 1
    assert logging.getLogger().level == logging.WARNING


def test_uvicorn_logs_go_through_the_same_handler(stream: io.StringIO) -> None:
    settings = Settings(_env_file=None, OODA_LOG_LEVEL="warning")  # type: ignore[call-arg]
    config = uvicorn.Config(lambda *a: None, **uvicorn_logging(settings))
    config.configure_logging()
    logging.getLogger("uvicorn.error").info("below the level")
    logging.getLogger("uvicorn.error").error("Exception in ASGI application" + FORGED)
    lines = records(stream)
    assert len(lines) == 1 and lines[0].split(" ")[2:4] == ["ERROR", "uvicorn.error:"]


async def test_forged_slack_request_logs_no_body(
    stream: io.StringIO, make_stack: MakeStack
) -> None:
    async with make_stack() as stack:
        body = ("command=%2Fincident&text=" + FORGED.replace("\n", "%0A")).encode()
        body += FORGED.encode()  # raw control characters too
        timestamp = str(int(time.time()))
        assert stack.http is not None
        response = await stack.http.post(
            "/slack/events",
            content=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": slack_signature("wrong-secret", timestamp, body),
            },
        )
        assert response.status_code == 401
    logged = stream.getvalue()
    assert "FORGED" not in logged
    assert not [line for line in logged.splitlines() if line.startswith("1999-01-01")]
    if "Invalid request signature detected" in logged:
        assert "Invalid request signature detected (body not logged)" in logged
