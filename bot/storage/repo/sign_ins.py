"""Sign-ins to the web console under way: a state is stored once and taken once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.tables import ConsoleSignInRow


async def start_sign_in(
    session: AsyncSession,
    state: str,
    nonce: str,
    next_path: str,
    *,
    at: datetime,
    expired: datetime,
) -> None:
    """Remember a sign-in's state and nonce; drop the ones started before `expired`."""
    await session.execute(delete(ConsoleSignInRow).where(ConsoleSignInRow.created_at < expired))
    session.add(ConsoleSignInRow(state=state, nonce=nonce, next_path=next_path, created_at=at))


async def take_sign_in(
    session: AsyncSession, state: str, *, expired: datetime
) -> tuple[str, str] | None:
    """(nonce, next path) of the sign-in this state started, deleting it so that a replayed
    state finds nothing; None when unknown, already taken or started before `expired`."""
    taken = await session.execute(
        delete(ConsoleSignInRow)
        .where(ConsoleSignInRow.state == state)
        .returning(ConsoleSignInRow.nonce, ConsoleSignInRow.next_path, ConsoleSignInRow.created_at)
    )
    row = taken.first()
    if row is None or row.created_at < expired:
        return None
    return row.nonce, row.next_path
