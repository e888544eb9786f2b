"""Reads started the moment a page arrives, before its incident is even stored.

A PagerDuty trigger names the incident and its service, which is all the Observe reads (the
incident, its alerts, its log entries) and the change sources need. Starting them at once lets
them run while the incident is opened, the set-up job is queued and claimed; the set-up then
takes the running reads instead of starting its own. Kept per runtime, for a short while: when
another replica runs the set-up, it reads for itself and these expire unused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.service.runtime import Runtime

EXTRA = "context.prefetch"
MAX_AGE_SECONDS = 30.0
OBSERVE_READS = ("incident", "alerts", "log entries")


@dataclass
class Prefetched:
    started: float
    observe: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    changes: tuple[dict[asyncio.Task[Any], str], list[str]] | None = None


def _cache(rt: Runtime) -> dict[str, Prefetched]:
    found = rt.extras.get(EXTRA)
    if not isinstance(found, dict):
        found = rt.extras[EXTRA] = {}
    return found


def observe_reads(rt: Runtime, pd_id: str) -> dict[str, asyncio.Task[Any]]:
    """The three Observe reads of a PagerDuty incident, each under the source timeout."""
    client = rt.pagerduty
    assert client is not None
    timeout = rt.settings.source_timeout_seconds
    calls = (client.get_incident, client.list_alerts, client.list_log_entries)
    return {
        label: asyncio.create_task(asyncio.wait_for(call(pd_id), timeout))
        for label, call in zip(OBSERVE_READS, calls, strict=True)
    }


def start(
    rt: Runtime,
    pd_id: str,
    changes: Callable[[], tuple[dict[asyncio.Task[Any], str], list[str]]],
) -> None:
    """Start the Observe reads of `pd_id` and (`changes()`) its change sources now."""
    cache = _cache(rt)
    now = time.monotonic()
    for key in [k for k, v in cache.items() if now - v.started > MAX_AGE_SECONDS]:
        _drop(cache.pop(key))
    if pd_id in cache or rt.pagerduty is None:  # a second delivery: the first one's reads
        return
    cache[pd_id] = Prefetched(now, observe_reads(rt, pd_id), changes())


def take_observe(rt: Runtime, pd_id: str) -> dict[str, asyncio.Task[Any]] | None:
    found = _cache(rt).get(pd_id)
    if found is None or not found.observe:
        return None
    reads, found.observe = found.observe, {}
    _forget_if_empty(rt, pd_id)
    return reads


def take_changes(rt: Runtime, pd_id: str) -> tuple[dict[asyncio.Task[Any], str], list[str]] | None:
    found = _cache(rt).get(pd_id)
    if found is None or found.changes is None:
        return None
    changes, found.changes = found.changes, None
    _forget_if_empty(rt, pd_id)
    return changes


def _forget_if_empty(rt: Runtime, pd_id: str) -> None:
    found = _cache(rt).get(pd_id)
    if found is not None and not found.observe and found.changes is None:
        del _cache(rt)[pd_id]


def _drop(found: Prefetched) -> None:
    tasks = list(found.observe.values()) + list((found.changes or ({}, []))[0])
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" warning
