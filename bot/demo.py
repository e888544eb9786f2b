"""`ooda demo`: a whole incident against the built-in fakes, printed as a transcript.

The scenario (`seed_scenario`) and the story played on it (`DemoIncident`, step by step) are
the ones the tests play too: a change to the story is made here, once."""

from __future__ import annotations

import asyncio
import enum
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.devstack import DevStack
from bot.domain.model import utcnow
from bot.slack.ids import ActionId, ViewId

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


class Step(enum.StrEnum):
    """The demo's story, in order: written once, for `ooda demo` and the tests alike."""

    PAGE = "page"  # PagerDuty pages; the bot opens INC-1's channel with Observe and Orient
    ACKNOWLEDGE = "acknowledge"  # Alice acknowledges (mirrored to PagerDuty)
    SUSPECT = "suspect"  # she marks the top-ranked deploy as the suspect
    DECIDE = "decide"  # on to Decide: playbooks matched against the evidence
    ACT = "act"  # she runs the first suggestion (the rollback) and confirms; verify follows
    RESOLVE = "resolve"  # PagerDuty resolves; the bot uploads the postmortem


class DemoError(RuntimeError):
    """The bot did not answer a step of the story as the story expects."""


class DemoIncident:
    """The demo's scenario seeded on a running DevStack, and its story played one step at a
    time (`steps`, `play`): `ooda demo` prints what Slack shows after each step, tests assert
    on it. Each step ends once the bot has done all its work (the stack settled)."""

    REASON = "v1.43.0 landed 12 min before the 5xx spike"  # why Alice runs the rollback

    def __init__(self, stack: DevStack, *, now: datetime | None = None) -> None:
        self.stack = stack
        self.scenario = seed_scenario(stack, now=now or utcnow())
        self.played: list[Step] = []
        self.channel = ""  # INC-1's channel, once paged
        self.page_response: httpx.Response | None = None
        self.decide_card: dict[str, Any] = {}  # the Decide card Alice clicked in
        self.run_button: dict[str, Any] = {}  # the suggestion she ran
        self.confirm_modal: dict[str, Any] = {}  # the confirmation she submitted
        self.confirmed: httpx.Response | None = None  # Slack's answer to that submission

    async def play(self, *, through: Step = Step.RESOLVE) -> DemoIncident:
        """Play the steps not played yet, up to and including `through`."""
        async for _ in self.steps(through=through):
            pass
        return self

    async def steps(self, *, through: Step = Step.RESOLVE) -> AsyncIterator[Step]:
        """Play the steps not played yet up to `through`, yielding each once it has settled
        (what the caller does before asking for the next one happens between the two)."""
        run = {
            Step.PAGE: self._page,
            Step.ACKNOWLEDGE: self._acknowledge,
            Step.SUSPECT: self._suspect,
            Step.DECIDE: self._decide,
            Step.ACT: self._act,
            Step.RESOLVE: self._resolve,
        }
        story = list(Step)
        for step in story[len(self.played) : story.index(through) + 1]:
            await run[step]()
            self.played.append(step)
            yield step

    @property
    def postmortem(self) -> str:
        """The postmortem the bot uploaded last ("" before the resolve)."""
        files = [f for f in self.stack.slack.files if f["filename"].endswith("-postmortem.md")]
        content = files[-1]["content"] if files else b""
        return content.decode() if isinstance(content, bytes) else str(content)

    async def _page(self) -> None:
        stack = self.stack
        self.page_response = await stack.pagerduty_webhook(self.scenario.triggered)
        _expect(self.page_response.status_code == 202, f"PagerDuty webhook: {self.page_response}")
        await stack.settle()
        channels = [c["id"] for c in stack.slack.channels if c["name"].startswith("inc-1-")]
        _expect(len(channels) == 1, f"INC-1's channel: {channels}")
        self.channel = channels[0]

    async def _acknowledge(self) -> None:
        await self._click(ActionId.INCIDENT_ACK, "1")

    async def _suspect(self) -> None:
        change_key = f"github:{_deployment_id(self.stack, self.scenario.suspect_sha)}"
        await self._click(ActionId.VERDICT_SUSPECT, f'{{"i": 1, "c": "{change_key}"}}')

    async def _decide(self) -> None:
        await self._click(ActionId.STAGE_DECIDE, "1")
        cards = [
            m
            for m in self.stack.slack.messages(self.channel)
            if m["text"].startswith("INC-1 Decide")
        ]
        _expect(bool(cards), "no Decide card")
        self.decide_card = cards[-1]
        buttons = [
            b["accessory"]
            for b in self.decide_card["blocks"]
            if b.get("accessory", {}).get("action_id") == ActionId.DECIDE_RUN
        ]
        _expect(bool(buttons), "no suggestion to run on the Decide card")
        self.run_button = buttons[0]

    async def _act(self) -> None:
        stack = self.stack
        await self._click(
            ActionId.DECIDE_RUN, self.run_button["value"], message_ts=self.decide_card["ts"]
        )
        self.confirm_modal = stack.slack.views[-1]
        _expect(
            self.confirm_modal.get("callback_id") == ViewId.ACT_CONFIRM,
            f"no confirmation modal: {self.confirm_modal.get('callback_id')}",
        )
        self.confirmed = await stack.submit(
            self.confirm_modal, {"reason": self.REASON}, user=self.scenario.alice
        )
        await stack.settle()

    async def _resolve(self) -> None:
        stack = self.stack
        resolved = stack.pagerduty.webhook_event("incident.resolved", self.scenario.pd_incident_id)
        response = await stack.pagerduty_webhook(resolved)
        _expect(response.status_code == 202, f"PagerDuty webhook: {response}")
        await stack.settle()

    async def _click(self, action_id: ActionId, value: str, *, message_ts: str = "") -> None:
        """Alice clicks a button in INC-1's channel; the bot does what it asks."""
        user, channel = self.scenario.alice, self.channel
        await self.stack.click(action_id, value, user=user, channel=channel, message_ts=message_ts)
        await self.stack.settle()


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise DemoError(what)


