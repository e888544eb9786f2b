"""A running DevStack with people, an announcements channel and a general channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devstack import DevStack
from tests.helpers.slack import add_people, config


@pytest.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[DevStack]:
    async with DevStack(tmp_path, config=config(), database_url=database_url) as running:
        add_people(running)
        yield running
