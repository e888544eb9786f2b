from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.fakes import FakeArgoCD, FakeGitHub, FakePagerDuty, FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(
        users={"alice@example.com": "U0ALICE001", "bob@example.com": "U0BOB00001"},
        channels=["incidents"],
    )
    with fake:
        yield fake


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(workflows={"rollback.yml", "deploy.yml"}) as fake:
        yield fake


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    with FakeArgoCD() as fake:
        yield fake
