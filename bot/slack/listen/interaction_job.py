"""The `slack.interaction` job: a stored interaction (bot.slack.listen.interactions), replayed
through its listener module's handler once the stored refusal check lets it.

It sits above the listener modules (commands, actions, modals, events) and authorize: it looks
their handlers up, and they import bot.slack.listen.interactions, never this module.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.service.runtime import Runtime
from bot.slack.ids import ViewId
from bot.slack.listen import actions, authorize, commands, events, modals
from bot.slack.listen.interactions import Work, channel_id, interaction_key, kind_of, report_failure
from bot.storage.repo import interactions as stored

log = logging.getLogger(__name__)

# Submissions that change no existing incident: a declaration opens a new one.
UNCHECKED_VIEWS = frozenset({ViewId.DECLARE})


async def run(rt: Runtime, payload: dict[str, Any]) -> None:
    """The `slack.interaction` job: the stored payload, through its listener's handler."""
    async with rt.db.session() as session:
        body = await stored.interaction(session, int(payload["inbound"]))
    if body is None:
        log.warning("stored Slack interaction %s is gone", payload.get("inbound"))
        return
    work = _handler(body)
    if work is None:
        log.warning("no handler for stored Slack interaction %s", interaction_key(body))
        return
    try:
        number, why = await stored_refusal(rt, body)
        if why is not None:  # not this person's incident, or not from its channel
            await authorize.tell(rt, body, number, why)
            return
        await work(rt, body)
    except Exception as exc:  # told to the user, like a listener failing; not retried
        await report_failure(rt, body, exc)


def _handler(body: dict[str, Any]) -> Work | None:
    kind = kind_of(body)
    if kind == "slash_command":
        return commands.run_stored
    if kind == "block_actions":
        return actions.STORED.get(str((body.get("actions") or [{}])[0].get("action_id")))
    if kind == "view_submission":
        return modals.STORED.get(str((body.get("view") or {}).get("callback_id")))
    if kind == "message_action":
        return events.run_shortcut
    return None


async def stored_refusal(rt: Runtime, body: dict[str, Any]) -> tuple[int | None, str | None]:
    """The incident the stored interaction changes and why it may not (None when it may)."""
    kind = kind_of(body)
    async with rt.db.session() as session:
        if kind == "block_actions":
            named = await actions.locate(session, body)
        elif kind == "view_submission":
            if (body.get("view") or {}).get("callback_id") in UNCHECKED_VIEWS:
                return None, None
            named = await modals.locate(session, body)
        elif kind == "message_action":  # a shortcut stored only in an incident channel
            named = await stored.incident_for_channel(session, channel_id(body))
        else:
            return None, None
    if kind == "block_actions":
        return named, await authorize.click_refusal(rt, body, named)
    return named, await authorize.submission_refusal(rt, body, named)
