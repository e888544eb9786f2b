"""INSERT … ON CONFLICT DO NOTHING for the rows that are written once under a unique key.

One statement where a savepoint took three (SAVEPOINT, INSERT, RELEASE) and an
IntegrityError, on SQLite and PostgreSQL alike. A redelivery or a concurrent first writer
makes it insert nothing, and the caller gets None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


def _insert(session: AsyncSession, entity: type[Any]) -> Any:
    postgres = session.get_bind().dialect.name == "postgresql"
    return (pg_insert if postgres else sqlite_insert)(entity)


async def insert_new(
    session: AsyncSession, entity: type[Row], unique: Sequence[str], **values: Any
) -> Row | None:
    """The inserted row (in the session, as if added), or None when one with the same
    `unique` columns exists."""
    statement = (
        _insert(session, entity)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(entity)
    )
    found: Row | None = (await session.scalars(statement)).first()
    return found


async def ensure(
    session: AsyncSession, entity: type[Any], unique: Sequence[str], **values: Any
) -> None:
    """The row exists afterwards (inserted now or before); nothing is read back."""
    statement = _insert(session, entity).values(**values)
    await session.execute(statement.on_conflict_do_nothing(index_elements=list(unique)))
