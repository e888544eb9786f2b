"""Shared plumbing of the fakes: serving, call recording, injected failures, ids and times."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import string
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.fakes.server import LoopbackServer

log = logging.getLogger(__name__)

HOLD_LIMIT = 30.0  # a held request answers anyway after this long, so a test cannot hang

Handler = Callable[[Request, Any], Awaitable[Response]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the way the vendors write it (`2015-10-06T21:30:42Z`)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to a fake; use timezone-aware UTC")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_id(prefix: str = "", length: int = 6) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request a fake received. Iterates as (method, path, headers, json)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    query: dict[str, str] = field(default_factory=dict)
    status: int = 200
    at: datetime = field(default_factory=utcnow)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.path, self.headers, self.json))


@dataclass
class Failure:
    key: str
    status: int
    times: int
    retry_after: int | None = None
    error: str | None = None
    applied: bool = False  # the call takes effect, then its answer is lost


class FakeService(ABC):
    """Base of the fakes: a Starlette `.app`, a lock, recorded calls and injected failures."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._failures: list[Failure] = []
        self._server: LoopbackServer | None = None
        self._url: str | None = None
        # Simulated network: every request is answered this many seconds late (benchmarks).
        self.latency = 0.0
        self.app = Starlette(routes=self._routes())

    @abstractmethod
    def _routes(self) -> list[Any]:
        """The fake's Starlette routes."""

    # -- serving -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL (no trailing slash) once started, bound, or first called."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started; call start() or bind(url)")
        return self._url

    def bind(self, url: str) -> None:
        """Tell the fake its URL when you serve `.app` yourself."""
        self._url = url.rstrip("/")

    def start(self) -> Self:
        if self._server is None:
            self._server = LoopbackServer(self.app, lifespan="off").start()
            self._url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _learn_url(self, request: Request) -> None:
        if self._url is None:
            self._url = str(request.base_url).rstrip("/")

    # -- failures ------------------------------------------------------------------------
    def _add_failure(self, failure: Failure) -> None:
        if failure.times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._failures.append(failure)

    def _take_failure(self, match: Callable[[str], bool]) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if match(failure.key):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None


def public_headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class RestFake(FakeService):
    """A JSON REST fake: every route goes through `_wrap` for auth, failures and recording."""

    def __init__(self) -> None:
        self._calls: list[RecordedCall] = []
        self._rest_holds: list[tuple[str, threading.Event]] = []
        super().__init__()

    @abstractmethod
    def _authorized(self, request: Request) -> bool:
        """Whether the request carries the vendor's credentials."""

    @abstractmethod
    def _unauthorized(self) -> Response:
        """The vendor's answer to a request without valid credentials."""

    @abstractmethod
    def _failure_response(self, failure: Failure) -> Response:
        """The vendor's answer for an injected failure."""

    @property
    def calls(self) -> list[RecordedCall]:
        """Every request received, in order (Authorization header left out)."""
        with self._lock:
            return list(self._calls)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def fail_next(
        self,
        path_prefix: str,
        *,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`."""
        self._add_failure(Failure(path_prefix, status, times, retry_after))

    def hold(self, path_prefix: str) -> threading.Event:
        """A slow vendor, deterministically: requests whose path starts with `path_prefix` wait
        (at most HOLD_LIMIT seconds) until the returned event is set."""
        gate = threading.Event()
        with self._lock:
            self._rest_holds.append((path_prefix, gate))
        return gate

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self._learn_url(request)
            with self._lock:
                gates = [g for p, g in self._rest_holds if request.url.path.startswith(p)]
            for gate in gates:
                await asyncio.to_thread(gate.wait, HOLD_LIMIT)
            if self.latency:
                await asyncio.sleep(self.latency)
            body = await read_json(request)
            path = request.url.path
            if not self._authorized(request):
                response = self._unauthorized()
            elif failure := self._take_failure(path.startswith):
                response = self._failure_response(failure)
                if failure.retry_after is not None:
                    response.headers["Retry-After"] = str(failure.retry_after)
            else:
                try:
                    response = await handler(request, body)
                except Exception:  # a bug in a fake should read as a 500, not hang the bot
                    log.exception(
                        "fake %s crashed on %s %s", type(self).__name__, request.method, path
                    )
                    response = JSONResponse({"message": "fake crashed"}, status_code=500)
            with self._lock:
                self._calls.append(
                    RecordedCall(
                        method=request.method,
                        path=path,
                        headers=public_headers(request),
                        json=body,
                        query=dict(request.query_params),
                        status=response.status_code,
                    )
                )
            return response

        return endpoint


def run_hook(hook: Callable[[dict[str, Any]], None] | None, payload: dict[str, Any]) -> None:
    if hook is None:
        return
    try:
        hook(payload)
    except Exception:
        log.exception("fake hook %r failed", hook)


def page(items: list[Any], query: Any, *, default_limit: int = 25, max_limit: int = 100) -> dict:
    """PagerDuty classic offset/limit pagination."""
    try:
        limit = int(query.get("limit", default_limit))
        offset = int(query.get("offset", 0))
    except ValueError:
        limit, offset = default_limit, 0
    limit = max(1, min(limit, max_limit))
    offset = max(0, offset)
    chunk = items[offset : offset + limit]
    total = len(items) if str(query.get("total", "false")).lower() == "true" else None
    return {
        "items": chunk,
        "limit": limit,
        "offset": offset,
        "more": offset + len(chunk) < len(items),
        "total": total,
    }
