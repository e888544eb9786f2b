"""Everything a postmortem shows, gathered in one value, plus what templates derive from it.

The document is treated as immutable once built: derived values are computed once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from bot.domain.metrics import KeyNumbers, key_numbers, mitigation_time
from bot.domain.model import (
    STAGE_ORDER,
    ActionRun,
    Decision,
    FollowUp,
    IncidentView,
    RankedChange,
    Stage,
    StageSpan,
    TimelineEntry,
    utcnow,
)
from bot.domain.stages import LoopIteration, loop_iterations

# Actors on the timeline that are not people.
SYSTEM_ACTORS = frozenset(
    {"system", "bot", "ooda", "ooda-bot", "pagerduty", "github", "argocd", "webhook", "slack"}
)
ROLE_ORDER = ("commander", "comms", "scribe")


@dataclass(frozen=True)
class Participant:
    user_id: str
    name: str
    roles: tuple[str, ...]
    first_seen: datetime | None
    entries: int  # timeline entries by this person

    @property
    def role_label(self) -> str:
        return ", ".join(r.replace("_", " ").capitalize() for r in self.roles) or "Responder"


@dataclass(frozen=True)
class KeyNumberRow:
    label: str
    value: timedelta | None


@dataclass(frozen=True)
class KeyEvent:
    """A moment marked on the chart."""

    at: datetime
    kind: str  # opened | acknowledged | decision | action | mitigated | resolved
    label: str


@dataclass
class PostmortemDoc:
    incident: IncidentView
    spans: list[StageSpan] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    changes: list[RankedChange] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    actions: list[ActionRun] = field(default_factory=list)
    followups: list[FollowUp] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # Slack user id -> display name
    services: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    generated_at: datetime = field(default_factory=utcnow)
    drill: dict[str, Any] | None = None  # a drill's scorecard (bot.domain.drills.scoring)

    # ------------------------------------------------------------------ basics

    @property
    def title(self) -> str:
        return f"{self.incident.ref}: {self.incident.title}"

    @property
    def end_at(self) -> datetime:
        """Where loop time stops counting: resolution, or now if still open."""
        return self.incident.resolved_at or self.generated_at

    @cached_property
    def service_names(self) -> list[str]:
        if self.services:
            return list(self.services)
        return [self.incident.service] if self.incident.service else []

    @cached_property
    def mitigated_at(self) -> datetime | None:
        return mitigation_time(self.incident, self.actions)

    def display_name(self, user: str | None) -> str:
        if not user:
            return "—"
        return self.names.get(user, user)

    # ------------------------------------------------------------------ numbers

    @cached_property
    def key_numbers(self) -> KeyNumbers:
        return key_numbers(self.incident, self.spans, self.decisions, self.actions)

    @cached_property
    def key_number_rows(self) -> list[KeyNumberRow]:
        k = self.key_numbers
        return [
            KeyNumberRow("Time to acknowledge", k.time_to_acknowledge),
            KeyNumberRow("Time to first Orient", k.time_to_first_orient),
            KeyNumberRow("Time to first decision", k.time_to_first_decision),
            KeyNumberRow("Time to mitigation", k.time_to_mitigation),
            KeyNumberRow("Time to resolve", k.time_to_resolve),
        ]

    @cached_property
    def iterations(self) -> list[LoopIteration]:
        return loop_iterations(self.spans, now=self.end_at)

    @cached_property
    def stage_totals(self) -> dict[Stage, timedelta]:
        totals = {stage: timedelta() for stage in STAGE_ORDER}
        for loop in self.iterations:
            for stage, spent in loop.durations.items():
                totals[stage] += spent
        return totals

    @property
    def loop_total(self) -> timedelta:
        return sum(self.stage_totals.values(), timedelta())

    @property
    def stages(self) -> tuple[Stage, ...]:
        return STAGE_ORDER

    # ------------------------------------------------------------------ timeline

    @cached_property
    def sorted_timeline(self) -> list[TimelineEntry]:
        return sorted(self.timeline, key=lambda e: e.at)

    @cached_property
    def pinned_timeline(self) -> list[TimelineEntry]:
        return [e for e in self.sorted_timeline if e.pinned]

    def timeline_entries(self, pinned_only: bool = False) -> list[TimelineEntry]:
        return self.pinned_timeline if pinned_only else self.sorted_timeline

    @property
    def single_day(self) -> bool:
        """True when the whole incident falls on one UTC date (timelines then show times only)."""
        return self.incident.opened_at.date() == self.end_at.date()

    @cached_property
    def sorted_actions(self) -> list[ActionRun]:
        return sorted(self.actions, key=lambda a: a.started_at or a.created_at)

    @cached_property
    def sorted_decisions(self) -> list[Decision]:
        return sorted(self.decisions, key=lambda d: d.at)

    @cached_property
    def all_links(self) -> list[tuple[str, str]]:
        links = list(self.links)
        pd_url = self.incident.pd_url
        if pd_url and all(url != pd_url for _, url in links):
            links.insert(0, ("PagerDuty incident", pd_url))
        return links

    # ------------------------------------------------------------------ people

    @cached_property
    def participants(self) -> list[Participant]:
        """Role holders first (commander, comms, scribe, others), then others by first activity."""
        roles: dict[str, list[str]] = {}
        rank = {role: i for i, role in enumerate(ROLE_ORDER)}
        for role, user in sorted(
            self.incident.roles.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])
        ):
            if user:
                roles.setdefault(user, []).append(role)
        first: dict[str, datetime] = {}
        counts: dict[str, int] = {}

        def seen(user: str | None, at: datetime, entry: bool = False) -> None:
            if not user or user.lower() in SYSTEM_ACTORS:
                return
            if user not in first or at < first[user]:
                first[user] = at
            if entry:
                counts[user] = counts.get(user, 0) + 1

        for entry in self.timeline:
            seen(entry.actor, entry.at, entry=True)
        for decision in self.decisions:
            seen(decision.by, decision.at)
        for action in self.actions:
            seen(action.requested_by, action.created_at)
            for approver in action.approved_by:
                seen(approver, action.started_at or action.created_at)

        people = [
            Participant(
                user_id=user,
                name=self.display_name(user),
                roles=tuple(held),
                first_seen=first.get(user),
                entries=counts.get(user, 0),
            )
            for user, held in roles.items()
        ]
        others = sorted((u for u in first if u not in roles), key=lambda u: (first[u], u))
        people.extend(
            Participant(u, self.display_name(u), (), first[u], counts.get(u, 0)) for u in others
        )
        return people

    # ------------------------------------------------------------------ chart

    @cached_property
    def key_events(self) -> list[KeyEvent]:
        inc = self.incident
        events = [KeyEvent(inc.opened_at, "opened", "Opened")]
        if inc.acknowledged_at:
            events.append(KeyEvent(inc.acknowledged_at, "acknowledged", "Acknowledged"))
        events.extend(KeyEvent(d.at, "decision", f"Decision: {d.text}") for d in self.decisions)
        for action in self.actions:
            at = action.finished_at or action.started_at or action.created_at
            events.append(KeyEvent(at, "action", f"Action: {action.title}"))
        if self.mitigated_at:
            events.append(KeyEvent(self.mitigated_at, "mitigated", "Mitigated"))
        if inc.resolved_at:
            events.append(KeyEvent(inc.resolved_at, "resolved", "Resolved"))
        return sorted(events, key=lambda e: e.at)
