"""Group commit for interactions stored at their ack.

Every record waits for a commit before its ack, and a commit is the slow part (on SQLite one
writer at a time, and a sync of the log). Records that arrive while a transaction is being
written share the next one: fifty simultaneous commands cost a few commits, not fifty, and
never wait on each other's locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot import context
from bot.domain.jobs import JobKind
from bot.domain.refs import format_ref
from bot.service.incidents import incident_key
from bot.service.runtime import Runtime
from bot.storage import jobs
from bot.storage.db import QUEUED
from bot.storage.repo import interactions as stored

log = logging.getLogger(__name__)

GATHER_TURNS = 3  # event-loop turns a transaction waits for more records to join it
MAX_BATCH = 200
CHANNELS = "incident_by_channel"  # session.info key: channel id -> incident number
FINGERPRINT = "fingerprint"  # a record's kind: an accepted request's fingerprint, no job

# Which incident an interaction is about, read inside the recording transaction.
Locate = Callable[[AsyncSession, dict[str, Any]], Awaitable[int | None]]
# Rows to insert in that same transaction (a note's timeline entry), from (body, incident, key).
Also = Callable[[dict[str, Any], int | None, str], list[tuple[Table, dict[str, Any]]]]


@dataclass
class Record:
    body: dict[str, Any]
    key: str
    kind: str
    locate: Locate | None
    also: Also | None
    done: asyncio.Future[bool]
    # The request's context (its Slack id), taken when recorded: the writer's task is not it.
    carried: dict[str, Any] = field(default_factory=context.carried)


class Recorder:
    """One per runtime: queues records and writes each queue in one transaction."""

    def __init__(self, rt: Runtime, committed: Callable[[], None]) -> None:
        self.rt = rt
        self.committed = committed  # called after each commit that added jobs
        self.waiting: list[Record] = []
        self.channels: dict[str, int] = {}  # incidents found by channel, for `locate`
        self.writer: asyncio.Task[None] | None = None

    async def record(
        self,
        body: dict[str, Any],
        *,
        key: str,
        kind: str,
        locate: Locate | None,
        also: Also | None,
    ) -> bool:
        """Stored with its job once this returns; False when the key was stored before."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting.append(Record(body, key, kind, locate, also, done))
        if self.writer is None:
            self.writer = asyncio.create_task(self._write_queued(), name="ooda-slack-recorder")
        return await done

    async def _write_queued(self) -> None:
        try:
            while self.waiting:
                # Let requests already being read join this transaction: a burst of them then
                # costs one or two commits.
                for _ in range(GATHER_TURNS):
                    queued = len(self.waiting)
                    await asyncio.sleep(0)
                    if len(self.waiting) == queued:
                        break
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
                await self._write(batch)
        finally:
            self.writer = None

    async def _write(self, batch: list[Record]) -> None:
        try:
            fresh = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], error=exc)
                return
            # One bad record must not fail the others: each in its own transaction.
            log.warning("storing %d interactions together failed; one by one", len(batch))
            for record in batch:
                await self._write([record])
            return
        for record, added in zip(batch, fresh, strict=True):
            _settle(record, result=added)
        if any(a for r, a in zip(batch, fresh, strict=True) if r.kind != FINGERPRINT):
            self.committed()

    async def _transaction(self, batch: list[Record]) -> list[bool]:
        fresh: list[bool] = []
        rows: list[tuple[Table, dict[str, Any]]] = []
        async with self.rt.db.transaction() as session:
            session.info[CHANNELS] = self.channels
            numbers = [await r.locate(session, r.body) if r.locate else None for r in batch]
            ids = await stored.record_interactions(
                session, [(r.key, r.kind, r.body) for r in batch if r.kind != FINGERPRINT]
            )
            prints: list[tuple[str, str | None, dict[str, Any]]] = [
                (r.key, r.body.get("kind"), {}) for r in batch if r.kind == FINGERPRINT
            ]
            seen = await stored.record_interactions(session, prints, source=stored.REQUESTS)
            for record, number in zip(batch, numbers, strict=True):
                if record.kind == FINGERPRINT:
                    fresh.append(seen.pop(record.key, None) is not None)
                    continue
                # pop: a second record with the same key in this batch is a redelivery too
                inbound = ids.pop(record.key, None)
                fresh.append(inbound is not None)
                if inbound is None:  # a redelivery: stored (and handled) once already
                    continue
                if record.also is not None:
                    rows += record.also(record.body, number, record.key)
                carry = dict(record.carried)
                if number is not None:
                    carry["log"] = {**carry.get("log", {}), "incident": format_ref(number)}
                job = jobs.add_job(
                    session,
                    JobKind.SLACK_INTERACTION,
                    {"inbound": inbound, context.CARRY: carry},
                    ordering_key=incident_key(number) if number is not None else None,
                    max_attempts=3,  # a failure is reported, not retried; a dead process is
                )
                rows.append(stored.as_row(session, job))  # all jobs in one statement
            await stored.insert_rows(session, rows)
            # Not woken by the commit: `committed` wakes the worker once the acks are out.
            session.info.pop(QUEUED, None)
        return fresh


def _settle(record: Record, *, result: bool = False, error: Exception | None = None) -> None:
    if record.done.done():  # its request was cancelled meanwhile
        return
    if error is not None:
        record.done.set_exception(error)
    else:
        record.done.set_result(result)
