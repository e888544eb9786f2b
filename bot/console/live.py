"""The incident page's live timeline: Server-Sent Events of the entries after the last one it
has, from the database (so a note committed by any replica shows), polled every half second
and woken at once when this replica commits something."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.console.session import Sessions
from bot.console.templating import render
from bot.service.runtime import Runtime
from bot.slack.out.gateway import display_names
from bot.storage import repo

POLL_SECONDS = 0.5
# A stream ends after this long and the browser reconnects (Last-Event-ID): no request lives
# forever, so a shutdown never waits on an open page.
STREAM_SECONDS = 25.0
HEARTBEAT_SECONDS = 10.0


class Commits:
    """Wakes every open stream when this process commits (bot.storage.db commit hooks)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()

    def committed(self, info: Mapping[str, Any]) -> None:
        for event in list(self._waiters):
            event.set()

    async def wait(self, timeout: float) -> None:
        event = asyncio.Event()
        self._waiters.add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(event)


class Live:
    def __init__(self, rt: Runtime, sessions: Sessions) -> None:
        self.rt = rt
        self.sessions = sessions
        self.commits = Commits()
        rt.db.on_commit(self.commits.committed)

    async def stream(self, request: Request) -> Response:
        if self.sessions.person(request) is None:
            return Response("sign in first", status_code=401, media_type="text/plain")
        raw = str(request.path_params.get("number", ""))
        if not raw.isdigit() or len(raw) > 9:
            return Response("no such incident", status_code=404, media_type="text/plain")
        after = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        last = int(after) if after.isdigit() and len(after) < 12 else 0
        return StreamingResponse(
            self._events(int(raw), last),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _events(self, number: int, last: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends, quiet_since = loop.time() + STREAM_SECONDS, loop.time()
        names: dict[str, str] = {}
        yield "retry: 1000\n\n"
        while loop.time() < ends:
            async with self.rt.db.session() as session:
                entries = await repo.timeline_after(session, number, last, limit=100)
            if entries:
                await self._learn_names(names, [e.actor for _, e in entries])
                for entry_id, entry in entries:
                    html = render(
                        "entry.html.j2", {"entry_id": entry_id, "entry": entry, "names": names}
                    )
                    yield f"id: {entry_id}\nevent: entry\ndata: {json.dumps(html)}\n\n"
                    last = entry_id
                quiet_since = loop.time()
                continue
            if loop.time() - quiet_since > HEARTBEAT_SECONDS:
                yield ": still here\n\n"
                quiet_since = loop.time()
            await self.commits.wait(POLL_SECONDS)

    async def _learn_names(self, names: dict[str, str], actors: list[str | None]) -> None:
        unknown = {a for a in actors if a and a[:1] in "UW" and a not in names}
        if unknown:
            names.update({a: a for a in unknown})  # asked once, even when Slack knows none
            names.update(await display_names(self.rt.slack, unknown))
