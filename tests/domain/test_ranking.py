from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import Change, ChangeKind, ChangeStatus, RankedChange, Verdict
from bot.domain.ranking import (
    RankingConfig,
    evidence_sentence,
    humanize_duration,
    pick_suspect,
    rank_changes,
    rollback_target,
)

ALERT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
S = ChangeStatus
K = ChangeKind


def change(
    ext: str,
    before: timedelta,
    *,
    service: str | None = "checkout",
    kind: ChangeKind = K.DEPLOY,
    status: ChangeStatus = S.SUCCESS,
    source: str = "github",
    size: int | None = None,
    sha: str | None = None,
    environment: str | None = "production",
    **extra,
) -> Change:
    return Change(
        source=source,
        external_id=ext,
        summary=f"change {ext}",
        created_at=ALERT - before,
        service=service,
        kind=kind,
        status=status,
        size=size,
        sha=sha,
        environment=environment,
        **extra,
    )


def rank(*changes: Change, **kwargs) -> list[RankedChange]:
    kwargs.setdefault("service", "checkout")
    kwargs.setdefault("dependencies", ("payments",))
    return rank_changes(changes, first_alert_at=ALERT, **kwargs)


def ids(ranked: list[RankedChange]) -> list[str]:
    return [r.change.external_id for r in ranked]


M = timedelta(minutes=1)
H = timedelta(hours=1)

# (case, changes, expected order of external ids)
ORDER_CASES = [
    ("deploy after the first alert is excluded", [change("late", -10 * M)], []),
    ("just after, within clock skew, counts", [change("skew", -1 * M)], ["skew"]),
    ("exactly at the skew edge counts", [change("edge", -2 * M)], ["edge"]),
    ("a second past the skew edge is excluded", [change("x", -2 * M - timedelta(seconds=1))], []),
    ("exactly at the window edge counts", [change("old", 24 * H)], ["old"]),
    ("a second before the window is excluded", [change("x", 24 * H + timedelta(seconds=1))], []),
    (
        "in progress before the window still counts",
        [change("ip", 30 * H, status=S.IN_PROGRESS), change("done", 30 * H)],
        ["ip"],
    ),
    ("pending before the window still counts", [change("p", 30 * H, status=S.PENDING)], ["p"]),
    (
        "in progress but started after the alert is excluded",
        [change("ip", -30 * M, status=S.IN_PROGRESS)],
        [],
    ),
    (
        "same service beats a dependency beats elsewhere",
        [
            change("other", 10 * M, service="billing"),
            change("dep", 10 * M, service="payments"),
            change("same", 10 * M),
        ],
        ["same", "dep", "other"],
    ),
    ("unknown service ranks like elsewhere", [change("u", 9 * M, service=None)], ["u"]),
    ("newer beats older", [change("old", 3 * H), change("new", 20 * M)], ["new", "old"]),
    (
        "failure > in progress > success > unknown",
        [
            change("unknown", 30 * M, status=S.UNKNOWN),
            change("ok", 30 * M, status=S.SUCCESS),
            change("fail", 30 * M, status=S.FAILURE),
            change("ip", 30 * M, status=S.IN_PROGRESS),
        ],
        ["fail", "ip", "ok", "unknown"],
    ),
    (
        "deploy > config > flag > other",
        [
            change("other", 30 * M, kind=K.OTHER),
            change("flag", 30 * M, kind=K.FLAG),
            change("deploy", 30 * M, kind=K.DEPLOY),
            change("config", 30 * M, kind=K.CONFIG),
        ],
        ["deploy", "config", "flag", "other"],
    ),
    (
        "bigger changes rank slightly higher",
        [change("small", 30 * M, size=5), change("none", 30 * M), change("big", 30 * M, size=900)],
        ["big", "small", "none"],
    ),
    (
        "ties: newer first, then source, then external_id",
        [
            change("b", 30 * M, source="webhook", service="billing"),
            change("a", 30 * M, source="webhook", service="billing"),
            change("z", 30 * M, source="argocd", service="billing"),
        ],
        ["z", "a", "b"],
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "expected"), ORDER_CASES, ids=[c[0] for c in ORDER_CASES]
)
def test_candidates_and_order(case: str, changes: list[Change], expected: list[str]) -> None:
    assert ids(rank(*changes)) == expected


