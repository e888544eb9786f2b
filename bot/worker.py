"""Runs due jobs from the database: inbound events, Slack follow-ups, verify polls, reminders."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.storage import jobs
from bot.storage.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Worker:
    def __init__(self, db: Database, *, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.handlers: dict[str, Handler] = {}
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = 0

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Called after a commit that added a job, so it runs now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="ooda-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                ran = await self.run_once()
            except Exception:
                log.exception("worker loop failed; retrying")
                ran = 0
            if ran:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        claimed = await jobs.claim(self.db, self.worker_id)
        if claimed:
            self._busy += 1
            try:
                await asyncio.gather(*(self._run(job) for job in claimed))
            finally:
                self._busy -= 1
        return len(claimed)

    async def _run(self, job: jobs.ClaimedJob) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            await jobs.fail(self.db, job, f"no handler for job kind {job.kind!r}")
            return
        try:
            await handler(job.payload)
        except Exception as exc:
            log.exception("job %s (%s) failed on attempt %s", job.id, job.kind, job.attempts)
            await jobs.fail(self.db, job, f"{type(exc).__name__}: {exc}")
        else:
            await jobs.complete(self.db, job.id)

    async def drain(self, timeout: float = 30.0, *, horizon: float = 0.0) -> None:
        """Wait until no job due within `horizon` seconds is pending or running (tests, demo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        within = timedelta(seconds=horizon)
        while True:
            if self._task is None:
                await self.run_once()
            if self._busy == 0 and await jobs.pending_count(self.db, within=within) == 0:
                return
            if loop.time() > deadline:
                raise TimeoutError("jobs still pending after drain timeout")
            self.wake()
            await asyncio.sleep(0.02)
