"""Orient: which changes happened before the first alert, and how likely each caused the incident.

Pure and deterministic: the same changes and the same first alert always give the same ranking.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.model import Change, ChangeKind, ChangeStatus, RankedChange, Verdict

__all__ = [
    "RankingConfig",
    "RankingWeights",
    "evidence_sentence",
    "humanize_duration",
    "link_changes",
    "pick_suspect",
    "rank_changes",
    "rollback_target",
]


# Scope levels: where the change landed relative to the paged service.
SCOPE_SERVICE, SCOPE_DEPENDENCY, SCOPE_OTHER = 1.0, 0.6, 0.25


@dataclass(frozen=True)
class RankingWeights:
    """How much each fact about a change counts (OODA_CONFIG `ranking:`; `ooda backtest
    --weights` compares another set on past incidents). Scope and recency carry most of the
    score; the rest nudges it."""

    scope: float = 0.45
    recency: float = 0.35
    dependency_scope: float = SCOPE_DEPENDENCY  # a dependency's change, against 1.0 for its own
    other_scope: float = SCOPE_OTHER  # any other service's change
    status_bonus: dict[ChangeStatus, float] = field(
        default_factory=lambda: {
            ChangeStatus.FAILURE: 0.12,
            ChangeStatus.IN_PROGRESS: 0.08,
            ChangeStatus.PENDING: 0.0,
            ChangeStatus.SUCCESS: 0.0,
            ChangeStatus.UNKNOWN: -0.04,
        }
    )
    kind_bonus: dict[ChangeKind, float] = field(
        default_factory=lambda: {
            ChangeKind.DEPLOY: 0.06,
            ChangeKind.CONFIG: 0.04,
            ChangeKind.FLAG: 0.03,
            ChangeKind.OTHER: 0.0,
        }
    )
    size_bonus_max: float = 0.04  # reached at 10,000 lines changed (log scale)
    in_progress_recency_floor: float = 0.5  # a rollout still going on acts now


@dataclass(frozen=True)
class RankingConfig:
    window: timedelta = timedelta(hours=24)
    likely_threshold: float = 0.55
    half_life: timedelta = timedelta(hours=2)  # recency decay: a change this old counts half
    skew_tolerance: timedelta = timedelta(minutes=2)  # a change this much *after* still counts
    weights: RankingWeights = field(default_factory=RankingWeights)


# (verb used in a reason, noun used in evidence) per kind: "deployed to x" / "deploy a1b2c3d to x"
KIND_PHRASES: dict[ChangeKind, tuple[str, str]] = {
    ChangeKind.DEPLOY: ("deployed", "deploy"),
    ChangeKind.CONFIG: ("config change", "config change"),
    ChangeKind.FLAG: ("feature flag change", "feature flag change"),
    ChangeKind.OTHER: ("change", "change"),
}
_ACTIVE = (ChangeStatus.IN_PROGRESS, ChangeStatus.PENDING)


def _utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def humanize_duration(delta: timedelta) -> str:
    """12 min, 3 h 5 min, 2 d 4 h; under a minute is "under a minute". Sign is ignored."""
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _scope(change: Change, service: str | None, dependencies: Collection[str]) -> float:
    """The scope level (SCOPE_*): the reason names it; the weights say what it is worth."""
    if _same(change.service, service):
        return SCOPE_SERVICE
    if change.service is not None and change.service.casefold() in {
        d.casefold() for d in dependencies
    }:
        return SCOPE_DEPENDENCY
    return SCOPE_OTHER


def _scope_value(scope: float, weights: RankingWeights) -> float:
    if scope == SCOPE_DEPENDENCY:
        return weights.dependency_scope
    if scope == SCOPE_OTHER:
        return weights.other_scope
    return scope


def _target(change: Change, scope: float, service: str | None) -> str:
    if change.service is None:
        return "(service unknown)"
    if scope == SCOPE_DEPENDENCY:
        return f"to {change.service} (a dependency of {service})"
    if scope == SCOPE_OTHER and service is not None:
        return f"to {change.service} (not {service} or a dependency)"
    return f"to {change.service}"


def _timing(age: timedelta) -> str:
    if age >= timedelta():
        return f"{humanize_duration(age)} before the first alert"
    return f"{humanize_duration(age)} after the first alert (within clock skew)"


def _status_note(status: ChangeStatus) -> str | None:
    return {
        ChangeStatus.FAILURE: "status failure",
        ChangeStatus.IN_PROGRESS: "still in progress",
        ChangeStatus.PENDING: "pending",
        ChangeStatus.UNKNOWN: "status unknown",
    }.get(status)


def _reason(change: Change, scope: float, service: str | None, age: timedelta) -> str:
    verb = KIND_PHRASES[change.kind][0]
    parts = [f"{verb} {_target(change, scope, service)} {_timing(age)}"]
    note = _status_note(change.status)
    if note:
        parts.append(note)
    if change.size is not None and change.size > 0:
        parts.append(f"{change.size:,} lines changed")
    return "; ".join(parts)


def _score(change: Change, scope: float, age: timedelta, config: RankingConfig) -> float:
    w = config.weights
    half_life = max(config.half_life.total_seconds(), 1.0)
    recency: float = 0.5 ** (max(age.total_seconds(), 0.0) / half_life)  # float ** float: Any
    if change.status is ChangeStatus.IN_PROGRESS:
        recency = max(recency, w.in_progress_recency_floor)
    size = 0.0
    if change.size is not None and change.size > 0:
        size = min(w.size_bonus_max, w.size_bonus_max * math.log10(change.size + 1) / 4)
    raw = (
        w.scope * _scope_value(scope, w)
        + w.recency * recency
        + w.status_bonus.get(change.status, 0.0)
        + w.kind_bonus.get(change.kind, 0.0)
        + size
    )
    return round(min(1.0, max(0.0, raw)), 4)


# How a linked deploy lists its sources: "github + argocd + webhook".
SOURCE_ORDER = ("github", "argocd", "webhook", "pagerduty")
# Which report speaks for it (after status): the tool that deployed it, so its rollback applies.
LEAD_ORDER = ("argocd", "github", "webhook", "pagerduty")
# The most telling status of a linked deploy wins: one source seeing it fail is the news.
STATUS_ORDER = (
    ChangeStatus.FAILURE,
    ChangeStatus.IN_PROGRESS,
    ChangeStatus.PENDING,
    ChangeStatus.SUCCESS,
    ChangeStatus.UNKNOWN,
)
MIN_SHA_PREFIX = 7  # "a1b2c3d" from a webhook matches GitHub's full 40-character sha
_FILLED = ("service", "repo", "environment", "sha", "ref", "previous_sha", "url", "author", "size")


def _source_rank(source: str, order: tuple[str, ...] = SOURCE_ORDER) -> int:
    return order.index(source) if source in order else len(order)


_HEX = frozenset("0123456789abcdef")


def _same_sha(a: str | None, b: str | None) -> bool:
    """Commit ids match by prefix ("a1b2c3d" vs the full sha); other revisions ("2024.11.1")
    only when equal."""
    if not a or not b:
        return False
    a, b = a.casefold(), b.casefold()
    if not (set(a) <= _HEX and set(b) <= _HEX):
        return a == b
    if min(len(a), len(b)) < MIN_SHA_PREFIX:
        return False
    return a.startswith(b) or b.startswith(a)


def _linked(a: Change, b: Change) -> bool:
    """Two tools reporting one deploy: other sources, no conflicting service or environment,
    and the same commit (or, when either lacks a commit, the same image tag)."""
    if a.source == b.source:
        return False
    if a.service is not None and b.service is not None and not _same(a.service, b.service):
        return False
    if a.environment and b.environment and not _same(a.environment, b.environment):
        return False
    if a.sha and b.sha:
        return _same_sha(a.sha, b.sha)
    return _same(a.image_tag, b.image_tag)


def _merge(group: list[Change]) -> Change:
    """The deploy tool's report speaks for the group (its rollback applies); the most telling
    status of any report is the group's status."""
    group = sorted(group, key=lambda c: (_source_rank(c.source), c.source, c.external_id))
    lead = min(
        group,
        key=lambda c: (_source_rank(c.source, LEAD_ORDER), -_utc(c.created_at).timestamp()),
    )
    worst = min((c.status for c in group), key=STATUS_ORDER.index)
    filled: dict[str, Any] = {
        name: next((getattr(c, name) for c in group if getattr(c, name) is not None), None)
        for name in (*_FILLED, "image_tag")
        if getattr(lead, name) is None
    }
    sources = list(dict.fromkeys(c.source for c in group))
    data = {
        **lead.data,
        "linked_sources": sources,
        "linked_changes": [f"{c.source}:{c.external_id}" for c in group],
    }
    earliest = min(_utc(c.created_at) for c in group)
    return replace(lead, created_at=earliest, status=worst, data=data, **filled)


