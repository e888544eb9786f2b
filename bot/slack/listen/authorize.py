"""Refusing a Slack click or submission that would change an incident its sender may not.

A button's value, or a modal's private_metadata, names the incident it acts on: Slack signs the
request, but the value is only what some message said. So a click must come from the channel of
the incident it names, and whoever clicks or submits must be one of that incident's responders
(bot.service.authz). A refusal is an ephemeral message saying why; nothing runs.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.service import authz
from bot.service.runtime import Runtime
from bot.slack.listen.interactions import channel_id, kind_of, user_id
from bot.storage import repo
from bot.storage.repo import interactions as stored

log = logging.getLogger(__name__)


async def click_refusal(rt: Runtime, body: dict[str, Any], named: int | None) -> str | None:
    """Why this click may not change incident `named` (None: it names none, or it may)."""
    if named is None:
        return None
    async with rt.db.session() as session:
        here = await stored.incident_for_channel(session, channel_id(body))
    if here != named:
        return (
            f"That button is for INC-{named}, and this is not its channel: "
            f"use the buttons in INC-{named}'s own channel."
        )
    return await authz.refusal(rt, named, user_id(body))


async def submission_refusal(rt: Runtime, body: dict[str, Any], named: int | None) -> str | None:
    """Why this modal submission may not change incident `named`: modals carry no channel, so
    only the responder check applies (the bot opened the modal from a checked click)."""
    if named is None:
        return None
    return await authz.refusal(rt, named, user_id(body))


async def tell(rt: Runtime, body: dict[str, Any], number: int | None, why: str) -> None:
    """The refusal as an ephemeral message: where the click came from, else in the incident's
    channel. Best effort: someone outside a channel cannot be shown one there."""
    user = user_id(body)
    channel = channel_id(body)
    if channel is None and number is not None:
        async with rt.db.session() as session:
            row = await repo.get_incident(session, number)
        channel = row.channel_id if row else None
    log.info("refused a Slack %s by %s: %s", kind_of(body), user, why)
    if not (user and channel):
        return
    try:
        await rt.slack.ephemeral(channel, user, f":no_entry: {why}")
    except SlackApiError as exc:
        log.info("could not tell %s why: %s", user, exc.response.get("error"))