def _section(title: str) -> None:
    print(f"\n──── {title} " + "─" * max(4, 60 - len(title)))


def _narrate(demo: DemoIncident, step: Step) -> None:
    """What `ooda demo` says about a step before Slack's transcript of it."""
    if step is Step.PAGE:
        response = demo.page_response
        assert response is not None
        _section("PagerDuty pages: incident.triggered → POST /webhooks/pagerduty")
        print(
            f"  webhook answered {response.status_code} in "
            f"{response.elapsed.total_seconds() * 1000:.0f} ms"
        )
        _section("Observe + Orient: channel, alerts, ranked deploys")
    elif step is Step.ACKNOWLEDGE:
        _section("Alice acknowledges and marks the top deploy as the suspect")
    elif step is Step.DECIDE:
        _section("Decide: playbooks matched against the evidence")
    elif step is Step.ACT:
        _section(f"Act: Alice clicks “{demo.run_button['text']['text']}” and confirms")
        dispatch = demo.stack.github.dispatches[-1]
        print(
            f"  GitHub received workflow_dispatch: {dispatch['workflow']} on {dispatch['repo']} "
            f"inputs={dispatch.get('inputs')}"
        )
    elif step is Step.RESOLVE:
        _section("PagerDuty resolves: incident.resolved → postmortem")


UiHook = Callable[[DevStack, DemoIncident], Awaitable[None]]


def console_env() -> dict[str, str]:
    """The web console for `ooda demo --ui`: Sign in with Slack against the demo's own loopback
    Slack fake, with secrets made up for this run (so the sign-in works nowhere else)."""
    return {
        "SLACK_CLIENT_ID": "demo." + secrets.token_hex(4),
        "SLACK_CLIENT_SECRET": secrets.token_urlsafe(24),
        "OODA_SESSION_SECRET": secrets.token_urlsafe(32),
    }


async def _serve_until_interrupted(stack: DevStack, demo: DemoIncident) -> None:
    await asyncio.Event().wait()  # Ctrl-C cancels it


async def run_demo(
    output: Path | None = None, *, ui: bool = False, then: UiHook | None = None
) -> int:
    """Play the demo and print it. `ui`: then keep serving the web console on 127.0.0.1,
    signing the browser in as Alice through the fake Slack, until Ctrl-C (or `then` returns)."""
    started = time.monotonic()
    output = output or Path.cwd() / "ooda-demo-postmortem.md"
    env = {"OODA_VERIFY_POLL_SECONDS": "1"} | (console_env() if ui else {})
    with tempfile.TemporaryDirectory(prefix="ooda-demo-") as tmp:
        async with DevStack(Path(tmp), config=CONFIG, env=env) as stack:
            printed = 0

            def show() -> None:
                nonlocal printed
                lines = stack.slack.transcript().splitlines()
                for line in lines[printed:]:
                    print("  " + line)
                printed = len(lines)

            demo = DemoIncident(stack)
            async for step in demo.steps():
                _narrate(demo, step)
                show()
            text = demo.postmortem
            output.write_text(text, encoding="utf-8")
            _section("Done")
            print(f"  Postmortem written to {output}")
            print(f"  Whole incident played in {time.monotonic() - started:.1f} s")
            if ui:
                stack.slack.openid.sign_in_as(demo.scenario.alice)
                _section("Web console")
                print(f"  Open {stack.url}/ui/incidents/1")
                print("  (signed in as Alice through the demo's own fake Slack; Ctrl-C stops)")
                await (then or _serve_until_interrupted)(stack, demo)
    return 0 if text else 1


def _deployment_id(stack: DevStack, sha: str) -> int:
    return next(d["id"] for d in stack.github.deployments("acme/checkout") if d["sha"] == sha)
