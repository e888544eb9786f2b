"""What the Slack sender does with one outbox item or card: resolve where it goes, make the
Slack call, sort its failure into rate limit, unknown outcome or refusal, and look up a post
whose outcome is unknown before sending it again. Used by bot.slack.delivery.sender."""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack.out.gateway import SlackGateway
from bot.storage import outbox, repo
from bot.storage import outbox_delivery as delivery
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
Recording = Callable[[AsyncSession], Awaitable[None]]  # a write done with an outcome


class Held(Exception):
    """The item cannot go yet (its channel does not exist, or it waits for another item)."""


class RateLimited(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited for {seconds}s")
        self.seconds = seconds


class Unknown(Exception):
    """The call may or may not have reached Slack (timeout, connection lost, 5xx)."""


class SlackOperations:
    """The Slack side of delivering; the sender adds the lanes, leases and the loop."""

    db: Database
    slack: SlackGateway
    calls: int
    _channels: dict[int, str]
    # What an item did in Slack (a card posted, a channel created), recorded in the
    # transaction that records the item's outcome.
    _then: dict[int, Recording]

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
                channel = await delivery.incident_channel(session, number)
            if not channel:
                return None
            self._channels[number] = channel
        return self._channels[number]

    async def _channel(self, item: delivery.Item) -> str:
        if item.channel_id:
            return item.channel_id
        channel = await self._incident_channel(int(item.incident_id or 0))
        if not channel:
            raise Held(f"INC-{item.incident_id} has no channel yet")
        return channel

    async def _target(self, item: delivery.Item) -> tuple[str, str]:
        """Where the item goes and, for a post, its text; Held when that is not known yet."""
        if item.op == "create_channel":
            return "", ""
        channel = await self._channel(item)
        text = await self._post_text(item) if item.op == "post" else ""
        return channel, text

    async def _perform(
        self, item: delivery.Item, channel: str, text: str, *, uncertain: bool
    ) -> dict[str, Any]:
        if item.op == "create_channel":
            return await self._create_channel(item, uncertain=uncertain)
        if item.op == "post":
            return await self._post(item, channel, text, item.payload.get("blocks"), uncertain)
        if item.op == "card":
            return await self._post_card(item, channel, uncertain)
        if item.op == "invite":
            await self._call(self.slack.invite(channel, list(item.payload.get("users") or [])))
            return {}
        if item.op == "upload":
            p = item.payload
            content = base64.b64decode(p["content_b64"]) if "content_b64" in p else p["content"]
            url = await self._call(
                self.slack.upload(
                    channel,
                    content=content,
                    filename=p["filename"],
                    title=p["title"],
                    comment=p.get("comment"),
                )
            )
            return {"permalink": url}
        log.warning("unknown outbox op %r (item %s)", item.op, item.id)
        return {}

    async def _create_channel(self, item: delivery.Item, *, uncertain: bool) -> dict[str, Any]:
        number = int(item.incident_id or 0)
        name = str(item.payload["name"])
        found = None
        if uncertain or item.attempts:  # an earlier try may have created it
            async with self.db.session() as session:
                existing = await delivery.incident_channel(session, number)
            if existing:
                return {"channel": existing}
            # Its answer may have been lost: adopt the channel it created.
            found = await self._created_before(name)
        channel_id, name = found or await self._call(self.slack.create_channel(name))
        self._then[item.id] = functools.partial(
            delivery.set_incident_channel, incident=number, channel_id=channel_id, name=name
        )
        self._channels[number] = channel_id  # the incident's next items go there
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

    async def _post_text(self, item: delivery.Item) -> str:
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
                found = await delivery.item_result(session, int(upload))
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

    async def _summary_link(self, item: delivery.Item) -> str | None:
        async with self.db.session() as session:
            ts = await outbox.card_ts(session, int(item.incident_id or 0), "summary")
            channel = await delivery.incident_channel(session, int(item.incident_id or 0))
        if not ts or not channel:
            return None
        self.calls += 1
        return await self.slack.permalink(channel, ts)

    async def _post(
        self,
        item: delivery.Item,
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

    async def _post_card(
        self, item: delivery.Item, channel: str, uncertain: bool
    ) -> dict[str, Any]:
        number = int(item.incident_id or 0)
        card = item.rendered
        if card is None or item.status != "pending":  # read afresh when in doubt
            async with self.db.session() as session:
                card = await delivery.get_card(session, number, item.card or "")
        if card is None or card.ts:
            return {"ts": card.ts if card else None}  # posted already; updates go in place
        result = await self._post(item, channel, card.text, card.blocks, uncertain)
        if not card.pin:  # recorded with the item's outcome, in one transaction
            self._then[item.id] = functools.partial(
                card_posted, card=card, channel=channel, ts=result["ts"]
            )
            return result
        # Recorded before the pin: a pin that fails must not make a retry post it again.
        async with self.db.transaction() as session:
            await card_posted(session, card, channel, result["ts"])
        await self._call(self.slack.pin(channel, result["ts"]))
        return result

    async def _update_cards(self, lane: str) -> None:
        async with self.db.session() as session:
            cards = await delivery.dirty_cards(session, lane)
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
                        await delivery.card_lost(session, card)
                    elif error in TRANSIENT:
                        raise Unknown(str(error)) from exc
                    else:  # refused for good (e.g. a topic Slack will not take): stop trying
                        log.warning(
                            "Slack refused card %s of INC-%s: %s",
                            card.kind,
                            card.incident_id,
                            error,
                        )
                        await delivery.card_sent(session, card.id, card.version, None)
                continue
            async with self.db.transaction() as session:
                await delivery.card_sent(session, card.id, card.version, None)


async def card_posted(session: Any, card: delivery.Card, channel: str, ts: str) -> None:
    await delivery.card_sent(session, card.id, card.version, ts)
    await repo.remember_message(session, card.incident_id, card.kind, channel, ts)


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0
