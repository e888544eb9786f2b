"""Driving Orient through the real app: signed GitHub deployment webhooks and change events
(from the vendor samples), a PagerDuty page, and what the Orient card lists."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.devstack import DevStack
from bot.fakes._common import iso
from bot.fakes.github_api import sign_webhook
from tests.helpers.samples import vendor_sample

GH_SECRET = "gh-secret"
CHANGES_SECRET = "changes-secret"
# The settings a stack needs to take both webhooks.
WEBHOOK_ENV = {"GITHUB_WEBHOOK_SECRET": GH_SECRET, "OODA_CHANGES_SECRET": CHANGES_SECRET}


def deployment_event(
    *,
    dep_id: int,
    repo: str,
    sha: str,
    created_at: datetime,
    description: str,
    state: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The vendor's deployment (or, with `state`, deployment_status) sample, re-aimed."""
    name = "deployment_status" if state else "deployment"
    body = vendor_sample(f"github_{name}.created.json")
    body["deployment"].update(
        id=dep_id,
        sha=sha,
        ref="main",
        description=description,
        created_at=iso(created_at),
        updated_at=iso(created_at),
    )
    body["repository"].update(full_name=repo, html_url=f"https://github.com/{repo}")
    if state:
        body["deployment_status"]["state"] = state
    return name, body


def checkout_deployed(stack: DevStack, sha: str, at: datetime, description: str, **kw: Any) -> None:
    """A deployment of acme/checkout that Orient polls from the GitHub API itself."""
    stack.github.add_deployment(
        "acme/checkout", sha=sha, created_at=at, description=description, **kw
    )


async def deploy_webhook(stack: DevStack, **deployment: Any) -> httpx.Response:
    """POST `deployment_event(**deployment)` to /webhooks/github, signed."""
    event, body = deployment_event(**deployment)
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign_webhook(GH_SECRET, raw),
    }
    assert stack.http is not None
    return await stack.http.post("/webhooks/github", content=raw, headers=headers)


async def change_webhook(
    stack: DevStack,
    *,
    summary: str,
    at: datetime,
    source: str,
    details: dict[str, Any],
    links: list[dict[str, str]] | None = None,
) -> httpx.Response:
    """POST a PagerDuty-style change event to /webhooks/changes with the bearer secret."""
    payload = {"summary": summary, "timestamp": iso(at), "source": source}
    body: dict[str, Any] = {"payload": payload | {"custom_details": details}}
    if links is not None:
        body["links"] = links
    assert stack.http is not None
    return await stack.http.post(
        "/webhooks/changes", json=body, headers={"Authorization": f"Bearer {CHANGES_SECRET}"}
    )


def page(stack: DevStack, *, first_alert: datetime, service_id: str = "PCHKOUT") -> dict[str, Any]:
    """A PagerDuty incident with two alerts; returns its incident.triggered webhook body."""
    pd = stack.pagerduty
    pd.add_incident(
        "PORIENT1",
        number=812,
        title="Checkout 5xx errors above SLO",
        service_id=service_id,
        service_name="checkout" if service_id == "PCHKOUT" else "search-api",
        created_at=first_alert,
    )
    pd.add_alert("PORIENT1", summary="checkout-api 5xx rate 12%", created_at=first_alert)
    pd.add_alert(
        "PORIENT1", summary="p99 latency 4 s", created_at=first_alert + timedelta(minutes=1)
    )
    return pd.webhook_event("incident.triggered", "PORIENT1")


async def paged(stack: DevStack, *, first_alert: datetime, service_id: str = "PCHKOUT") -> None:
    """PagerDuty pages (see `page`); the bot opens INC-1 and gathers its context."""
    webhook = page(stack, first_alert=first_alert, service_id=service_id)
    assert (await stack.pagerduty_webhook(webhook)).status_code == 202
    await stack.settle()


def channel_id(stack: DevStack) -> str:
    channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
    return str(channel["id"])


def card(stack: DevStack, prefix: str) -> dict[str, Any] | None:
    return next((m for m in stack.slack.messages() if m["text"].startswith(prefix)), None)


def orient_changes(stack: DevStack) -> list[str]:
    """The text of each ranked change on the Orient card, in order."""
    found = card(stack, "INC-1 Orient")
    assert found is not None, stack.slack.transcript()
    return [
        b["text"]["text"]
        for b in found["blocks"]
        if b["type"] == "section" and b["text"]["text"][:1] == "*"
    ]


def verdict_values(orient: dict[str, Any], action_id: str) -> list[str]:
    """The values of the Orient card's verdict buttons of one kind, one per ranked change."""
    return [
        e["value"]
        for b in orient["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]


def missing_context(stack: DevStack) -> str:
    found = card(stack, "INC-1 Orient")
    assert found is not None
    return "\n".join(
        e.get("text", "")
        for b in found["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
        if "Context unavailable" in e.get("text", "")
    )