def test_order_does_not_depend_on_input_order() -> None:
    changes = [
        change("a", 30 * M, service="billing", source="webhook"),
        change("b", 30 * M, service="billing", source="webhook"),
        change("c", 10 * M, status=S.FAILURE),
        change("d", 2 * H, service="payments", kind=K.CONFIG),
    ]
    results = {tuple(ids(rank(*perm))) for perm in itertools.permutations(changes)}
    assert results == {("c", "d", "a", "b")}


REASON_CASES = [
    (
        change("1", 12 * M, status=S.FAILURE),
        "deployed to checkout 12 min before the first alert; status failure",
    ),
    (
        change("2", 3 * H + 5 * M, service="payments", kind=K.CONFIG),
        "config change to payments (a dependency of checkout) 3 h 5 min before the first alert",
    ),
    (
        change("3", 26 * H, status=S.IN_PROGRESS),
        "deployed to checkout 1 d 2 h before the first alert; still in progress",
    ),
    (
        change("4", timedelta(seconds=20), service=None, kind=K.FLAG, status=S.UNKNOWN),
        "feature flag change (service unknown) under a minute before the first alert; "
        "status unknown",
    ),
    (
        change("5", 5 * M, service="billing", size=1240),
        "deployed to billing (not checkout or a dependency) 5 min before the first alert; "
        "1,240 lines changed",
    ),
    (
        change("6", -90 * timedelta(seconds=1)),
        "deployed to checkout 1 min after the first alert (within clock skew)",
    ),
    (
        change("7", 2 * H, status=S.PENDING, kind=K.OTHER),
        "change to checkout 2 h before the first alert; pending",
    ),
]


@pytest.mark.parametrize(("item", "reason"), REASON_CASES)
def test_reason_text(item: Change, reason: str) -> None:
    assert rank(item)[0].reason == reason


def test_reason_without_incident_service() -> None:
    ranked = rank(change("1", 12 * M, service="billing"), service=None, dependencies=())
    assert ranked[0].reason == "deployed to billing 12 min before the first alert"


def test_likely_only_top_and_above_threshold() -> None:
    ranked = rank(change("a", 10 * M, status=S.FAILURE), change("b", 11 * M, status=S.FAILURE))
    assert [r.likely for r in ranked] == [True, False]
    assert ranked[1].score >= RankingConfig().likely_threshold  # high, but not the top one
    strict = rank(change("a", 10 * M), config=RankingConfig(likely_threshold=0.99))
    assert [r.likely for r in strict] == [False]


def test_weak_top_change_is_not_likely() -> None:
    ranked = rank(change("far", 20 * H, service="billing", status=S.UNKNOWN))
    assert ranked[0].score < 0.55
    assert not ranked[0].likely


def test_scores_are_bounded_and_recent_failed_deploy_is_near_one() -> None:
    ranked = rank(
        change("max", timedelta(), status=S.FAILURE, size=10**6),
        change("min", 24 * H, service=None, kind=K.OTHER, status=S.UNKNOWN),
    )
    assert ranked[0].score == 1.0
    assert 0.0 < ranked[-1].score < 0.2


def test_half_life_halves_recency() -> None:
    config = RankingConfig(half_life=timedelta(hours=1))
    now, hour = rank(change("a", timedelta()), config=config), rank(change("a", H), config=config)
    assert now[0].score - hour[0].score == pytest.approx(0.35 / 2, abs=1e-3)


def test_dependencies_are_case_insensitive_and_naive_times_are_utc() -> None:
    naive = change("n", 0 * M, service="Payments")
    naive = Change(**{**naive.__dict__, "created_at": (ALERT - 5 * M).replace(tzinfo=None)})
    ranked = rank(naive)
    assert "(a dependency of checkout) 5 min before" in ranked[0].reason


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=59), "under a minute"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=1, hours=2, minutes=7), "1 d 2 h"),
        (-timedelta(minutes=3), "3 min"),
    ],
)
def test_humanize_duration(delta: timedelta, text: str) -> None:
    assert humanize_duration(delta) == text


