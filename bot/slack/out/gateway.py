"""The one way the bot talks to Slack: slack_sdk with retry handlers, per-channel ordering."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

MAX_CHANNEL_NAME = 80


def build_web_client(
    token: str | None, base_url: str, *, retries: bool = True, timeout: float = 15
) -> AsyncWebClient:
    """The bot's Web API client. `retries=False` is the outbox sender's: it handles 429 per
    channel itself, and must not blindly re-send a post whose outcome is unknown."""
    handlers: list[AsyncRetryHandler] = (
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
            AsyncConnectionErrorRetryHandler(max_retry_count=3),
        ]
        if retries
        else []
    )
    if not base_url.endswith("/"):
        base_url += "/"
    return AsyncWebClient(
        token=token, base_url=base_url, retry_handlers=handlers, timeout=int(timeout)
    )


class SlackGateway:
    """Wraps AsyncWebClient. Writes to one channel are serialized so messages keep their order
    even when a 429 makes one of them wait."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
    ) -> str:
        async with self._locks[channel]:
            response = await self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
            )
        return str(response["ts"])

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        async with self._locks[channel]:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    async def ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)

    async def create_channel(self, name: str) -> tuple[str, str]:
        """Create a public channel; on a name collision try -2, -3, ... within 80 chars."""
        base = name[:MAX_CHANNEL_NAME]
        for attempt in range(1, 50):
            candidate = base if attempt == 1 else _suffixed(base, attempt)
            try:
                response = await self.client.conversations_create(name=candidate)
            except SlackApiError as exc:
                if exc.response.get("error") == "name_taken":
                    continue
                raise
            channel = response["channel"]
            return str(channel["id"]), str(channel["name"])
        raise RuntimeError(f"no free channel name for {base!r}")

    async def set_topic(self, channel: str, topic: str) -> None:
        await self.client.conversations_setTopic(channel=channel, topic=topic[:250])

    async def invite(self, channel: str, users: list[str]) -> None:
        users = sorted(set(u for u in users if u))
        if not users:
            return
        try:
            await self.client.conversations_invite(channel=channel, users=",".join(users))
        except SlackApiError as exc:
            # already_in_channel / cant_invite_self are not failures for us.
            if exc.response.get("error") not in {"already_in_channel", "cant_invite_self"}:
                raise

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self.client.pins_add(channel=channel, timestamp=ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_pinned":
                raise

    async def react(self, channel: str, ts: str, name: str) -> None:
        try:
            await self.client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                raise

    async def unreact(self, channel: str, ts: str, name: str) -> None:
        try:
            await self.client.reactions_remove(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if exc.response.get("error") not in {"no_reaction", "message_not_found"}:
                raise

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One top-level message by its ts (conversations.history latest=ts inclusive)."""
        response = await self.client.conversations_history(
            channel=channel, latest=ts, inclusive=True, limit=1
        )
        found = (response.get("messages") or [None])[0]
        return found if isinstance(found, dict) and found.get("ts") == ts else None

    async def is_member(self, channel: str, user: str, *, pages: int = 20) -> bool:
        """`user` is a member of the channel (conversations.members, page by page)."""
        cursor = None
        for _ in range(pages):
            response = await self.client.conversations_members(
                channel=channel, cursor=cursor, limit=1000
            )
            if user in (response.get("members") or []):
                return True
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
        return False

    async def lookup_user_by_email(self, email: str) -> str | None:
        try:
            response = await self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.client.views_open(trigger_id=trigger_id, view=view)

    async def upload(
        self,
        channel: str,
        *,
        content: str | bytes,
        filename: str,
        title: str,
        comment: str | None = None,
    ) -> str | None:
        """Upload a file to the channel; returns its permalink when Slack sends one."""
        async with self._locks[channel]:
            response = await self.client.files_upload_v2(
                channel=channel,
                content=content,
                filename=filename,
                title=title,
                initial_comment=comment,
            )
        uploaded = response.get("file") or {}
        return uploaded.get("permalink") if isinstance(uploaded, dict) else None

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        return str(response["permalink"]) if response.get("permalink") else None


def _suffixed(base: str, n: int) -> str:
    suffix = f"-{n}"
    return base[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-") + suffix


async def display_names(gateway: SlackGateway, user_ids: set[str]) -> dict[str, str]:
    """Slack user id -> display name, fetched concurrently; unknown ids are left out."""

    async def one(user_id: str) -> tuple[str, str | None]:
        try:
            response = await gateway.client.users_info(user=user_id)
        except SlackApiError:
            return user_id, None
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        return user_id, profile.get("display_name") or user.get("real_name") or user.get("name")

    results = await asyncio.gather(*(one(u) for u in sorted(user_ids)))
    return {user_id: name for user_id, name in results if name}
