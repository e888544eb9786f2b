"""Engines, sessions and migrations. SQLite by default, PostgreSQL (psycopg 3) at scale."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

try:
    import fcntl
except ImportError:  # not POSIX: no file lock for SQLite migrations
    fcntl = None  # type: ignore[assignment]  # None stands for the missing module


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. Session.execute is typed as returning any Result;
    for those statements it is a CursorResult, which has the count."""
    return cast("CursorResult[Any]", result).rowcount


def async_url(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def sync_url(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; busy_timeout waits instead of failing on a lock.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL loses nothing a committed transaction wrote when the process dies
    # (kill -9); only a power cut may lose the last commits. It saves an fsync per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself


def _sqlite_begin(conn: Any) -> None:
    # A write transaction takes SQLite's write lock when it begins, not at its first write:
    # otherwise two read-modify-write transactions both read the old row and one update is
    # lost (SQLite has no SELECT … FOR UPDATE). Read-only sessions stay deferred.
    immediate = conn.get_execution_options().get(IMMEDIATE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


IMMEDIATE = "sqlite_immediate"

# What a transaction notes in `session.info` for the commit hooks: it queued a job (True), the
# Slack outbox lanes it recorded something for (a set). The runtime wakes the worker or the
# sender only for what concerns it.
QUEUED = "ooda.queued"
SAID = "ooda.said"

CommitHook = Callable[[Mapping[str, Any]], None]


def create_engine(url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        kwargs["connect_args"] = {"timeout": 30}
    else:  # a PostgreSQL connection can die under the pool; a SQLite file cannot
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(async_url(url), **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


class Database:
    """One engine and its session factory; passed explicitly, never a module global."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock()
        self._commit_hooks: list[CommitHook] = []

    def on_commit(self, hook: CommitHook) -> None:
        """Call `hook(session.info)` after each committed `transaction()`."""
        self._commit_hooks.append(hook)

    def _committed(self, info: Mapping[str, Any]) -> None:
        if info.get(QUEUED) or info.get(SAID):
            for hook in self._commit_hooks:
                hook(info)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if not self.is_sqlite:
            async with self.sessions() as session:
                async with session.begin():
                    yield session
                self._committed(session.info)
            return
        # SQLite has one writer at a time. Queueing this process's writers here costs nothing,
        # where leaving it to SQLite's busy handler would make each waiter sleep and poll.
        async with self._write_lock, self.sessions() as session:
            async with session.begin():
                await session.connection(execution_options={IMMEDIATE: True})
                yield session
            self._committed(session.info)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    script_location = resources.files("bot.storage") / "migrations"
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


# pg_advisory_lock key held while migrating: any constant shared by every replica ("ooda").
MIGRATION_LOCK_KEY = 0x6F6F6461


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held by one process at a time for a database: on PostgreSQL a session advisory lock on a
    dedicated connection (released when it closes, even if the process dies); on a SQLite file
    an exclusive lock on `<file>.migrate.lock` beside it; otherwise nothing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = sa_create_engine(sync_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
        finally:
            engine.dispose()
        return
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        lock_file = open(f"{database}.migrate.lock", "a+b")  # noqa: SIM115 - closed below
    except OSError:  # a read-only directory: migrate unlocked, as before
        yield
        return
    with lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def upgrade(
    url: str, revision: str = "head", *, on_step: Callable[[int, int], None] | None = None
) -> None:
    """Apply migrations (blocking; call before the event loop or in a thread). Replicas
    starting together take turns (`migration_lock`): the first migrates, the others find
    the database at head; none fails on a table another is creating. `on_step(done, total)`
    is called after each migration applied."""
    with migration_lock(url):
        config = alembic_config(url)
        if on_step is not None:
            total = len(migration_state(url).pending)
            done = [0]

            def applied(**_: Any) -> None:
                done[0] += 1
                on_step(done[0], total)

            config.attributes["on_version_apply"] = applied
        command.upgrade(config, revision)


@dataclass(frozen=True)
class MigrationState:
    """Where a database stands: its revision (None: never migrated) and what is not applied."""

    current: str | None
    head: str
    pending: tuple[str, ...]
    known: bool = True  # False: the database is at a revision this code does not ship

    @property
    def at_head(self) -> bool:
        return self.known and not self.pending


@functools.cache
def shipped_revisions() -> tuple[str, frozenset[str]]:
    """The newest migration this code ships and all of them (they do not change while it runs)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    every = frozenset(rev.revision for rev in scripts.walk_revisions())
    return scripts.get_current_head() or "", every


async def current_revision(db: Database) -> str | None:
    """The revision the database is at; None before the first migration."""
    async with db.session() as session:
        exists = await session.run_sync(
            lambda s: inspect(s.connection()).has_table("alembic_version")
        )
        if not exists:
            return None
        return await session.scalar(text("SELECT version_num FROM alembic_version"))


def migration_state(url: str) -> MigrationState:
    """The database's Alembic revision against the newest one this code ships (blocking)."""
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head() or ""
    engine = sa_create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    try:
        revisions = list(scripts.iterate_revisions(head, current))
    except ResolutionError:  # migrated by a newer ooda-bot
        return MigrationState(current, head, (), known=False)
    pending = [rev.revision for rev in revisions if rev.revision != current]
    return MigrationState(current, head, tuple(reversed(pending)))
