"""Shared fixtures: a real database (SQLite by default, PostgreSQL with OODA_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.storage.db import sync_url

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
