"""Shared fixtures: the real vendor samples, and a recorder for retry sleeps."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _samples_dir() -> Path | None:
    default = Path(__file__).resolve().parents[3] / "shared" / "vendor-samples"
    if default.is_dir():
        return default
    env = os.environ.get("OODA_VENDOR_SAMPLES")
    if env and Path(env).is_dir():
        return Path(env)
    return None


@pytest.fixture
def samples() -> Path:
    found = _samples_dir()
    if found is None:
        pytest.skip("vendor samples not found: set OODA_VENDOR_SAMPLES to the samples directory")
    return found


@pytest.fixture
def load_sample(samples: Path) -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return json.loads((samples / name).read_text())

    return load


@pytest.fixture
def load_fixture() -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text())

    return load


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every retry wait instead of waiting; still yields to the loop."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float, *args: Any, **kwargs: Any) -> None:
        recorded.append(delay)
        await real_sleep(0)

    monkeypatch.setattr("integrations.http.asyncio.sleep", fake_sleep)
    return recorded
