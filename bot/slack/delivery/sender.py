"""Delivers the Slack outbox: per channel in order, once, across processes and replicas.

A lane (one channel) is delivered by one sender at a time, under a short lease in the database;
different lanes go out concurrently. What this gives, and its limits:

- Order: items of a lane reach Slack in the order they were recorded (outbox id order). Items
  meant for an incident channel that does not exist yet wait for it.
- Once: each post carries its outbox id in the message metadata. When a sender dies (its lane's
  lease runs out instead of being released) or a call times out between Slack's answer and its
  own record, the item's outcome is unknown; before sending it again the sender looks for that
  id in the channel's recent history and, if Slack has it, records it as sent. A call never
  outlasts the lease (OODA_SLACK_TIMEOUT < OODA_OUTBOX_LEASE_SECONDS). Uploads carry no metadata: a crash during an upload may upload
  the same file twice.
- Cards are desired state: only the newest render is sent, so a burst of changes or a 429 storm
  costs one chat.update per card, not one per change.
- 429: the lane waits out Retry-After; other lanes go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import context
from bot.domain.model import utcnow
from bot.domain.refs import format_ref
from bot.slack.delivery.operations import (
    MAX_ATTEMPTS,
    TRANSIENT,
    Held,
    RateLimited,
    Recording,
    SlackOperations,
    Unknown,
)
from bot.slack.out.gateway import SlackGateway
from bot.storage import outbox_delivery as delivery
from bot.storage.db import Database

log = logging.getLogger(__name__)


class SlackSender(SlackOperations):
    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        *,
        concurrency: int = 16,
        lease_seconds: float = 15.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.slack = SlackGateway(client)
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()
        self._channels: dict[int, str] = {}
        self._then: dict[int, Recording] = {}
        self._hinted: set[str] = set()  # lanes a commit just recorded something for
        self._scan = True  # look up every lane with work at the next dispatch
        self.calls = 0  # Slack calls made, for the benchmarks

    # ---- lifecycle ---------------------------------------------------------------------

    def wake(self, lanes: Collection[str] | None = None) -> None:
        """After a commit that recorded something for `lanes`: deliver now, not at the next
        poll. Without lanes (a lane finished, a test), every lane with work is looked up."""
        if lanes:
            self._hinted.update(lanes)
        else:
            self._scan = True
        self._wake.set()

    @property
    def alive(self) -> bool:
        """The delivery loop runs (started, not stopped, not crashed)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="ooda-slack-sender")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking lanes; let the ones being delivered finish within `grace`, then cancel.
        A post cut short is found again by its outbox id, so nothing is said twice."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        lanes = list(self._lanes.values())
        if lanes:
            await asyncio.wait(lanes, timeout=grace)
        for task in lanes:
            task.cancel()
        for task in lanes:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._lanes.clear()

    async def _loop(self) -> None:
        while True:
            try:
                await self._dispatch()
            except Exception:
                log.exception("Slack sender loop failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:  # the poll: lanes whose 429 wait ended, other processes' work
                self._scan = True
            self._wake.clear()

    async def _dispatch(self) -> int:
        """Start a delivery task for each free lane with work; returns how many started."""
        free = self.concurrency - len(self._lanes)
        if free <= 0:
            return 0
        hinted, self._hinted = self._hinted, set()
        if self._scan or not hinted:
            self._scan = False
            async with self.db.session() as session:
                lanes = await delivery.lanes_with_work(session, limit=free + len(self._lanes) + 50)
        else:  # just recorded: claimed without looking (a held lane's sender delivers it)
            lanes = sorted(hinted)
        started = 0
        for lane in lanes:
            if lane in self._lanes or started >= free:
                continue
            async with self.db.transaction() as session:
                claim = await delivery.claim_lane(session, lane, self.owner, self.lease)
                if not claim:
                    continue
                first = await delivery.next_items(session, lane)  # one round trip fewer
            # After a sender died, its first undelivered item may be in Slack already.
            doubt = claim == "taken_over"
            task = asyncio.create_task(
                self._deliver_lane(lane, first, doubt_first=doubt), name=f"ooda-lane-{lane}"
            )
            self._lanes[lane] = task
            task.add_done_callback(functools.partial(self._lane_done, lane))
            started += 1
        return started

    def _lane_done(self, lane: str, _task: asyncio.Task[None]) -> None:
        self._lanes.pop(lane, None)
        self.wake()  # a slot is free, and the lane may have gained work meanwhile

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until nothing deliverable is left (tests, the demo). Held lanes do not count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._task is None:
                await self._dispatch()
            if self._lanes:
                await asyncio.wait(list(self._lanes.values()), timeout=deadline - loop.time())
            else:
                async with self.db.session() as session:
                    lanes = await delivery.lanes_with_work(session, limit=1000, free=False)
                if not [lane for lane in lanes if lane not in self._held]:
                    return
                self.wake()
                await asyncio.sleep(0.01)  # the sender loop picks the lane up
            if loop.time() > deadline:
                raise TimeoutError("Slack outbox not drained before the timeout")

    # ---- one lane ----------------------------------------------------------------------

    async def _deliver_lane(
        self, lane: str, first: list[delivery.Item] | None = None, *, doubt_first: bool = False
    ) -> None:
        not_before = None
        held = False
        try:
            while True:
                items, first = first, None
                if items is None:
                    async with self.db.session() as session:
                        items = await delivery.next_items(session, lane)
                if not items:
                    break
                for item in items:
                    doubt, doubt_first = doubt_first, False
                    if not await self._deliver(item, doubt=doubt):
                        log.warning("lost the lease of %s; another sender goes on", lane)
                        return
            await self._update_cards(lane)
        except Held:
            held = True
        except RateLimited as exc:
            not_before = utcnow() + timedelta(seconds=exc.seconds)
        except Unknown as exc:
            not_before = utcnow() + timedelta(seconds=min(30.0, 0.5 + random.random()))
            log.warning("Slack outcome unknown on %s, retrying: %s", lane, exc)
        except Exception:
            log.exception("delivering %s failed", lane)
            not_before = utcnow() + timedelta(seconds=1 + random.random())
        finally:
            if held:
                self._held.add(lane)
            else:  # what this lane delivered may be what a held lane waits for
                self._held.clear()
            with contextlib.suppress(Exception):
                async with self.db.transaction() as session:
                    await delivery.release_lane(session, lane, self.owner, not_before=not_before)

    async def _deliver(self, item: delivery.Item, *, doubt: bool = False) -> bool:
        """Deliver one item (its log lines name its incident); False when this sender no
        longer holds its lane."""
        ref = format_ref(item.incident_id) if item.incident_id is not None else None
        with context.bound(incident=ref):
            return await self._deliver_item(item, doubt=doubt)

    async def _deliver_item(self, item: delivery.Item, *, doubt: bool) -> bool:
        """Deliver one item; False when this sender no longer holds its lane.

        No write before the call: while a sender holds a lane it delivers its items one by one,
        so if it dies mid-call, the next sender finds the lane's lease run out (not released)
        and doubts only the first undelivered item (`doubt`), which it looks up before sending.
        """
        if item.attempts >= MAX_ATTEMPTS:
            return await self._finish(item, "failed", error="too many attempts")
        uncertain = doubt or item.status in ("sending", "unknown")
        channel, text = await self._target(item)  # Held: nothing was tried, nothing counted
        try:
            result = await self._perform(item, channel, text, uncertain=uncertain)
        except RateLimited:  # Slack said "later": nothing was posted, no attempt counted
            raise
        except asyncio.CancelledError:  # stopped mid-call: it may have reached Slack
            with contextlib.suppress(Exception):
                await asyncio.shield(self._mark_unknown(item, "cancelled mid-call"))
            raise
        except Unknown as exc:
            await self._mark_unknown(item, str(exc))
            raise
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "error")
            if error in TRANSIENT:  # refused, so not posted: no doubt next time
                async with self.db.transaction() as session:
                    status = "unknown" if uncertain else "pending"
                    await delivery.set_status(session, item.id, status, error=error, attempt=True)
                raise Unknown(error) from exc
            log.warning("Slack refused outbox item %s (%s): %s", item.id, item.op, error)
            return await self._finish(item, "failed", error=error)
        return await self._finish(item, "sent", result=result)

    async def _mark_unknown(self, item: delivery.Item, why: str) -> None:
        async with self.db.transaction() as session:
            await delivery.set_status(session, item.id, "unknown", error=why, attempt=True)

    async def _finish(
        self,
        item: delivery.Item,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Record the outcome (and the card it posted) and renew the lane's lease in one
        transaction."""
        then = self._then.pop(item.id, None)
        async with self.db.transaction() as session:
            await delivery.set_status(
                session, item.id, status, error=error, result=result or {}, attempt=True
            )
            if then is not None:
                await then(session)
            return await delivery.renew_lane(session, item.lane, self.owner, self.lease)
