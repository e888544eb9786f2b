"""One retrying request helper and one error type shared by every vendor client.

Errors carry the vendor, status, vendor error code and the request path, never headers or
bodies we sent: tokens live in headers, so keeping them out of messages keeps them out of logs.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from types import TracebackType
from typing import Any, Self

import httpx

# Methods a server may safely receive twice. POSTs are only retried when the request
# provably never reached the server (connection failures, 429), so a rollback never runs twice.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_DETAIL_MAX = 200


class UpstreamError(Exception):
    """A vendor API call failed for good (after any retries)."""

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.status = status
        self.code = code  # vendor error code, e.g. PagerDuty 1001
        self.detail = detail  # vendor's own error message, if it sent one


def _path(url: httpx.URL | str) -> str:
    # Only the path: query strings and hosts add noise and could carry identifiers.
    return httpx.URL(str(url)).path or "/"


def _error_fields(response: httpx.Response) -> tuple[int | None, str | None]:
    """(code, message) from PagerDuty {"error": {...}}, GitHub {"message"} or Argo CD bodies."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    err = body.get("error")
    code: Any = None
    message: Any = None
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
        extra = err.get("errors")
        if isinstance(extra, list) and extra:
            message = f"{message}: {'; '.join(str(e) for e in extra)}"
    else:
        code, message = body.get("code"), body.get("message") or err
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = str(message)[:_DETAIL_MAX] if message else None
    return code, message


def upstream_error(vendor: str, response: httpx.Response) -> UpstreamError:
    """Build the UpstreamError for a non-success response."""
    code, detail = _error_fields(response)
    message = (
        f"{vendor} API returned {response.status_code} for "
        f"{response.request.method} {_path(response.request.url)}"
    )
    if detail:
        message += f": {detail}"
    return UpstreamError(vendor, message, status=response.status_code, code=code, detail=detail)


def _header_seconds(value: str | None) -> float | None:
    """Seconds from a delta-seconds header, or from an HTTP date (Retry-After allows both)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _rate_limit_wait(response: httpx.Response) -> float | None:
    # PagerDuty sends ratelimit-reset (seconds until reset); most others send Retry-After.
    for name in ("ratelimit-reset", "retry-after"):
        seconds = _header_seconds(response.headers.get(name))
        if seconds is not None:
            return seconds
    return None


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    vendor: str,
    max_retries: int = 3,
    backoff: float = 0.5,
    max_wait: float = 30.0,
    idempotent: bool | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; retry 429, 5xx and transport failures; raise UpstreamError otherwise.

    ``idempotent`` defaults from the method. Non-idempotent requests (POST) are retried only
    on 429 and on connection failures, where the server certainly did not act on them.
    """
    method = method.upper()
    safe = method in _IDEMPOTENT if idempotent is None else idempotent
    for attempt in range(max_retries + 1):
        last = attempt >= max_retries
        delay = min(backoff * 2**attempt, max_wait)
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            retryable = safe or isinstance(exc, _NOT_SENT)
            if last or not retryable:
                what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
                raise UpstreamError(
                    vendor,
                    f"{vendor} API request {method} {_path(url)} {what} "
                    f"({type(exc).__name__}) after {attempt + 1} attempt(s)",
                ) from exc
            await asyncio.sleep(delay)
            continue

        status = response.status_code
        if status < 400:
            return response
        if status == 429 and not last:
            wait = _rate_limit_wait(response)
            await asyncio.sleep(min(wait if wait is not None else delay, max_wait))
            continue
        if status >= 500 and safe and not last:
            await asyncio.sleep(delay)
            continue
        raise upstream_error(vendor, response)
    raise AssertionError("unreachable")  # pragma: no cover


class ApiClient:
    """Base for the vendor clients: one AsyncClient, retries, async context manager."""

    vendor = "HTTP"

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
        backoff: float,
        secret: str | None = None,
    ) -> None:
        self._backoff = backoff
        self._secret = secret
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
            # GitHub answers renamed repos with 301; httpx drops auth on cross-origin hops.
            follow_redirects=True,
        )

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await send(
                self._http, method, path, vendor=self.vendor, backoff=self._backoff, **kwargs
            )
        except UpstreamError as exc:
            # A misbehaving server could echo our credentials back in its error body.
            if self._secret and self._secret in str(exc):
                exc.args = (str(exc).replace(self._secret, "[redacted]"),)
                exc.detail = (exc.detail or "").replace(self._secret, "[redacted]") or None
            raise

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamError(
                self.vendor,
                f"{self.vendor} API returned a non-JSON body for {method} {_path(path)}",
                status=response.status_code,
            ) from exc

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        # Never show headers: they hold the token.
        return f"<{type(self).__name__} {self._http.base_url}>"
