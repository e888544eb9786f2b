"""/slack/events: verify first, parse after, then Bolt.

Bolt parses a body before it checks its signature, so anyone on the internet could make it raise
(invalid UTF-8, invalid JSON, an odd timestamp). This route runs first, in this order:

1. the body, read under the webhooks' size limit: 413 for more, without reading the rest;
2. X-Slack-Request-Timestamp (digits, within 5 minutes) and X-Slack-Signature (slack_sdk's
   SignatureVerifier): 401, nothing stored and nothing logged with the body;
3. the body read as Bolt will read it, field types checked (bot.slack.listen.payloads): 400 and why;
4. a kind no listener takes (another command, a view_closed, an app_rate_limited): 200, ignored;
5. a replay (the same timestamp and signature again): what stores the interaction itself is
   deduplicated by Slack's ids in the body (the same bytes, the same ids); what does not (an
   answer, a modal opened) stores the request's fingerprint before it acts, after the ack
   (`interactions.after_ack`), and does nothing when it was there. Slack's own retries are
   signed anew (X-Slack-Retry-Num) and are recognised by those ids;
6. Bolt, with the body already read and parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.service.runtime import Runtime
from bot.settings import secret
from bot.slack.listen import interactions, payloads
from bot.web import ingest

log = logging.getLogger(__name__)

WINDOW = 300  # seconds: how far a request's timestamp may be from now
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def refusal(timestamp: str | None, signature: str | None, now: float) -> str | None:
    """Why the headers cannot be those of a fresh Slack request (before any HMAC)."""
    if not timestamp:
        return "missing X-Slack-Request-Timestamp"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "X-Slack-Request-Timestamp is not a number of seconds"
    if abs(now - int(timestamp)) > WINDOW:
        return "X-Slack-Request-Timestamp is more than 5 minutes away"
    if not signature:
        return "missing X-Slack-Signature"
    if not _SIGNATURE.fullmatch(signature):
        return "X-Slack-Signature is not a v0 signature"
    return None


def signed(verifier: SignatureVerifier, raw: bytes, timestamp: str, signature: str) -> bool:
    """The signature matches the body. slack_sdk's verifier decodes the body as UTF-8 first;
    a body that is not (never one from Slack) is checked on its bytes, to answer 400 if signed."""
    try:
        return verifier.is_valid(raw.decode("utf-8"), timestamp, signature)
    except UnicodeDecodeError:
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = hmac.new(verifier.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"v0={expected}".encode(), signature.encode())


def fingerprint(timestamp: str, signature: str) -> str:
    return hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()


def _bolt_request(request: Request, raw: str, parsed: payloads.SlackRequest) -> AsyncBoltRequest:
    """Bolt's request for the body read and checked here: Bolt's own parse is replaced by ours
    (it reads a command whose text holds "payload" as an empty body)."""
    bolt_request = AsyncBoltRequest(
        body=raw, query=request.url.query, headers=dict(request.headers)
    )
    bolt_request.body = parsed.body
    bolt_request.context = build_async_context(AsyncBoltContext({}), parsed.body)
    return bolt_request


def slack_events(rt: Runtime, bolt: AsyncApp) -> Callable[[Request], Awaitable[Response]]:
    """The /slack/events endpoint: the checks above, then Bolt."""
    configured = secret(rt.settings.slack_signing_secret)
    verifier = SignatureVerifier(configured) if configured else None

    async def receive(request: Request) -> Response:
        raw = await ingest.read_body(request)
        if raw is None:
            return ingest.error(413, ingest.TOO_LARGE)
        if verifier is None:
            return ingest.not_configured("SLACK_SIGNING_SECRET")
        timestamp = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        problem = refusal(timestamp, signature, time.time())
        if problem is None and not signed(verifier, raw, str(timestamp), str(signature)):
            problem = "X-Slack-Signature does not match the body"
        if problem is not None:
            log.info("refused a Slack request: %s", problem)  # never the body: anyone sends it
            return ingest.error(401, problem)
        try:
            parsed = payloads.read(
                raw,
                request.headers.get("content-type"),
                slash_command=rt.settings.slash_command,
            )
            bolt_request = _bolt_request(request, raw.decode("utf-8"), parsed)
        except payloads.Refused as exc:
            return ingest.error(400, ingest.shown(str(exc), 200))
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            # What payloads.read missed and Bolt stumbles on: still the sender's fault.
            log.warning("Bolt could not read a Slack request: %r", exc)
            return ingest.error(400, "a field of the body has the wrong type")
        if not parsed.handled:
            log.debug("ignored a Slack %s", parsed.kind)
            return JSONResponse({"ok": True, "ignored": ingest.shown(parsed.kind)})
        assert timestamp is not None and signature is not None
        request_print = interactions.FINGERPRINT_OF_REQUEST.set(fingerprint(timestamp, signature))
        try:
            response = await bolt.async_dispatch(bolt_request)
        finally:
            interactions.FINGERPRINT_OF_REQUEST.reset(request_print)
        if response.status == 404:  # nobody listens (the fallbacks should): not the sender's fault
            return JSONResponse({"ok": True, "ignored": ingest.shown(parsed.kind)})
        return to_starlette_response(response)

    return receive
