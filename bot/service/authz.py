"""Who may change an incident from Slack: its responders.

A Slack user is a responder of an incident when, checked in this order (the database first,
Slack only when it knows nothing):

1. they declared it, or hold one of its roles (commander, comms, scribe);
2. the bot invited them to its channel: the declarer, whoever was given a role, the PagerDuty
   assignees and on-call matched to Slack users by email;
3. they acted on its timeline themselves (a note, a stage move, an acknowledgement, a verdict,
   a decision, an action, a follow-up); a pinned message's author and a PagerDuty user do not
   count;
4. they are a member of its channel now (conversations.members): someone who joined to help.

Every button and modal that changes an incident checks this (bot.slack.listen.authorize), and a
click must also come from that incident's own channel. A refusal runs nothing.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.service.runtime import Runtime
from bot.storage import repo
from bot.storage.repo.responders import responder_evidence

log = logging.getLogger(__name__)


async def is_responder(rt: Runtime, number: int, user: str | None) -> bool:
    """`user` counts as a responder of the incident (see the module doc)."""
    if not user:
        return False
    async with rt.db.session() as session:
        if await responder_evidence(session, number, user) is not None:
            return True
        incident = await repo.get_incident(session, number)
        channel = incident.channel_id if incident else None
    if not channel:
        return False
    try:
        return await rt.slack.is_member(channel, user)
    except SlackApiError as exc:  # cannot tell: refuse, and say so in the log
        log.warning("could not read the members of %s: %s", channel, exc.response.get("error"))
        return False


def not_a_responder(number: int, command: str) -> str:
    return (
        f"Only responders of INC-{number} may do that: join its channel, or ask its "
        f"commander for a role (`{command} role <role> @you`)."
    )


async def refusal(rt: Runtime, number: int, user: str | None) -> str | None:
    """Why `user` may not change the incident; None when they may."""
    if await is_responder(rt, number, user):
        return None
    return not_a_responder(number, rt.settings.slash_command)
