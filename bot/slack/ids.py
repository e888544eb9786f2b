"""Every id Slack sends back to the bot: one home for each contract.

A button's action_id, a modal's or shortcut's callback_id, and the block_ids of modal inputs are
written by what emits them (bot.slack.out.views, the manifest) and matched by what listens
(bot.slack.listen.actions, modals, events). Both sides name the constant here, never the string, so an
id is renamed on both sides at once; tests/slack/test_ids_have_listeners.py renders every view
and checks each id it emits has its listener.

The values are stored in Slack with every message already posted: renaming one orphans the
buttons of older messages (the fallback acks their clicks and logs a warning).
"""

from __future__ import annotations

import enum

from bot.domain.model import Stage, Verdict


class ActionId(enum.StrEnum):
    """Buttons (action_id)."""

    INCIDENT_ACK = "incident_ack"
    INCIDENT_RESOLVE = "incident_resolve"
    STAGE_OBSERVE = "stage_observe"
    STAGE_ORIENT = "stage_orient"
    STAGE_DECIDE = "stage_decide"
    STAGE_ACT = "stage_act"
    VERDICT_SUSPECT = "verdict_suspect"
    VERDICT_CAUSED = "verdict_caused"
    VERDICT_NOT_RELATED = "verdict_not_related"
    PAGERDUTY_SPLIT = "pagerduty_split"
    DECIDE_RUN = "decide_run"
    DECIDE_OTHER = "decide_other"
    ACT_APPROVE = "act_approve"
    ACT_CANCEL = "act_cancel"
    SNOOZE_15 = "reminder_snooze_15"
    SNOOZE_60 = "reminder_snooze_60"


def stage_button(stage: Stage) -> ActionId:
    """The button that moves an incident to `stage`."""
    return ActionId(f"stage_{stage.value}")


def verdict_button(verdict: Verdict) -> ActionId:
    """The button that marks a change with `verdict`."""
    return ActionId(f"verdict_{verdict.value}")


def snooze_button(minutes: int) -> ActionId:
    """The button that snoozes a reminder for `minutes` (a ValueError for any other length)."""
    return ActionId(f"reminder_snooze_{minutes}")


class ViewId(enum.StrEnum):
    """Modals (callback_id)."""

    DECLARE = "declare"
    RESOLVE = "resolve"
    POSTMORTEM_EDIT = "postmortem_edit"
    ACT_CONFIRM = "act_confirm"
    DECIDE_OTHER = "decide_other"
    TIMELINE_PICK = "timeline_pick"


class ShortcutId(enum.StrEnum):
    """Message shortcuts (callback_id), declared in the manifest."""

    ADD_TO_TIMELINE = "add_to_timeline"


class BlockId(enum.StrEnum):
    """block_ids: a modal's inputs (what a submission's values are keyed by, and where a
    validation error is shown) and the rows of buttons."""

    TITLE = "title"
    SEVERITY = "severity"
    SERVICE = "service"
    DESCRIPTION = "description"
    SUMMARY = "summary"
    IMPACT = "impact"
    ROOT_CAUSE = "root_cause"
    REASON = "reason"
    PLAYBOOK = "playbook"
    DECISION = "decision"
    INCIDENT = "incident"
    OBSERVE_ACTIONS = "observe_actions"
    REMINDER_ACTIONS = "reminder_actions"


# The incident's own texts, edited in the resolve and postmortem modals: each input's block_id
# is the name of the field it fills.
INCIDENT_TEXTS = (BlockId.SUMMARY, BlockId.IMPACT, BlockId.ROOT_CAUSE)
