"""Generic webhooks: signed requests out (remediation actions) and change events in.

Outbound signature: header ``X-Ooda-Signature: t=<unix ts>,v1=<hex>`` where the hex is
HMAC-SHA256(secret, f"{t}." + raw body). Receivers recompute it, compare in constant time and
reject timestamps older than a few minutes (replays).

Inbound: PagerDuty's Events API v2 Change Event body, so any tool that already emits change
events to PagerDuty can point at POST /webhooks/changes too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

import httpx

from bot.domain.model import Change, ChangeKind, utcnow
from integrations._common import (
    first_link,
    infer_kind,
    kind_from_word,
    parse_timestamp,
    status_from_word,
)
from integrations.http import send

SIGNATURE_HEADER = "X-Ooda-Signature"


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """True if one v1 signature in the header matches and t is within tolerance of now."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isascii():
                return False
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, body, timestamp).encode()
    # Compare against every candidate (several during secret rotation) without short-circuit.
    # As bytes: compare_digest raises TypeError on a str holding non-ASCII characters.
    matches = [hmac.compare_digest(expected, c.encode("utf-8", "replace")) for c in candidates]
    return any(matches)


async def post_signed(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
    backoff: float = 0.5,
    max_retries: int = 3,
) -> httpx.Response:
    """POST the payload as JSON with X-Ooda-Signature, retrying like any webhook sender.

    Retries resend byte-identical requests (same timestamp and signature), so receivers
    can drop duplicates by the signature value.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ooda-bot",
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
    }
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        return await send(
            client,
            "POST",
            url,
            vendor="Webhook",
            content=body,
            headers=headers,
            backoff=backoff,
            max_retries=max_retries,
            idempotent=True,  # webhooks are at-least-once by convention; see docstring
        )


def _str(details: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = details.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _body_hash(body: dict[str, Any]) -> str:
    # routing_key names the destination (and is a credential), not the change: leave it out.
    content = {k: v for k, v in body.items() if k != "routing_key"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def change_event_to_change(
    body: dict[str, Any],
    *,
    service: str | None,
    received_at: datetime | None = None,
) -> Change:
    """Map a PagerDuty Events v2 change event body to a Change; ValueError says what is wrong.

    Recognised custom_details keys: id, kind/type, service, sha/commit/revision, ref/branch,
    repo/repository, environment/env, author/user, status/state/build_state, image_tag/image.
    """
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("payload is required and must be an object")
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise ValueError("payload.summary is required")
    details = payload.get("custom_details", {})
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise ValueError("payload.custom_details must be an object")
    links = body.get("links", [])
    if links is not None and not isinstance(links, list):
        raise ValueError("links must be a list")

    # PagerDuty treats timestamp as optional and uses the time it received the event.
    if payload.get("timestamp") is None:
        created_at = received_at or utcnow()
    else:
        created_at = parse_timestamp(payload["timestamp"], field="payload.timestamp")

    explicit = kind_from_word(details.get("kind")) or kind_from_word(details.get("type"))
    kind = explicit or infer_kind(summary, default=ChangeKind.OTHER)
    data = dict(details)
    if isinstance(payload.get("source"), str):
        data.setdefault("event_source", payload["source"])
    return Change(
        source="webhook",
        external_id=_str(details, "id") or _body_hash(body),
        summary=summary.strip(),
        created_at=created_at,
        service=_str(details, "service") or service,
        kind=kind,
        status=status_from_word(_str(details, "status", "state", "build_state")),
        repo=_str(details, "repo", "repository"),
        environment=_str(details, "environment", "env"),
        sha=_str(details, "sha", "commit", "revision"),
        ref=_str(details, "ref", "branch"),
        url=first_link(links),
        author=_str(details, "author", "user"),
        data=data,
        image_tag=_str(details, "image_tag", "image"),
    )