def test_evidence_sentence_names_the_change() -> None:
    ranked = rank(change("d1", 12 * M, status=S.FAILURE, sha="a1b2c3d4e5f6"))
    assert evidence_sentence(ranked[0]) == (
        "deploy a1b2c3d to checkout 12 min before the first alert; status failure"
    )
    config = rank(change("cfg-42", 5 * M, kind=K.CONFIG))
    assert (
        evidence_sentence(config[0])
        == "config change cfg-42 to checkout 5 min before the first alert"
    )


def test_pick_suspect_respects_verdicts() -> None:
    a, b, c = rank(change("a", 5 * M), change("b", 10 * M), change("c", 20 * M))
    assert pick_suspect([a, b, c]) is a
    not_a = RankedChange(a.change, a.score, a.reason, a.likely, Verdict.NOT_RELATED)
    assert pick_suspect([not_a, b, c]) is b
    marked = RankedChange(c.change, c.score, c.reason, verdict=Verdict.SUSPECT)
    assert pick_suspect([a, b, marked]) is marked
    caused = RankedChange(b.change, b.score, b.reason, verdict=Verdict.CAUSED)
    assert pick_suspect([a, caused, marked]) is caused
    assert pick_suspect([not_a]) is None
    assert pick_suspect([]) is None


class TestRollbackTarget:
    suspect = change("s", 10 * M, status=S.FAILURE, sha="bad0000")

    def test_latest_success_of_same_service_environment_and_source(self) -> None:
        history = [
            change("older", 5 * H, sha="old0000"),
            change("good", 2 * H, sha="good000"),
            change("failed", 1 * H, status=S.FAILURE, sha="fail000"),
            change("staging", 30 * M, environment="staging", sha="stg0000"),
            change("other-svc", 40 * M, service="billing", sha="bil0000"),
            change("argo", 50 * M, source="argocd", sha="arg0000"),
            change("config", 45 * M, kind=K.CONFIG),
            change("after", 5 * M, sha="new0000"),
            change("same-sha", 20 * M, sha="bad0000"),
            self.suspect,
        ]
        target = rollback_target(history, self.suspect)
        assert target is not None and target.external_id == "good"

    def test_none_when_nothing_earlier_succeeded(self) -> None:
        history = [
            change("failed", 1 * H, status=S.FAILURE),
            change("unknown", 2 * H, status=S.UNKNOWN),
        ]
        assert rollback_target([*history, self.suspect], self.suspect) is None

    def test_argocd_history_is_matched_by_repo_when_service_unknown(self) -> None:
        suspect = change("s", 10 * M, source="argocd", service=None, repo="acme/app")
        prior = change(
            "p", 1 * H, source="argocd", service=None, repo="acme/app", data={"history_id": 7}
        )
        other = change("o", 30 * M, source="argocd", service=None, repo="acme/other")
        target = rollback_target([prior, other, suspect], suspect)
        assert target is prior
        assert target.data["history_id"] == 7


SHA = "9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d"


