"""Logging for `ooda serve`: OODA_LOG_LEVEL, OODA_LOG_FORMAT (text or JSON), one record per
line, nothing forged, and each line tagged with what it was about (bot.context: the incident
ref, the webhook delivery or Slack request id, the job).

Logged values come from senders (a PagerDuty incident id, a Slack body, an exception message):
a newline in one would start what looks like a new log record. `SafeFormatter` escapes every
control character (C0, DEL, C1, U+2028/U+2029) in the message and in the exception messages of
a traceback; the traceback keeps its own line structure. In JSON (python-json-logger) each
record is one object per line: JSON escapes control characters itself, tracebacks included.
`configure_logging` installs the handler on the root logger, which uvicorn's loggers propagate
to (serve runs uvicorn with log_config=None).
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from bot import context

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _CONTROLS
}
FORMATS = ("text", "json")
BOLT_SIGNATURE_FAILURE = "Invalid request signature detected"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def escape_control(text: str) -> str:
    """Control characters as visible escapes (\\n, \\r, \\t, \\x1b, \\u2028): the text stays on
    one line whatever it holds."""
    return text.translate(_ESCAPES)


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exception_lines(exc: BaseException, seen: set[int]) -> list[str]:
    """traceback.format_exception's layout (the chain, then the frames), each exception's own
    message escaped: it may hold a sender's text."""
    seen.add(id(exc))
    lines: list[str] = []
    cause, context = exc.__cause__, exc.__context__
    if cause is not None and id(cause) not in seen:
        lines += _exception_lines(cause, seen)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        lines += _exception_lines(context, seen)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if exc.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(exc.__traceback__)
    only = "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n")
    lines.append(escape_control(only) + "\n")
    return lines


class ContextFilter(logging.Filter):
    """Copies the bound context (bot.context) onto each record as attributes, only those set:
    `incident`, `delivery`, `job`, `job_kind`."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context.fields().items():
            setattr(record, name, value)
        return True


def context_suffix(record: logging.LogRecord) -> str:
    """` [INC-7 delivery=pagerduty:abc job=12 job_kind=incident.setup]`, or "" when unbound."""
    parts = []
    for name in context.FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            text = escape_control(str(value))
            parts.append(text if name == "incident" else f"{name}={text}")
    return f" [{' '.join(parts)}]" if parts else ""


class SafeFormatter(logging.Formatter):
    """A Formatter whose every record is one line, plus the traceback's own lines; the bound
    context follows the logger's name."""

    def format(self, record: logging.LogRecord) -> str:
        msg, args = record.msg, record.args
        try:
            record.msg, record.args = escape_control(record.getMessage()), None
            record.__dict__["context"] = context_suffix(record)  # %(context)s in FORMAT
            return super().format(record)
        finally:
            record.msg, record.args = msg, args
            record.__dict__.pop("context", None)

    def formatException(self, ei: ExcInfo | tuple[None, None, None]) -> str:
        if ei[1] is None:
            return ""
        return "".join(_exception_lines(ei[1], set())).rstrip("\n")


class RedactBoltBodies(logging.Filter):
    """Bolt logs the whole body of a request whose signature fails (at INFO): anyone on the
    internet can send one. Keep the event, drop the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("slack_bolt") and str(record.msg).startswith(
            BOLT_SIGNATURE_FAILURE
        ):
            record.msg, record.args = f"{BOLT_SIGNATURE_FAILURE} (body not logged)", None
        return True


def level_number(level: str) -> int:
    name = level.strip().upper()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    return logging.getLevelName(name)


def json_formatter() -> logging.Formatter:
    """{"timestamp": UTC ISO 8601, "level", "logger", "message", the context fields, and
    "exc_info" with the traceback}: one object per line."""
    formatter: Any = JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )
    return formatter


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, fmt: str = "text"
) -> logging.Handler:
    """The root logger at `level` with one stream handler (`fmt` text: SafeFormatter; json:
    one JSON object per line), the context on every record, Bolt's forged bodies dropped;
    handlers installed before are replaced, uvicorn's loggers propagate to it. Returns the
    handler."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else SafeFormatter(FORMAT))
    handler.addFilter(RedactBoltBodies())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number(level))
    for name in UVICORN_LOGGERS:  # a uvicorn dictConfig run before may have detached them
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [], True
    return handler
