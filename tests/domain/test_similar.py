from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.similar import PastIncident, describe, similar_incidents, similarity, tokens

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def past(
    number: int,
    title: str,
    service: str | None = "checkout",
    *,
    days_ago: float = 10,
    resolved: bool = True,
    mitigated_after: timedelta | None = timedelta(minutes=6),
    action: str | None = "rollback via Argo CD",
) -> PastIncident:
    opened = NOW - timedelta(days=days_ago)
    return PastIncident(
        number=number,
        title=title,
        service=service,
        opened_at=opened,
        resolved_at=opened + timedelta(hours=1) if resolved else None,
        mitigated_at=opened + mitigated_after if mitigated_after else None,
        resolving_action=action,
    )


def test_tokens_drop_stopwords_and_numbers() -> None:
    assert tokens("High 5xx error rate on Checkout API (502, 503)") == {"5xx", "checkout", "api"}


def test_similarity_is_jaccard() -> None:
    assert similarity("checkout 5xx", "checkout latency") == pytest.approx(1 / 3)
    assert similarity("checkout 5xx", "Checkout 5XX!") == 1.0
    assert similarity("the", "a") == 0.0


def test_ranks_by_title_and_service_within_window() -> None:
    incidents = [
        past(1, "Checkout 5xx spike"),  # same words, same service
        past(2, "Checkout 5xx spike", service="payments"),  # same words, other service
        past(3, "Disk full on db-3", service="checkout"),  # same service only
        past(4, "Disk full on db-3", service="search"),  # nothing in common
        past(5, "Checkout 5xx spike", days_ago=91),  # too old
        past(6, "Checkout 5xx spike", resolved=False),  # unresolved
        past(7, "Checkout 5xx spike", days_ago=-1),  # in the future: not past
    ]
    found = similar_incidents("Checkout 5xx spike", "checkout", incidents, now=NOW, limit=10)
    assert [(p.number, score) for p, score in found] == [(1, 1.0), (2, 0.7), (3, 0.3)]


def test_limit_and_tie_break_most_recent_first() -> None:
    incidents = [past(n, "Checkout 5xx", days_ago=n) for n in range(1, 6)]
    found = similar_incidents("Checkout 5xx", "checkout", incidents, now=NOW)
    assert [p.number for p, _ in found] == [1, 2, 3]
    assert similar_incidents("Checkout 5xx", "checkout", incidents, now=NOW, limit=0) == []


def test_days_parameter_and_unknown_service() -> None:
    incidents = [past(1, "Search latency", service=None, days_ago=20)]
    assert similar_incidents("search latency", None, incidents, now=NOW, days=14) == []
    found = similar_incidents("search latency", None, incidents, now=NOW, days=30)
    assert [(p.number, s) for p, s in found] == [(1, 0.7)]


@pytest.mark.parametrize(
    ("incident", "text"),
    [
        (
            past(12, "Checkout 5xx"),
            "INC-12 “Checkout 5xx” — last time: rollback via Argo CD, mitigated in 6 min",
        ),
        (
            past(3, "Payments slow", mitigated_after=None, action=None),
            "INC-3 “Payments slow” — last time: resolved in 1 h",
        ),
        (
            past(
                4,
                "Queue backlog",
                mitigated_after=timedelta(hours=2, minutes=10),
                action="scaled up",
            ),
            "INC-4 “Queue backlog” — last time: scaled up, mitigated in 2 h 10 min",
        ),
        (past(5, "Odd", resolved=False, mitigated_after=None, action=None), "INC-5 “Odd”"),
    ],
)
def test_describe(incident: PastIncident, text: str) -> None:
    assert describe(incident) == text
