"""What a unit of work carries: the incident it is about, the delivery (webhook or Slack
request) that started it, the job running it; log lines show them (bot.logs) and traces follow
them (bot.tracing). Carried through the job queue: `jobs.add_job` stores `carried()` in the
payload, and the worker `restored()` it around the job, so a job's lines carry the delivery id
of the webhook that queued it.

Context variables, so every asyncio task sees its own (a task copies them when created). This
module imports nothing of the bot: storage, the worker and the web routes all use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

# The log fields, in the order a text line shows them.
FIELDS = ("incident", "delivery", "job", "job_kind")
# The payload key a job carries its context under (the worker removes it before the handler).
CARRY = "_carried"

_fields: ContextVar[Mapping[str, str]] = ContextVar("ooda_context", default={})  # noqa: B039 - never mutated

# name -> (what to carry now, how to resume it): bot.tracing adds the trace context.
Inject = Callable[[], dict[str, str]]
Resume = Callable[[dict[str, str]], contextlib.AbstractContextManager[Any]]
_carriers: dict[str, tuple[Inject, Resume]] = {}


def fields() -> dict[str, str]:
    """The fields bound now (only those set)."""
    return dict(_fields.get())


def update(**values: str | None) -> None:
    """Bind fields for the rest of this task (a job's, a request's). None leaves one as is."""
    current = dict(_fields.get())
    current.update({k: str(v) for k, v in values.items() if v is not None})
    _fields.set(current)


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind fields inside the block only."""
    token = _fields.set(
        {**_fields.get(), **{k: str(v) for k, v in values.items() if v is not None}}
    )
    try:
        yield
    finally:
        _fields.reset(token)


def add_carrier(name: str, inject: Inject, resume: Resume) -> None:
    """Carry more than the log fields through the job queue (the trace context)."""
    _carriers[name] = (inject, resume)


def carried() -> dict[str, Any]:
    """What a job queued now takes along; {} when nothing is bound."""
    out: dict[str, Any] = {}
    log_fields = {k: v for k, v in _fields.get().items() if k in ("incident", "delivery")}
    if log_fields:
        out["log"] = log_fields
    for name, (inject, _) in _carriers.items():
        value = inject()
        if value:
            out[name] = value
    return out


@contextlib.contextmanager
def restored(carry: Any) -> Iterator[None]:
    """Resume what a job carried (a payload's CARRY value; anything else is ignored)."""
    carry = carry if isinstance(carry, dict) else {}
    log_fields = carry.get("log")
    values = (
        {k: v for k, v in log_fields.items() if k in FIELDS and isinstance(v, str)}
        if isinstance(log_fields, dict)
        else {}
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(bound(**values))
        for name, (_, resume) in _carriers.items():
            value = carry.get(name)
            if isinstance(value, dict):
                stack.enter_context(resume(value))
        yield
