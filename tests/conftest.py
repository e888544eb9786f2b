"""Shared fixtures: a real database (SQLite by default, PostgreSQL with OODA_TEST_DATABASE_URL),
and the bot running on it against its loopback fakes (`stack`, `make_stack`).

`stack` is the one running DevStack fixture. A module (or a directory's conftest.py) gives it
its catalog, settings and seed data by overriding `stack_config`, `stack_env` or `stack_seed`;
a test that needs another stack of its own, or several, builds them with `make_stack`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.devstack import DevStack
from bot.storage.db import Database, sync_url, upgrade
from tests.helpers.stack import MakeStack

PG_URL = os.environ.get("OODA_TEST_DATABASE_URL")
# Vendor samples ship with the tests; ../shared/vendor-samples is used when present.
os.environ.setdefault(
    "OODA_VENDOR_SAMPLES", str(Path(__file__).parent / "fixtures" / "vendor-samples")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own database (test_gw0, test_gw1, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(sync_url(url))
    name = f"{parsed.database}_{worker}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database for one test; migrations are applied by whoever uses it."""
    if PG_URL:
        url = _worker_database(PG_URL)
        _reset_postgres(url)
        yield url
    else:
        yield f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database, migrated."""
    await asyncio.to_thread(upgrade, database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def make_stack(tmp_path: Path, database_url: str) -> MakeStack:
    """DevStacks on this test's directory and database (another `workdir` for a second one)."""

    def make(
        config: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> DevStack:
        return DevStack(workdir or tmp_path, config=config, database_url=database_url, env=env)

    return make


@pytest.fixture
def stack_config() -> dict[str, Any]:
    """The catalog (ooda.yaml) `stack` runs with: override this fixture to give one."""
    return {"services": []}


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Settings for `stack` on top of DevStack's, as environment variables: override to add."""
    return {}


@pytest.fixture
def stack_seed() -> Callable[[DevStack], object]:
    """What the fakes hold once `stack` is up (people, channels, apps): override to seed them."""
    return lambda stack: None


@pytest.fixture
async def stack(
    make_stack: MakeStack,
    stack_config: dict[str, Any],
    stack_env: dict[str, str],
    stack_seed: Callable[[DevStack], object],
) -> AsyncIterator[DevStack]:
    """The bot, running on the test's database against its loopback fakes."""
    async with make_stack(stack_config, env=stack_env) as running:
        stack_seed(running)
        yield running
