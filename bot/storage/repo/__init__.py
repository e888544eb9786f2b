"""Queries and writes over the tables, returning domain values. Callers own the transaction.

One module per concern; every function is re-exported here, so callers keep writing
``from bot.storage import repo`` and ``repo.get_incident(...)``.
"""

from __future__ import annotations

from bot.storage.repo.actions import (
    action_from_row,
    action_run,
    action_run_leases,
    action_runs,
    add_followup,
    decisions,
    followup_rows,
    followups,
    running_action_runs,
    update_action_run_if,
)
from bot.storage.repo.changes import (
    change_from_row,
    changes_since,
    ranked_changes,
    save_ranking,
    set_verdict,
    upsert_change,
)
from bot.storage.repo.inbound import record_inbound
from bot.storage.repo.incidents import (
    active_incidents,
    create_incident,
    get_incident,
    incident_by_channel,
    incident_by_pagerduty,
    link_pagerduty,
    move_or_link_pagerduty,
    pagerduty_links,
    to_view,
)
from bot.storage.repo.messages import message_ts, remember_message
from bot.storage.repo.stages import close_spans, move_stage, spans
from bot.storage.repo.timeline_entries import (
    add_entry,
    claim_mirrored_note,
    remove_entry,
    set_mirrored_note,
    timeline,
)

__all__ = [
    "action_from_row",
    "action_run",
    "action_run_leases",
    "action_runs",
    "active_incidents",
    "add_entry",
    "add_followup",
    "change_from_row",
    "changes_since",
    "claim_mirrored_note",
    "close_spans",
    "create_incident",
    "decisions",
    "followup_rows",
    "followups",
    "get_incident",
    "incident_by_channel",
    "incident_by_pagerduty",
    "link_pagerduty",
    "message_ts",
    "move_or_link_pagerduty",
    "move_stage",
    "pagerduty_links",
    "ranked_changes",
    "record_inbound",
    "remember_message",
    "remove_entry",
    "running_action_runs",
    "save_ranking",
    "set_mirrored_note",
    "set_verdict",
    "spans",
    "timeline",
    "to_view",
    "update_action_run_if",
    "upsert_change",
]