def link_changes(changes: Iterable[Change]) -> list[Change]:
    """Merge reports of the same deploy (shared commit or image tag) into one change.

    A report joins a group only if it links with every member (no chains through a change that
    names no service). The merged change is the deploy tool's report (Argo CD, then GitHub, then
    change webhooks, then PagerDuty) with the group's most telling status (failure, in progress,
    pending, success, unknown); it starts at the earliest member's time, fills its blanks from the
    others, and lists every source in data["linked_sources"]. Other changes are returned
    unchanged, in their original order.
    """
    groups: list[list[Change]] = []
    for change in changes:
        home = next((g for g in groups if all(_linked(change, m) for m in g)), None)
        if home is None:
            groups.append([change])
        else:
            home.append(change)
    return [group[0] if len(group) == 1 else _merge(group) for group in groups]


def rank_changes(
    changes: Iterable[Change],
    *,
    service: str | None,
    dependencies: Collection[str] = (),
    first_alert_at: datetime,
    config: RankingConfig = RankingConfig(),
) -> list[RankedChange]:
    """Rank the changes that could have caused an incident whose first alert fired at first_alert_at.

    Candidates: changes in [first_alert_at - window, first_alert_at + skew_tolerance], plus changes
    still in progress or pending that started before that window. Anything that started after
    first_alert_at + skew_tolerance is excluded, whatever its status: it cannot have caused the alert.
    Sorted by score (highest first), then newest first, then source, then external_id.
    Only the top change may be flagged likely, and only if its score >= config.likely_threshold.
    Reports of one deploy from several sources are merged first (see link_changes).
    """
    alert = _utc(first_alert_at)
    earliest, latest = alert - config.window, alert + config.skew_tolerance
    candidates = [
        c
        for c in changes
        if _utc(c.created_at) <= latest and (_utc(c.created_at) >= earliest or c.status in _ACTIVE)
    ]
    scored: list[tuple[float, datetime, Change, str]] = []
    for change in link_changes(candidates):
        created = _utc(change.created_at)
        age = alert - created
        scope = _scope(change, service, dependencies)
        score = _score(change, scope, age, config)
        scored.append((score, created, change, _reason(change, scope, service, age)))
    scored.sort(key=lambda s: (-s[0], -s[1].timestamp(), s[2].source, s[2].external_id))
    return [
        RankedChange(
            change=change,
            score=score,
            reason=reason,
            likely=index == 0 and score >= config.likely_threshold,
        )
        for index, (score, _, change, reason) in enumerate(scored)
    ]


