"""The `stack` of the Slack tests: a catalog with one service and an announcements channel, and
people (Alice, Bob, Carol) and channels (#incidents, #general) in Slack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.devstack import DevStack
from tests.helpers.slack import add_people, config


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return config()


@pytest.fixture
def stack_seed() -> Callable[[DevStack], object]:
    return add_people
