"""Orient ranks with the weights of OODA_CONFIG's `ranking:`: the same changes and page give
another top suspect when the weights say so."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.storage import repo
from tests.helpers.stack import MakeStack

SECRET = "changes-secret"
SERVICES: list[dict[str, Any]] = [
    {
        "name": "checkout",
        "pagerduty_service_ids": ["PCHKOUT"],
        "github_repo": "acme/checkout",
        "depends_on": ["payments"],
    },
    {"name": "payments", "github_repo": "acme/payments"},
]


async def change(stack: DevStack, key: str, kind: str, repo_name: str, at: datetime) -> None:
    body = {
        "payload": {
            "summary": key,
            "timestamp": at.isoformat(),
            "source": repo_name,
            "custom_details": {"id": key, "kind": kind, "status": "success"},
        }
    }
    assert stack.http is not None
    answer = await stack.http.post(
        "/webhooks/changes", json=body, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert answer.status_code == 202, answer.text


async def top_suspect(make_stack: MakeStack, ranking: dict[str, Any]) -> list[str]:
    config = {"services": SERVICES, "ranking": ranking}
    async with make_stack(config, env={"OODA_CHANGES_SECRET": SECRET}) as stack:
        first_alert = utcnow() - timedelta(minutes=2)
        await change(stack, "checkout-deploy", "deploy", "acme/checkout", first_alert - 12 * M)
        await change(stack, "payments-flag", "flag", "acme/payments", first_alert - 40 * M)
        stack.pagerduty.add_incident(
            "PWEIGHT1",
            number=7,
            title="Checkout errors",
            service_id="PCHKOUT",
            service_name="checkout",
            created_at=first_alert,
        )
        stack.pagerduty.add_alert("PWEIGHT1", summary="5xx", created_at=first_alert)
        event = stack.pagerduty.webhook_event("incident.triggered", "PWEIGHT1")
        assert (await stack.pagerduty_webhook(event)).status_code == 202
        await stack.settle()
        async with stack.runtime.db.session() as session:
            ranked = await repo.ranked_changes(session, 1)
    return [r.change.summary for r in ranked]


M = timedelta(minutes=1)


@pytest.mark.db
async def test_the_configured_weights_decide_the_top_suspect(make_stack: MakeStack) -> None:
    default = await top_suspect(make_stack, {})
    assert default == ["checkout-deploy", "payments-flag"]


@pytest.mark.db
async def test_weights_that_favour_flags_put_the_flag_first(make_stack: MakeStack) -> None:
    tuned = await top_suspect(make_stack, {"kind_bonus": {"flag": 0.6}})
    assert tuned == ["payments-flag", "checkout-deploy"]
