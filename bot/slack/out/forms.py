"""Block Kit modals: one function per form the bot opens. What a submission carries back is
read by bot.slack.listen.modals (and bot.slack.listen.events for the incident picker)."""

from __future__ import annotations

import json

from bot.domain.model import IncidentView
from bot.domain.playbooks import Suggestion
from bot.slack.ids import BlockId, ViewId
from bot.slack.out import blocks as bk
from bot.slack.out.text import escape, render


def confirm_action(inc: IncidentView, s: Suggestion, *, dry_run: bool, key: str) -> bk.Block:
    """The modal that shows exactly what will run, with resolved parameters."""
    steps = "\n".join(
        f"• `{step.action}` "
        + ", ".join(
            f"{escape(k)}=`{escape(json.dumps(v) if not isinstance(v, str) else v)}`"
            for k, v in step.with_.items()
        )
        for step in s.steps
    )
    blocks = [
        bk.section(render("confirm_intro", s=s, inc=inc, dry_run=dry_run)),
        bk.section(render("confirm_steps", steps=steps)),
        bk.text_input(
            BlockId.REASON,
            "Why this action? (goes in the decision log)",
            optional=True,
            multiline=True,
        ),
    ]
    meta = json.dumps({"k": key, "e": s.evidence[:5]})
    if len(meta) > 3000:
        meta = json.dumps({"k": key, "e": []})
    return bk.modal(
        ViewId.ACT_CONFIRM, "Confirm action", blocks, submit="Run", private_metadata=meta
    )


def declare_modal(services: list[str], *, channel_id: str) -> bk.Block:
    blocks = [
        bk.text_input(BlockId.TITLE, "Title", placeholder="Checkout returns 500s"),
        bk.static_select(
            BlockId.SEVERITY,
            "Severity",
            [(f"SEV{i}", f"SEV{i}") for i in range(1, 5)],
            initial="SEV3",
        ),
        bk.text_input(BlockId.DESCRIPTION, "What do you see?", multiline=True, optional=True),
    ]
    if services:
        blocks.insert(2, bk.static_select(BlockId.SERVICE, "Service", [(s, s) for s in services]))
    return bk.modal(
        ViewId.DECLARE, "Declare incident", blocks, submit="Declare", private_metadata=channel_id
    )


def resolve_modal(inc: IncidentView) -> bk.Block:
    blocks = [
        bk.text_input(BlockId.SUMMARY, "Summary", multiline=True, initial=inc.summary),
        bk.text_input(BlockId.IMPACT, "Impact", multiline=True, optional=True, initial=inc.impact),
        bk.text_input(
            BlockId.ROOT_CAUSE, "Root cause", multiline=True, optional=True, initial=inc.root_cause
        ),
    ]
    return bk.modal(
        ViewId.RESOLVE,
        f"Resolve {inc.ref}",
        blocks,
        submit="Resolve",
        private_metadata=str(inc.number),
    )


def other_decision_modal(inc: IncidentView, playbooks: list[tuple[str, str]]) -> bk.Block:
    pick = bk.static_select(BlockId.PLAYBOOK, "Run a playbook", playbooks)
    pick["optional"] = True
    blocks = [
        pick,
        bk.text_input(
            BlockId.DECISION, "…or write your own decision", multiline=True, optional=True
        ),
        bk.text_input(BlockId.REASON, "Why?", multiline=True, optional=True),
    ]
    return bk.modal(
        ViewId.DECIDE_OTHER, "Decide", blocks, submit="Decide", private_metadata=str(inc.number)
    )


def postmortem_edit_modal(inc: IncidentView) -> bk.Block:
    """`/incident postmortem edit`: summary, impact and root cause, prefilled."""
    blocks = [
        bk.text_input(
            BlockId.SUMMARY, "Summary", multiline=True, optional=True, initial=inc.summary
        ),
        bk.text_input(BlockId.IMPACT, "Impact", multiline=True, optional=True, initial=inc.impact),
        bk.text_input(
            BlockId.ROOT_CAUSE, "Root cause", multiline=True, optional=True, initial=inc.root_cause
        ),
    ]
    return bk.modal(
        ViewId.POSTMORTEM_EDIT,
        f"{inc.ref} postmortem",
        blocks,
        submit="Save",
        private_metadata=str(inc.number),
    )


def timeline_pick_modal(active: list[IncidentView], metadata: str) -> bk.Block:
    """The "Add to incident timeline" shortcut outside an incident channel: which incident?"""
    options = [(f"{i.ref} · {i.title}"[:75], str(i.number)) for i in active]
    blocks = [bk.static_select(BlockId.INCIDENT, "Incident", options)]
    return bk.modal(
        ViewId.TIMELINE_PICK, "Add to timeline", blocks, submit="Add", private_metadata=metadata
    )
