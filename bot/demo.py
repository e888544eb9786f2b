"""`ooda demo`: a whole incident against the built-in fakes, printed as a transcript."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.slack.ids import ActionId

CONFIG: dict[str, Any] = {
    "services": [
        {
            "name": "checkout",
            "pagerduty_service_ids": ["PCHKOUT"],
            "github_repo": "acme/checkout",
            "github_environment": "production",
            "rollback_workflow": "rollback.yml",
            "depends_on": ["payments"],
            "team": "payments-eng",
            "dashboard_url": "https://grafana.example.com/d/checkout",
            "logs_url": "https://logs.example.com/?q=service%3Acheckout",
        },
        {"name": "payments", "pagerduty_service_ids": ["PPAYMNT"], "github_repo": "acme/payments"},
    ]
}


@dataclass
class Scenario:
    pd_incident_id: str
    triggered: dict[str, Any]
    suspect_sha: str
    rollback_sha: str
    alice: str
    bob: str


def seed_scenario(stack: DevStack, *, now: datetime) -> Scenario:
    """Checkout starts failing 12 minutes after a deploy; a rollback fixes it."""
    first_alert = now - timedelta(minutes=3)
    alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    bob = stack.slack.add_user("bob@example.com", "U0BOB0001", name="bob")
    gh = stack.github
    gh.add_deployment(
        "acme/checkout",
        sha="1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c",
        created_at=first_alert - timedelta(days=2),
        description="v1.41.0",
    )
    good = gh.add_deployment(
        "acme/checkout",
        sha="9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d",
        created_at=first_alert - timedelta(hours=5),
        description="v1.42.0",
    )
    suspect = gh.add_deployment(
        "acme/checkout",
        sha="c0ffee15deadbeefc0ffee15deadbeefc0ffee15",
        created_at=first_alert - timedelta(minutes=12),
        description="v1.43.0: new payment retry policy",
    )
    gh.add_deployment(
        "acme/payments",
        sha="77aa88bb99cc00dd77aa88bb99cc00dd77aa88bb",
        created_at=first_alert - timedelta(minutes=50),
        description="payments v3.2.1",
    )
    pd = stack.pagerduty
    pd.add_user("PALICE1", "Alice Example", "alice@example.com")
    incident = pd.add_incident(
        "PDEMO01",
        number=4711,
        title="Checkout 5xx errors above SLO",
        service_id="PCHKOUT",
        service_name="checkout",
        urgency="high",
        created_at=first_alert,
        priority="P2",
        assignees=[{"id": "PALICE1"}],  # paged: invited to the channel, so a responder
    )
    for minutes, summary in (
        (0, "checkout-api 5xx rate 12% (SLO 1%)"),
        (1, "checkout-api p99 latency 4.2 s"),
        (2, "payment retries queue depth 18k"),
    ):
        pd.add_alert(
            "PDEMO01", summary=summary, created_at=first_alert + timedelta(minutes=minutes)
        )

    def rollback_fixes_production(dispatch: dict[str, Any]) -> None:
        pd.resolve_alerts("PDEMO01", resolve_incident=False)

    gh.on_dispatch = rollback_fixes_production
    return Scenario(
        pd_incident_id=incident["id"],
        triggered=pd.webhook_event("incident.triggered", "PDEMO01"),
        suspect_sha=suspect["sha"],
        rollback_sha=good["sha"],
        alice=alice,
        bob=bob,
    )


def _section(title: str) -> None:
    print(f"\n──── {title} " + "─" * max(4, 60 - len(title)))


async def run_demo(output: Path | None = None) -> int:
    started = time.monotonic()
    output = output or Path.cwd() / "ooda-demo-postmortem.md"
    with tempfile.TemporaryDirectory(prefix="ooda-demo-") as tmp:
        async with DevStack(
            Path(tmp), config=CONFIG, env={"OODA_VERIFY_POLL_SECONDS": "1"}
        ) as stack:
            printed = 0

            def show() -> None:
                nonlocal printed
                lines = stack.slack.transcript().splitlines()
                for line in lines[printed:]:
                    print("  " + line)
                printed = len(lines)

            scenario = seed_scenario(stack, now=utcnow())
            _section("PagerDuty pages: incident.triggered → POST /webhooks/pagerduty")
            response = await stack.pagerduty_webhook(scenario.triggered)
            print(
                f"  webhook answered {response.status_code} in "
                f"{response.elapsed.total_seconds() * 1000:.0f} ms"
            )
            await stack.settle()
            _section("Observe + Orient: channel, alerts, ranked deploys")
            show()
            channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
            cid = channel["id"]

            _section("Alice acknowledges and marks the top deploy as the suspect")
            await stack.click(ActionId.INCIDENT_ACK, "1", user=scenario.alice, channel=cid)
            await stack.settle()
            change_key = f"github:{_deployment_id(stack, scenario.suspect_sha)}"
            await stack.click(
                ActionId.VERDICT_SUSPECT,
                f'{{"i": 1, "c": "{change_key}"}}',
                user=scenario.alice,
                channel=cid,
            )
            await stack.settle()
            show()

            _section("Decide: playbooks matched against the evidence")
            await stack.click(ActionId.STAGE_DECIDE, "1", user=scenario.alice, channel=cid)
            await stack.settle()
            show()
            decide = next(
                m for m in stack.slack.messages(cid) if m["text"].startswith("INC-1 Decide")
            )
            button = next(
                b["accessory"]
                for b in decide["blocks"]
                if b.get("accessory", {}).get("action_id") == ActionId.DECIDE_RUN
            )

            _section(f"Act: Alice clicks “{button['text']['text']}” and confirms")
            await stack.click(
                ActionId.DECIDE_RUN,
                button["value"],
                user=scenario.alice,
                channel=cid,
                message_ts=decide["ts"],
            )
            await stack.settle()
            modal = stack.slack.views[-1]
            await stack.submit(
                modal, {"reason": "v1.43.0 landed 12 min before the 5xx spike"}, user=scenario.alice
            )
            await stack.settle()
            dispatch = stack.github.dispatches[-1]
            print(
                f"  GitHub received workflow_dispatch: {dispatch['workflow']} on {dispatch['repo']} "
                f"inputs={dispatch.get('inputs')}"
            )
            show()

            _section("PagerDuty resolves: incident.resolved → postmortem")
            resolved = stack.pagerduty.webhook_event("incident.resolved", scenario.pd_incident_id)
            await stack.pagerduty_webhook(resolved)
            await stack.settle()
            show()
            files = stack.slack.files
            content = files[-1]["content"] if files else b""
            text = content.decode() if isinstance(content, bytes) else str(content)
    output.write_text(text, encoding="utf-8")
    _section("Done")
    print(f"  Postmortem written to {output}")
    print(f"  Whole incident played in {time.monotonic() - started:.1f} s")
    return 0 if text else 1


def _deployment_id(stack: DevStack, sha: str) -> int:
    return next(d["id"] for d in stack.github.deployments("acme/checkout") if d["sha"] == sha)
