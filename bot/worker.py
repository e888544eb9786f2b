"""Runs due jobs from the database: inbound events, Slack follow-ups, verify polls, reminders.

The loop claims continuously up to `concurrency` jobs; each runs in its own task, so a job that
hangs holds one slot and nothing else. While a job runs, a heartbeat renews its short lease; a
replica that dies stops renewing, and a survivor takes the job within about a lease plus a poll.
`stop()` stops claiming, lets running jobs finish within a grace period, then cancels the rest
and hands their claims back so another replica runs them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot import context, tracing
from bot.domain.refs import format_ref
from bot.storage import jobs
from bot.storage.db import Database

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
# (job kind, seconds, outcome "done" | "failed"): the job duration histogram (bot.telemetry).
Observer = Callable[[str, float, str], None]


@dataclass
class _Running:
    job: jobs.ClaimedJob
    task: asyncio.Task[None]
    started: bool = False  # the handler was entered (a release must not re-run a rollback)


class Worker:
    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 1.0,
        concurrency: int = 8,
        lease_seconds: float = jobs.LEASE.total_seconds(),
        grace_seconds: float = 20.0,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, concurrency)
        self.lease = timedelta(seconds=lease_seconds)
        self.grace_seconds = grace_seconds
        self.handlers: dict[str, Handler] = {}
        self.observe: Observer = lambda kind, seconds, outcome: None
        self.worker_id = f"{os.getpid()}:{id(self):x}:{socket.gethostname()}"[:80]
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._running: dict[int, _Running] = {}
        self._buried_at = -float("inf")  # loop time of the last look for exhausted jobs
        # Set (and replaced) each time a job of this process finishes: drain() waits on it.
        self._progress = asyncio.Event()

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> Worker:
        return cls(
            db,
            poll_seconds=settings.worker_poll_seconds,
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.job_lease_seconds,
            grace_seconds=settings.worker_grace_seconds,
        )

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Called after a commit that added a job, so it runs now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> int:
        """Jobs running in this process now."""
        return len(self._running)

    @property
    def alive(self) -> bool:
        """The claiming loop runs (started, not stopped, not crashed)."""
        return self._task is not None and not self._task.done()

    @property
    def idle(self) -> bool:
        """Nothing is running in this process."""
        return not self._running

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="ooda-worker")

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; wait up to `grace` seconds (default: the setting) for running jobs,
        then cancel the rest and release their claims (due now, the attempt not counted)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        grace = self.grace_seconds if grace is None else grace
        tasks = [r.task for r in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=max(grace, 0))
        left = [r for r in self._running.values() if not r.task.done()]
        for running in left:
            running.task.cancel()
        if not left:
            return
        await asyncio.wait([r.task for r in left], timeout=5)
        released = 0
        for running in left:
            try:
                released += await jobs.release(self.db, running.job, started=running.started)
            except Exception:  # its lease runs out instead
                log.exception("could not release job %s", running.job.id)
        log.warning("stopped with %s job(s) unfinished; released %s", len(left), released)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.concurrency - len(self._running)
            if free > 0:
                try:
                    if len(await self._claim(free)) == free:
                        continue  # maybe more are due; a finishing job wakes us when full
                except Exception:
                    log.exception("worker claim failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _claim(self, limit: int) -> list[_Running]:
        # A job this process still runs (its lease lost meanwhile) blocks its id and its key.
        held_keys = {r.job.ordering_key for r in self._running.values() if r.job.ordering_key}
        now = asyncio.get_running_loop().time()
        bury = now - self._buried_at > self.lease.total_seconds() / 2
        if bury:
            self._buried_at = now
        claimed = await jobs.claim(
            self.db,
            self.worker_id,
            limit=limit,
            lease=self.lease,
            exclude_ids=list(self._running),
            exclude_keys=held_keys,
            bury=bury,
        )
        started = []
        for job in claimed:
            running = _Running(job, asyncio.create_task(self._execute(job), name=f"job-{job.id}"))
            self._running[job.id] = running
            running.task.add_done_callback(functools.partial(self._done, job.id))
            started.append(running)
        return started

    def _done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()  # a slot (and maybe this job's ordering key) is free
        self._progress.set()
        self._progress = asyncio.Event()

    async def run_once(self) -> int:
        """Claim what is due (up to the free slots) and run it to the end; for tests."""
        started = await self._claim(max(1, self.concurrency - len(self._running)))
        if started:
            await asyncio.gather(*(r.task for r in started), return_exceptions=True)
        return len(started)

    async def _execute(self, job: jobs.ClaimedJob) -> None:
        # This task's own context: what the job carried, plus the job and its incident.
        payload = dict(job.payload)
        carried = payload.pop(context.CARRY, None)
        number = payload.get("incident")
        ref = format_ref(number) if isinstance(number, int) else None
        with context.restored(carried):
            context.update(job=str(job.id), job_kind=job.kind, incident=ref)
            attributes = {"ooda.job.id": job.id, "ooda.job.kind": job.kind}
            if ref:
                attributes["ooda.incident"] = ref
            with tracing.span(f"job {job.kind}", kind="consumer", attributes=attributes):
                await self._execute_in_context(job, payload)

    async def _execute_in_context(self, job: jobs.ClaimedJob, payload: dict[str, Any]) -> None:
        handler = self.handlers.get(job.kind)
        heartbeat = asyncio.create_task(self._heartbeat(job), name=f"job-{job.id}-lease")
        started = time.monotonic()
        try:
            error: str | None = None
            if handler is None:
                error = f"no handler for job kind {job.kind!r}"
            else:
                self._running[job.id].started = True
                try:
                    await handler(payload)
                except Exception as exc:
                    log.exception(
                        "job %s (%s) failed on attempt %s", job.id, job.kind, job.attempts
                    )
                    error = f"{type(exc).__name__}: {exc}"
            seconds = time.monotonic() - started
            if error is None:
                log.info("job %s (%s) done in %.3fs", job.id, job.kind, seconds)
            self.observe(job.kind, seconds, "done" if error is None else "failed")
            await self._record(job, error)
        finally:
            heartbeat.cancel()

    async def _record(self, job: jobs.ClaimedJob, error: str | None) -> None:
        try:
            if error is None:
                held = await jobs.complete(self.db, job)
            else:
                held = await jobs.fail(self.db, job, error)
        except Exception:  # the lease runs out and the job is retried
            log.exception("job %s (%s): could not record its outcome", job.id, job.kind)
            return
        if not held:
            log.warning("job %s (%s): lease lost; its result is discarded", job.id, job.kind)

    async def _heartbeat(self, job: jobs.ClaimedJob) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await jobs.renew(self.db, job, self.lease):
                    log.warning("job %s (%s): lease lost to another worker", job.id, job.kind)
                    return
            except Exception:
                log.exception("job %s: lease renewal failed; retrying", job.id)

    async def drain(self, timeout: float = 30.0, *, horizon: float = 0.0) -> None:
        """Wait until no job due within `horizon` seconds is pending or running (tests, demo).
        Wakes when a job of this process finishes; polls the database only as a fallback (for
        jobs that become due or run in another process)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        within = timedelta(seconds=horizon)
        fallback = min(self.poll_seconds, 0.25)
        while True:
            progress = self._progress  # taken before looking, so no finish is missed
            if self._task is None:
                await self.run_once()
            if not self._running and await jobs.pending_count(self.db, within=within) == 0:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("jobs still pending after drain timeout")
            self.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), timeout=min(remaining, fallback))
