from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fakes import FakeArgoCD, FakeGitHub, FakePagerDuty, FakeSlack

_SAMPLE_DIRS = [
    os.environ.get("OODA_VENDOR_SAMPLES", ""),
    str(Path(__file__).resolve().parents[1] / "vendor-samples"),
    "/work/shared/vendor-samples",
]


def vendor_sample(name: str) -> Any:
    """A file from the vendor samples (real Slack/PagerDuty/GitHub payloads); skip if absent."""
    for directory in filter(None, _SAMPLE_DIRS):
        path = Path(directory) / name
        if path.is_file():
            return json.loads(path.read_text())
    pytest.skip(f"vendor sample {name} not available (set OODA_VENDOR_SAMPLES)")


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