def pick_suspect(ranked: Iterable[RankedChange]) -> RankedChange | None:
    """The change the Decide stage acts on.

    A change responders marked Caused wins, then one marked Suspect, then the top-ranked change
    not marked Not related. Order within each group is the ranking order.
    """
    candidates = [r for r in ranked if r.verdict is not Verdict.NOT_RELATED]
    for verdict in (Verdict.CAUSED, Verdict.SUSPECT):
        marked = next((r for r in candidates if r.verdict is verdict), None)
        if marked is not None:
            return marked
    return candidates[0] if candidates else None


def evidence_sentence(ranked: RankedChange) -> str:
    """The reason, naming the change: "deploy a1b2c3d to checkout 12 min before the first alert"."""
    change = ranked.change
    verb, noun = KIND_PHRASES[change.kind]
    ident = change.short_sha or change.external_id
    if ranked.reason.startswith(verb + " "):
        return f"{noun} {ident}{ranked.reason[len(verb) :]}"
    return f"{noun} {ident}: {ranked.reason}"


def _same_family(a: Change, b: Change) -> bool:
    if a.source != b.source or a.kind != b.kind or a.environment != b.environment:
        return False
    if a.service is not None or b.service is not None:
        return a.service == b.service
    return a.repo is not None and a.repo == b.repo


def rollback_target(changes: Iterable[Change], suspect: Change) -> Change | None:
    """What a rollback of suspect restores: the latest successful change before it.

    Same source, kind, service (or repo when the service is unknown) and environment; created
    strictly before the suspect; a change carrying the suspect's own sha is skipped (rolling back
    to it would change nothing).
    """
    started = _utc(suspect.created_at)
    candidates = [
        c
        for c in changes
        if c.status is ChangeStatus.SUCCESS
        and _same_family(c, suspect)
        and (c.source, c.external_id) != (suspect.source, suspect.external_id)
        and _utc(c.created_at) < started
        and not (suspect.sha is not None and c.sha == suspect.sha)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda c: (_utc(c.created_at), c.external_id))
