"""Job kinds: one home for the name a job is queued under and its handler is registered for.

Whoever queues a job (storage.jobs.add_job / schedule_once) names its kind here, and
bot/job_handlers.py maps every kind to the function that runs it; tests/test_job_kinds.py
checks that each kind has its handler and is queued somewhere. The values are stored in the
jobs table: existing databases hold them, so a value never changes.
"""

from __future__ import annotations

import enum


class JobKind(enum.StrEnum):
    PAGERDUTY_EVENT = "pagerduty.event"  # a stored PagerDuty webhook delivery
    INCIDENT_SETUP = "incident.setup"  # a new incident's context and announcements
    INCIDENT_OBSERVE = "incident.observe"
    INCIDENT_ORIENT = "incident.orient"
    INCIDENT_DECIDE = "incident.decide"  # the playbook suggestions
    INCIDENT_RESPONDERS = "incident.responders"  # invite the PagerDuty assignees and on-call
    INCIDENT_REMINDER = "incident.reminder"
    INCIDENT_POSTMORTEM = "incident.postmortem"
    ACTION_RUN = "action.run"
    ACTION_VERIFY = "action.verify"
    MAINTENANCE = "maintenance"  # e.g. report runs a dead process left behind
    STORAGE_RETENTION = "storage.retention"
    SLACK_PIN = "slack.pin"  # a 📌 reaction added or removed
    SLACK_INTERACTION = "slack.interaction"  # a stored click, submission or command