@pytest.mark.parametrize(
    ("case", "changes", "expected"),
    [
        (
            "same sha from three sources is one candidate",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change("argo:3", timedelta(minutes=9), source="argocd", sha=SHA),
                change("wh1", timedelta(minutes=8), source="webhook", sha=SHA[:7]),
                change("other", timedelta(hours=3), sha="1111111aaaa"),
            ],
            [("argo:3", ["github", "argocd", "webhook"]), ("other", None)],
        ),
        (
            "same image tag links; the deploy tool's report speaks for the deploy",
            [
                change("gh1", timedelta(minutes=10), image_tag="acme/checkout:v2"),
                change(
                    "wh1",
                    timedelta(minutes=8),
                    source="webhook",
                    status=S.FAILURE,
                    image_tag="acme/checkout:v2",
                ),
            ],
            [("gh1", ["github", "webhook"])],
        ),
        (
            "the same sha in staging and production is two deploys",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change(
                    "wh1", timedelta(minutes=9), source="webhook", sha=SHA, environment="staging"
                ),
            ],
            [("wh1", None), ("gh1", None)],
        ),
        (
            "two reports from one source are two deploys",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change("gh2", timedelta(minutes=20), sha=SHA),
            ],
            [("gh1", None), ("gh2", None)],
        ),
        (
            "one image tag with different commits is different deploys",
            [
                change("gh1", timedelta(minutes=10), sha=SHA, image_tag="acme/checkout:latest"),
                change(
                    "checkout:4",
                    timedelta(minutes=9),
                    source="argocd",
                    sha="1111111aaaa",
                    image_tag="acme/checkout:latest",
                ),
            ],
            [("checkout:4", None), ("gh1", None)],
        ),
        (
            "calendar versions link only when equal",
            [
                change("gh1", timedelta(minutes=10), sha="2024.11.1"),
                change("wh1", timedelta(minutes=9), source="webhook", sha="2024.11.15"),
            ],
            [("wh1", None), ("gh1", None)],
        ),
        (
            "a change naming no service does not chain two services together",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change("wh1", timedelta(minutes=9), source="webhook", sha=SHA, service=None),
                change(
                    "checkout:4", timedelta(minutes=8), source="argocd", sha=SHA, service="payments"
                ),
            ],
            [("gh1", ["github", "webhook"]), ("checkout:4", None)],
        ),
        (
            "github and argocd both succeeded: argocd speaks for it (its rollback applies)",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change("checkout:4", timedelta(minutes=9), source="argocd", sha=SHA),
            ],
            [("checkout:4", ["github", "argocd"])],
        ),
        (
            "same sha on two different services stays two deploys",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change("gh2", timedelta(minutes=20), sha=SHA, service="payments"),
            ],
            [("gh1", None), ("gh2", None)],
        ),
        (
            "a short sha under 7 characters links nothing",
            [
                change("gh1", timedelta(minutes=10), sha="abc"),
                change("wh1", timedelta(minutes=12), source="webhook", sha="abc"),
            ],
            [("gh1", None), ("wh1", None)],
        ),
        (
            "a report outside the window is not linked in",
            [
                change("gh1", timedelta(minutes=10), sha=SHA),
                change("wh-late", -timedelta(minutes=30), source="webhook", sha=SHA),
            ],
            [("gh1", None)],
        ),
    ],
)
def test_linked_changes(case: str, changes: list[Change], expected: list[tuple]) -> None:
    ranked = rank(*changes)
    got = [(r.change.external_id, r.change.data.get("linked_sources")) for r in ranked]
    assert got == expected, case


def test_linked_change_carries_the_worst_status_of_its_reports() -> None:
    [only] = rank(
        change("gh1", timedelta(minutes=10), sha=SHA),
        change(
            "checkout:4",
            timedelta(minutes=9),
            source="argocd",
            sha=SHA,
            status=S.SUCCESS,
            data={"history_id": 4},
        ),
        change("wh1", timedelta(minutes=8), source="webhook", sha=SHA, status=S.FAILURE),
    )
    assert only.change.source == "argocd" and only.change.data["history_id"] == 4
    assert only.change.status is S.FAILURE
    assert "status failure" in only.reason


def test_linked_change_takes_the_earliest_time_and_fills_blanks() -> None:
    ranked = rank(
        change("gh1", timedelta(minutes=5), sha=SHA, url=None),
        change(
            "wh1",
            timedelta(minutes=12),
            source="webhook",
            sha=SHA[:7],
            image_tag="acme/checkout:v2",
            url="https://ci/1",
        ),
    )
    [only] = ranked
    assert only.change.external_id == "gh1"
    assert only.change.created_at == ALERT - timedelta(minutes=12)
    assert only.change.image_tag == "acme/checkout:v2"
    assert only.change.url == "https://ci/1"
    assert only.change.data["linked_changes"] == ["github:gh1", "webhook:wh1"]
    assert "12 min before the first alert" in only.reason
