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
    add_decision,
    add_followup,
    decisions,
    followup_rows,
    followups,
    playbook_outcomes,
    running_action_runs,
    set_followup_url,
    update_action_run_if,
)
from bot.storage.repo.changes import (
    caused_incidents,
    change_exists,
    change_from_row,
    changes_since,
    earlier_changes,
    ranked_changes,
    save_ranking,
    set_verdict,
    upsert_change,
)
from bot.storage.repo.drills import (
    add_drill,
    drill,
    drill_started_by,
    drills,
    marked_changes,
    planted_changes_of,
)
from bot.storage.repo.inbound import inbound_event, record_inbound
from bot.storage.repo.incident_list import (
    IncidentFilter,
    IncidentPage,
    incident_page,
    incident_services,
    timeline_after,
)
from bot.storage.repo.incidents import (
    active_incidents,
    create_incident,
    get_incident,
    incident_by_channel,
    incident_by_pagerduty,
    link_pagerduty,
    move_or_link_pagerduty,
    open_incident_on_pagerduty_service,
    pagerduty_links,
    pagerduty_service_id,
    resolved_incidents_since,
    to_view,
)
from bot.storage.repo.messages import message_ts, remember_message
from bot.storage.repo.pagerduty_keys import pagerduty_ordering_key
from bot.storage.repo.samples import incident_samples
from bot.storage.repo.sign_ins import start_sign_in, take_sign_in
from bot.storage.repo.stages import close_spans, closed_spans, move_stage, restart_loop, spans
from bot.storage.repo.timeline_entries import (
    add_entry,
    claim_mirrored_note,
    count_entries,
    has_entry,
    last_note_at,
    remove_entry,
    set_mirrored_note,
    timeline,
)

__all__ = [
    "IncidentFilter",
    "IncidentPage",
    "action_from_row",
    "action_run",
    "action_run_leases",
    "action_runs",
    "active_incidents",
    "add_decision",
    "add_drill",
    "add_entry",
    "add_followup",
    "caused_incidents",
    "change_exists",
    "change_from_row",
    "changes_since",
    "claim_mirrored_note",
    "close_spans",
    "closed_spans",
    "count_entries",
    "create_incident",
    "decisions",
    "drill",
    "drill_started_by",
    "drills",
    "earlier_changes",
    "followup_rows",
    "followups",
    "get_incident",
    "has_entry",
    "inbound_event",
    "incident_by_channel",
    "incident_by_pagerduty",
    "incident_page",
    "incident_samples",
    "incident_services",
    "last_note_at",
    "link_pagerduty",
    "marked_changes",
    "message_ts",
    "move_or_link_pagerduty",
    "move_stage",
    "open_incident_on_pagerduty_service",
    "pagerduty_links",
    "pagerduty_ordering_key",
    "pagerduty_service_id",
    "planted_changes_of",
    "playbook_outcomes",
    "ranked_changes",
    "record_inbound",
    "remember_message",
    "remove_entry",
    "resolved_incidents_since",
    "restart_loop",
    "running_action_runs",
    "save_ranking",
    "set_followup_url",
    "set_mirrored_note",
    "set_verdict",
    "spans",
    "start_sign_in",
    "take_sign_in",
    "timeline",
    "timeline_after",
    "to_view",
    "update_action_run_if",
    "upsert_change",
]
