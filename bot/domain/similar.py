"""Orient: similar past incidents, and what fixed them last time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.ranking import humanize_duration

__all__ = ["PastIncident", "describe", "similar_incidents", "similarity", "tokens"]

# Share of the score from the title similarity; the rest comes from being on the same service.
W_TITLE = 0.7
W_SERVICE = 0.3
MIN_SCORE = 0.15  # a past incident on the same service always qualifies; others need shared words

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "over",
        "the",
        "their",
        "then",
        "there",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "without",
        "after",
        "before",
        "during",
        "than",
        "high",
        "low",
        "rate",
        "errors",
        "error",
        "alert",
        "alerts",
        "firing",
        "triggered",
        "incident",
        "issue",
        "issues",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class PastIncident:
    number: int
    title: str
    service: str | None
    opened_at: datetime
    resolved_at: datetime | None
    mitigated_at: datetime | None
    resolving_action: str | None  # e.g. "rollback via Argo CD"

    @property
    def ref(self) -> str:
        return f"INC-{self.number}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def tokens(text: str) -> frozenset[str]:
    """Lowercase word tokens minus stopwords and pure numbers ("5xx" stays, "502" goes)."""
    return frozenset(
        w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and not w.isdigit()
    )


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two titles' tokens, 0..1."""
    left, right = tokens(a), tokens(b)
    union = left | right
    return len(left & right) / len(union) if union else 0.0


def similar_incidents(
    current_title: str,
    current_service: str | None,
    past: Iterable[PastIncident],
    *,
    now: datetime,
    days: int = 90,
    limit: int = 3,
    min_score: float = MIN_SCORE,
) -> list[tuple[PastIncident, float]]:
    """Resolved incidents opened in the last `days` days that look like this one, best first.

    score = 0.7 x title Jaccard + 0.3 if on the same service. Ties: most recent first, then number.
    """
    current = _utc(now)
    since = current - timedelta(days=days)
    found: list[tuple[PastIncident, float]] = []
    for incident in past:
        opened = _utc(incident.opened_at)
        if incident.resolved_at is None or not since <= opened <= current:
            continue
        same_service = (
            current_service is not None
            and incident.service is not None
            and incident.service.casefold() == current_service.casefold()
        )
        score = W_TITLE * similarity(current_title, incident.title) + W_SERVICE * same_service
        score = round(min(1.0, score), 4)
        if score >= min_score and score > 0:
            found.append((incident, score))
    found.sort(key=lambda f: (-f[1], -_utc(f[0].opened_at).timestamp(), -f[0].number))
    return found[: max(limit, 0)]


def describe(p: PastIncident) -> str:
    """INC-12 “Checkout 5xx” — last time: rollback via Argo CD, mitigated in 6 min.

    The title is raw user text: escape it before posting to Slack.
    """
    head = f"{p.ref} “{p.title}”"
    details: list[str] = []
    if p.resolving_action:
        details.append(p.resolving_action)
    if p.mitigated_at is not None:
        details.append(
            f"mitigated in {humanize_duration(_utc(p.mitigated_at) - _utc(p.opened_at))}"
        )
    elif p.resolved_at is not None:
        details.append(f"resolved in {humanize_duration(_utc(p.resolved_at) - _utc(p.opened_at))}")
    return f"{head} — last time: {', '.join(details)}" if details else head
