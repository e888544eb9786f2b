"""Replicas started together on a fresh database all come up: the migrations run one process
at a time (a PostgreSQL advisory lock; a file lock next to a SQLite database)."""

from __future__ import annotations

import multiprocessing
import traceback
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import create_engine, inspect, text

from bot.storage.db import sync_url, upgrade
from bot.storage.tables import Base

REPLICAS = 10


def _start_replica(url: str, barrier: Any) -> str:
    """One replica's start: wait until all are ready, then migrate; the error, if any."""
    barrier.wait(timeout=60)
    try:
        upgrade(url)
    except Exception:
        return traceback.format_exc(limit=3)
    return "ok"


def test_ten_replicas_upgrade_a_fresh_database_at_once(database_url: str) -> None:
    context = multiprocessing.get_context("fork")  # no re-import per replica: they start at once
    with context.Manager() as manager:
        barrier = manager.Barrier(REPLICAS)
        with ProcessPoolExecutor(REPLICAS, mp_context=context) as pool:
            results = list(
                pool.map(_start_replica, [database_url] * REPLICAS, [barrier] * REPLICAS)
            )
    assert results == ["ok"] * REPLICAS, "\n".join(r for r in results if r != "ok")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert len(versions) == 1
