"""What every inbound webhook route does the same way: read the body under a size limit, answer
errors as ``{"ok": false, "error": ...}``, parse JSON with a 400 reason, and (for change sources)
record the delivery under its dedup key, upsert the change and queue the Orient redraws.

Each route keeps its own checks (which secret, which signature, which headers) and their order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.domain import json_values
from bot.domain.model import Change
from bot.service import orientation
from bot.service.runtime import Runtime
from bot.settings import secret
from bot.storage import repo
from bot.storage.repo.changes import change_problem
from bot.storage.tables import ChangeRow

MAX_BODY = 2 * 1024 * 1024
TOO_LARGE = "body larger than 2 MB"


def error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)


def shown(value: object, limit: int = 80) -> str:
    """A sender's value safe to echo in an answer: text, at most `limit` characters, with
    control characters and anything that is not valid Unicode (a lone surrogate) as "?"."""
    text = value if isinstance(value, str) else repr(value)
    text = text[:limit].encode("utf-8", "replace").decode("utf-8")
    return "".join("?" if not ch.isprintable() else ch for ch in text)


def duplicate() -> JSONResponse:
    """The answer to a delivery already recorded under the same dedup key."""
    return JSONResponse({"ok": True, "duplicate": True})


def not_configured(setting: str) -> JSONResponse:
    return error(403, f"{setting} is not configured")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, or None when it is larger than the limit (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def body_and_secret(
    request: Request, configured: SecretStr | None, setting: str
) -> tuple[bytes, str] | JSONResponse:
    """The body and the route's shared secret; else the answer: 413 for a body over the limit,
    403 when `setting` is not configured (checked in that order)."""
    body = await read_body(request)
    if body is None:
        return error(413, TOO_LARGE)
    shared = secret(configured)
    if not shared:
        return not_configured(setting)
    return body, shared


def parse_json(body: bytes) -> Any:
    """The decoded body, or the 400 answer (a JSONResponse) with the reason: not UTF-8, not
    valid JSON, nested too deep, or holding values no database or answer can keep."""
    try:
        return json_values.decode(body)
    except json_values.BodyError as exc:
        return error(400, str(exc))


def json_object(body: bytes) -> dict[str, Any] | JSONResponse:
    """The decoded body when it is a JSON object, else the 400 answer."""
    value = parse_json(body)
    if isinstance(value, JSONResponse):
        return value
    if not isinstance(value, dict):
        return error(400, "body must be a JSON object")
    return value


def change_refusal(change: Change) -> str | None:
    """Why the change is refused: a field of the wrong type or with text no database keeps
    (`change_problem`), or longer than its column (the insert would fail on PostgreSQL)."""
    problem = change_problem(change)
    if problem:
        return problem
    for column in ChangeRow.__table__.columns:
        limit = getattr(column.type, "length", None)
        value = getattr(change, column.name, None)
        if limit and isinstance(value, str) and len(value) > limit:
            field = "custom_details.id" if column.name == "external_id" else column.name
            return f"{field} is longer than {limit} characters"
    return None


@dataclass(frozen=True)
class StoredChange:
    change: Change  # as upserted (after `before_upsert`)
    status: str  # the stored row's status: an older status may have been kept
    reoriented: list[int]  # the open incidents whose Orient card is redrawn


async def store_change(
    rt: Runtime,
    *,
    source: str,
    dedup_key: str,
    event_type: str | None,
    payload: dict[str, Any],
    change: Change,
    before_upsert: Callable[[AsyncSession, Change], Awaitable[Change]] | None = None,
) -> StoredChange | None:
    """Record the delivery, upsert its change and queue the Orient redraws, in one transaction;
    None when this dedup key was seen before (nothing else is written)."""
    async with rt.db.transaction() as session:
        inbound = await repo.record_inbound(session, source, dedup_key, event_type, payload)
        if inbound is None:
            return None
        if before_upsert is not None:
            change = await before_upsert(session, change)
        row = await repo.upsert_change(session, change)
        stored_status = row.status
        reoriented = await orientation.queue_reorient(session, rt, change)
    return StoredChange(change, stored_status, reoriented)


def change_answer(stored: StoredChange, status_code: int = 200, **fields: Any) -> JSONResponse:
    """The answer to a stored change: its key and service, `fields`, the incidents redrawn."""
    change = stored.change
    return JSONResponse(
        {
            "ok": True,
            "change": f"{change.source}:{change.external_id}",
            "service": change.service,
            **fields,
            "reoriented": stored.reoriented,
        },
        status_code=status_code,
    )
