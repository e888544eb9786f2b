"""Delivers the Slack outbox: per channel in order, once, across processes and replicas.

A lane (one channel) is delivered by one sender at a time, under a short lease in the database;
different lanes go out concurrently. What this gives, and its limits:

- Order: items of a lane reach Slack in the order they were recorded (outbox id order). Items
  meant for an incident channel that does not exist yet wait for it.
- Once: each post carries its outbox id in the message metadata. When a sender dies (or a call
  times out) between Slack's answer and its own record, the item's outcome is unknown; before
  sending it again the sender looks for that id in the channel's recent history and, if Slack
  has it, records it as sent. Uploads carry no metadata: a crash during an upload may upload
  the same file twice.
- Cards are desired state: only the newest render is sent, so a burst of changes or a 429 storm
  costs one chat.update per card, not one per change.
- 429: the lane waits out Retry-After; other lanes go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from datetime import timedelta
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.model import utcnow
from bot.slack.gateway import SlackGateway
from bot.storage import outbox, repo
from bot.storage.db import Database

log = logging.getLogger(__name__)

METADATA_EVENT = "ooda_outbox"
MAX_ATTEMPTS = 8
# Errors after which the same call may well succeed later; anything else fails the item.
TRANSIENT = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
}
HISTORY_LOOKBACK = 100


class Held(Exception):
    """The item cannot go yet (its channel does not exist, or it waits for another item)."""


class RateLimited(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited for {seconds}s")
        self.seconds = seconds


class Unknown(Exception):
    """The call may or may not have reached Slack (timeout, connection lost, 5xx)."""


class SlackSender:
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
        self.calls = 0  # Slack calls made, for the benchmarks

    # ---- lifecycle ---------------------------------------------------------------------

    def wake(self) -> None:
        """After a commit that recorded something: deliver now, not at the next poll."""
        self._wake.set()

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()

    async def _dispatch(self) -> int:
        """Start a delivery task for each free lane with work; returns how many started."""
        free = self.concurrency - len(self._lanes)
        if free <= 0:
            return 0
        async with self.db.session() as session:
            lanes = await outbox.lanes_with_work(session, limit=free + len(self._lanes) + 50)
        started = 0
        for lane in lanes:
            if lane in self._lanes or started >= free:
                continue
            async with self.db.transaction() as session:
                if not await outbox.claim_lane(session, lane, self.owner, self.lease):
                    continue
                first = await outbox.next_items(session, lane)  # one round trip fewer
            task = asyncio.create_task(self._deliver_lane(lane, first), name=f"ooda-lane-{lane}")
            self._lanes[lane] = task
            task.add_done_callback(lambda _t, lane=lane: self._lane_done(lane))
            started += 1
        return started

    def _lane_done(self, lane: str) -> None:
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
                    lanes = await outbox.lanes_with_work(session, limit=1000, free=False)
                if not [lane for lane in lanes if lane not in self._held]:
                    return
                self.wake()
                await asyncio.sleep(0.01)  # the sender loop picks the lane up
            if loop.time() > deadline:
                raise TimeoutError("Slack outbox not drained before the timeout")

    # ---- one lane ----------------------------------------------------------------------

    async def _deliver_lane(self, lane: str, first: list[outbox.Item] | None = None) -> None:
        not_before = None
        held = False
        try:
            while True:
                items, first = first, None
                if items is None:
                    async with self.db.session() as session:
                        items = await outbox.next_items(session, lane)
                if not items:
                    break
                for item in items:
                    if not await self._deliver(item):
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
                    await outbox.release_lane(session, lane, self.owner, not_before=not_before)

    async def _deliver(self, item: outbox.Item) -> bool:
        """Deliver one item; False when this sender no longer holds its lane."""
        if item.attempts >= MAX_ATTEMPTS:
            return await self._finish(item, "failed", error="too many attempts")
        uncertain = item.status in ("sending", "unknown")
        channel, text = await self._target(item)  # Held: nothing was tried, nothing counted
        async with self.db.transaction() as session:
            await outbox.set_status(session, item.id, "sending", attempt=True)
        try:
            result = await self._perform(item, channel, text, uncertain=uncertain)
        except RateLimited:  # Slack said "later": not an attempt that counts
            async with self.db.transaction() as session:
                await outbox.set_status(
                    session, item.id, "unknown" if uncertain else "pending", attempts=item.attempts
                )
            raise
        except Unknown as exc:
            async with self.db.transaction() as session:
                await outbox.set_status(session, item.id, "unknown", error=str(exc))
            raise
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "error")
            if error in TRANSIENT:
                async with self.db.transaction() as session:
                    await outbox.set_status(session, item.id, "pending", error=error)
                raise Unknown(error) from exc
            log.warning("Slack refused outbox item %s (%s): %s", item.id, item.op, error)
            return await self._finish(item, "failed", error=error)
        return await self._finish(item, "sent", result=result)

    async def _finish(
        self,
        item: outbox.Item,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Record the outcome and renew the lane's lease in one transaction."""
        async with self.db.transaction() as session:
            await outbox.set_status(session, item.id, status, error=error, result=result or {})
            return await outbox.renew_lane(session, item.lane, self.owner, self.lease)

    async def _call(self, coro: Any) -> Any:
        """One Slack call, its failure sorted into rate limit, unknown outcome or refusal."""
        self.calls += 1
        try:
            return await coro
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", 200)
            if status == 429:
                retry = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"
                )
                raise RateLimited(_seconds(retry)) from exc
            if status >= 500:
                raise Unknown(f"HTTP {status}") from exc
            raise
        except (TimeoutError, ClientError, OSError) as exc:
            raise Unknown(type(exc).__name__) from exc

    # ---- the operations ----------------------------------------------------------------

    async def _incident_channel(self, number: int) -> str | None:
        """An incident's channel id; once it has one it never changes, so it is kept."""
        if number not in self._channels:
            async with self.db.session() as session:
                channel = await outbox.incident_channel(session, number)
            if not channel:
                return None
            self._channels[number] = channel
        return self._channels[number]

    async def _channel(self, item: outbox.Item) -> str:
        if item.channel_id:
            return item.channel_id
        channel = await self._incident_channel(int(item.incident_id or 0))
        if not channel:
            raise Held(f"INC-{item.incident_id} has no channel yet")
        return channel

    async def _target(self, item: outbox.Item) -> tuple[str, str]:
        """Where the item goes and, for a post, its text; Held when that is not known yet."""
        if item.op == "create_channel":
            return "", ""
        channel = await self._channel(item)
        text = await self._post_text(item) if item.op == "post" else ""
        return channel, text

    async def _perform(
        self, item: outbox.Item, channel: str, text: str, *, uncertain: bool
    ) -> dict[str, Any]:
        if item.op == "create_channel":
            return await self._create_channel(item)
        if item.op == "post":
            return await self._post(item, channel, text, item.payload.get("blocks"), uncertain)
        if item.op == "card":
            return await self._post_card(item, channel, uncertain)
        if item.op == "invite":
            await self._call(self.slack.invite(channel, list(item.payload.get("users") or [])))
            return {}
        if item.op == "upload":
            p = item.payload
            url = await self._call(
                self.slack.upload(
                    channel,
                    content=p["content"],
                    filename=p["filename"],
                    title=p["title"],
                    comment=p.get("comment"),
                )
            )
            return {"permalink": url}
        log.warning("unknown outbox op %r (item %s)", item.op, item.id)
        return {}

    async def _create_channel(self, item: outbox.Item) -> dict[str, Any]:
        number = int(item.incident_id or 0)
        async with self.db.session() as session:
            existing = await outbox.incident_channel(session, number)
        if existing:
            return {"channel": existing}
        name = str(item.payload["name"])
        found = await self._created_before(name) if item.status in ("sending", "unknown") else None
        # An earlier try may have created it while its answer was lost: adopt that channel.
        channel_id, name = found or await self._call(self.slack.create_channel(name))
        async with self.db.transaction() as session:
            await outbox.set_incident_channel(session, number, channel_id, name)
        return {"channel": channel_id, "name": name}

    async def _created_before(self, name: str) -> tuple[str, str] | None:
        """The channel of that name, if this bot created it (one page of conversations.list)."""
        auth = await self._call(self.slack.client.auth_test())
        response = await self._call(
            self.slack.client.conversations_list(
                types="public_channel", exclude_archived=True, limit=1000
            )
        )
        for channel in response.get("channels") or []:
            if channel.get("name") == name and channel.get("creator") == auth.get("user_id"):
                return str(channel["id"]), name
        return None

    async def _post_text(self, item: outbox.Item) -> str:
        text = str(item.payload.get("text") or "")
        other = item.payload.get("link_channel_of")
        if other is not None:
            channel = await self._incident_channel(int(other))
            if not channel:
                raise Held(f"INC-{other} has no channel yet")
            text += f" · join <#{channel}>"
        upload = item.payload.get("link_upload")
        if upload is not None:
            async with self.db.session() as session:
                found = await outbox.item_result(session, int(upload))
            if found is not None and found[0] in outbox.PENDING:
                raise Held(f"waiting for upload {upload}")
            # No file, no link; a file without a permalink (not every workspace returns one):
            # the pinned summary's.
            url = None
            if found is not None and found[0] == "sent":
                url = found[1].get("permalink") or await self._summary_link(item)
            fallback = str(item.payload.get("text_no_link") or "")
            text = text.replace(outbox.LINK, url) if url else fallback
        return text

    async def _summary_link(self, item: outbox.Item) -> str | None:
        async with self.db.session() as session:
            ts = await outbox.card_ts(session, int(item.incident_id or 0), "summary")
            channel = await outbox.incident_channel(session, int(item.incident_id or 0))
        if not ts or not channel:
            return None
        self.calls += 1
        return await self.slack.permalink(channel, ts)

    async def _post(
        self,
        item: outbox.Item,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        uncertain: bool,
    ) -> dict[str, Any]:
        if uncertain and (ts := await self._already_posted(channel, item.id)):
            log.info("outbox item %s was delivered before the crash (ts %s)", item.id, ts)
            return {"ts": ts, "channel": channel, "recovered": True}
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": item.id}}
        response = await self._call(
            self.slack.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata, unfurl_links=False
            )
        )
        return {"ts": str(response["ts"]), "channel": channel}

    async def _already_posted(self, channel: str, item_id: int) -> str | None:
        response = await self._call(
            self.slack.client.conversations_history(
                channel=channel, limit=HISTORY_LOOKBACK, include_all_metadata=True
            )
        )
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == METADATA_EVENT
                and (meta.get("event_payload") or {}).get("outbox_id") == item_id
            ):
                return str(message["ts"])
        return None

    async def _post_card(self, item: outbox.Item, channel: str, uncertain: bool) -> dict[str, Any]:
        number = int(item.incident_id or 0)
        async with self.db.session() as session:
            card = await outbox.get_card(session, number, item.card or "")
        if card is None or card.ts:
            return {"ts": card.ts if card else None}  # posted already; updates go in place
        result = await self._post(item, channel, card.text, card.blocks, uncertain)
        async with self.db.transaction() as session:
            await outbox.card_sent(session, card.id, card.version, result["ts"])
            await repo.remember_message(session, number, card.kind, channel, result["ts"])
        if card.pin:
            await self._call(self.slack.pin(channel, result["ts"]))
        return result

    async def _update_cards(self, lane: str) -> None:
        async with self.db.session() as session:
            cards = await outbox.dirty_cards(session, lane)
        for card in cards:
            channel = await self._incident_channel(card.incident_id)
            if not channel:
                raise Held(f"INC-{card.incident_id} has no channel yet")
            try:
                if card.kind == outbox.TOPIC:
                    await self._call(self.slack.set_topic(channel, card.text))
                else:
                    assert card.ts is not None
                    await self._call(self.slack.update(channel, card.ts, card.text, card.blocks))
            except SlackApiError as exc:
                error = exc.response.get("error")
                async with self.db.transaction() as session:
                    if error == "message_not_found":
                        await outbox.card_lost(session, card)
                    elif error in TRANSIENT:
                        raise Unknown(str(error)) from exc
                    else:  # refused for good (e.g. a topic Slack will not take): stop trying
                        log.warning(
                            "Slack refused card %s of INC-%s: %s",
                            card.kind,
                            card.incident_id,
                            error,
                        )
                        await outbox.card_sent(session, card.id, card.version, None)
                continue
            async with self.db.transaction() as session:
                await outbox.card_sent(session, card.id, card.version, None)


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0
