"""Inbound webhook signature checks, all constant-time."""

from __future__ import annotations

import hashlib
import hmac


def pagerduty_valid(header: str | None, body: bytes, secrets: list[str]) -> bool:
    """X-PagerDuty-Signature: one or more comma-separated 'v1=<hex>' values (secret rotation)."""
    if not header or not secrets:
        return False
    offered = [p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")]
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        # Compare bytes: compare_digest raises on non-ASCII str, which would be a 500.
        if any(hmac.compare_digest(expected.encode(), v.encode()) for v in offered):
            return True
    return False


def pagerduty_header_wellformed(header: str | None) -> bool:
    if not header:
        return False
    return all(p.strip().startswith("v1=") and len(p.strip()) > 3 for p in header.split(","))


def github_valid(header: str | None, body: bytes, secret: str) -> bool:
    """X-Hub-Signature-256: 'sha256=<hex hmac of the raw body>'."""
    if not header or not header.startswith("sha256=") or not secret:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())
