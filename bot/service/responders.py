"""Bring PagerDuty's responders into the incident channel: on-call and assignees, by email.

PagerDuty users are matched to Slack users through their email (users.lookupByEmail). Every
step may fail (no token, unknown user, Slack error): the incident goes on without them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bot.domain.model import IncidentView, TimelineKind
from bot.service import cards
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import repo

log = logging.getLogger(__name__)


def user_ids(refs: Iterable[dict[str, Any] | None]) -> list[str]:
    """Distinct PagerDuty user ids from user references, in order."""
    seen: list[str] = []
    for user in refs:
        user_id = (user or {}).get("id")
        is_user = (user or {}).get("type", "user_reference") in ("user", "user_reference")
        if user_id and is_user and user_id not in seen:
            seen.append(user_id)
    return seen


async def slack_users_for(rt: Runtime, pd_user_ids: list[str]) -> dict[str, str]:
    """PagerDuty user id → Slack user id, for the users we could match by email."""
    if rt.pagerduty is None:
        return {}
    matched: dict[str, str] = {}
    for pd_user in pd_user_ids:
        try:
            user = await rt.pagerduty.get_user(pd_user)
            email = user.get("email")
            slack_user = await rt.slack.lookup_user_by_email(email) if email else None
        except Exception:  # one unknown responder must not stop the others
            log.warning("could not match PagerDuty user %s to Slack", pd_user, exc_info=True)
            continue
        if slack_user:
            matched[pd_user] = slack_user
    return matched


async def invite(rt: Runtime, number: int, pd_user_ids: list[str], *, why: str) -> list[str]:
    """Invite the Slack users behind these PagerDuty users; returns the Slack ids invited."""
    if not pd_user_ids:
        return []
    try:
        matched = (await slack_users_for(rt, pd_user_ids)).values()
        already = await _invited_before(rt, number)
        slack_ids = [u for u in dict.fromkeys(matched) if u not in already]
        if not slack_ids:
            return []
        async with rt.db.transaction() as session:
            await cards.invite(session, number, slack_ids)
            await repo.add_entry(
                session,
                number,
                TimelineKind.PAGERDUTY,
                f"Invited {why}: " + ", ".join(f"<@{u}>" for u in slack_ids),
                data={"invited": slack_ids, "pd_users": pd_user_ids},
            )
            await cards.say(session, number, render("responders_invited", users=slack_ids, why=why))
        return slack_ids
    except Exception:  # inviting is a courtesy; the incident never waits on it
        log.warning("could not invite responders to INC-%s", number, exc_info=True)
        return []


async def _invited_before(rt: Runtime, number: int) -> set[str]:
    """Slack users this module invited already: a re-escalation to them says nothing new."""
    async with rt.db.session() as session:
        entries = await repo.timeline(session, number)
    return {
        user
        for e in entries
        if e.kind is TimelineKind.PAGERDUTY
        for user in e.data.get("invited") or []
    }


async def invite_assignees_and_oncall(rt: Runtime, inc: IncidentView) -> list[str]:
    """At channel set-up: invite whoever PagerDuty assigned, then the current on-call of the
    incident's escalation policy, from one fetch of the PagerDuty incident. Returns the Slack
    ids invited. Best effort: a missing user or a PagerDuty error never stops the set-up."""
    if rt.pagerduty is None or not inc.pd_incident_id:
        return []
    try:
        pd_incident = await rt.pagerduty.get_incident(inc.pd_incident_id)
    except Exception:
        log.warning("could not fetch the PagerDuty incident of %s", inc.ref, exc_info=True)
        return []
    assignees = await _invite_assignees(rt, inc, pd_incident)
    oncall = await _invite_oncall(rt, inc, pd_incident)
    return assignees + oncall


async def _invite_assignees(
    rt: Runtime, inc: IncidentView, pd_incident: dict[str, Any]
) -> list[str]:
    """The assignees, matched to Slack users by email, invited straight into the channel (no
    timeline entry, no message)."""
    found: list[str] = []
    try:
        assignees = [a.get("assignee") for a in pd_incident.get("assignments") or []]
        # Matched one by one: an unknown PagerDuty user does not stop the others.
        found = list((await slack_users_for(rt, user_ids(assignees))).values())
        async with rt.db.transaction() as session:
            await cards.invite(session, inc.number, found)
    except Exception:
        log.warning("could not invite PagerDuty assignees to %s", inc.ref, exc_info=True)
    return found


async def _invite_oncall(rt: Runtime, inc: IncidentView, pd_incident: dict[str, Any]) -> list[str]:
    """The current on-call of the incident's escalation policy, invited through `invite` (on the
    timeline, said in the channel)."""
    assert rt.pagerduty is not None
    try:
        policy = (pd_incident.get("escalation_policy") or {}).get("id")
        oncall = await rt.pagerduty.oncall_users(policy) if policy else []
    except Exception:
        log.warning("could not look up the on-call for %s", inc.ref, exc_info=True)
        return []
    return await invite(rt, inc.number, user_ids(oncall), why="from PagerDuty on-call")
