"""Drills played end to end through Slack on the fakes: the scorecard's figures are the
incident's stored record, a different responder gets a different score, a drill asks no
vendor and stays out of stats, and its changes never mix with real incidents'."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.demo import CONFIG as DEMO_CONFIG
from bot.demo import DemoIncident
from bot.devstack import DevStack
from bot.domain.drills import Scenario, default_drills_dir, scan
from bot.domain.metrics import median_duration
from bot.domain.model import STAGE_ORDER, Verdict, utcnow
from bot.drill_run import LOCAL_ENV, DrillPlay, ScriptedResponder, local_config
from bot.service import backtest, drills, postmortems, stats
from bot.slack.ids import ActionId
from bot.storage import repo
from bot.storage.jobs import ACTIVE
from bot.storage.tables import Job
from tests.helpers.slack import responses
from tests.helpers.stack import MakeStack

# Tests on `make_stack` run on the test database (and again on PostgreSQL); the ones on
# `sqlite_stack` only check the drill's logic, on a SQLite file of their own.


async def jobs_pending(session: Any, prefix: str) -> int:
    query = select(func.count()).where(Job.dedup_key.startswith(prefix), Job.status.in_(ACTIVE))
    return int(await session.scalar(query) or 0)


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> MakeStack:
    def make(
        config: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> DevStack:
        return DevStack(workdir or tmp_path, config=config, env=env)

    return make


def shipped(name: str) -> Scenario:
    found, _ = scan(default_drills_dir())
    return next(s for s in found if s.name == name)


async def played(
    make_stack: MakeStack, name: str, responder: ScriptedResponder | None = None
) -> tuple[DevStack, DrillPlay, dict[str, Any]]:
    scenario = shipped(name)
    stack = await make_stack(local_config(scenario, None), env=LOCAL_ENV).start()
    play = DrillPlay(stack, scenario, responder or ScriptedResponder())
    try:
        return stack, play, await play.play()
    except BaseException:
        await stack.stop()
        raise


async def test_the_scorecard_is_the_stored_record(make_stack: MakeStack) -> None:
    stack, play, card = await played(make_stack, "bad-deploy")
    try:
        number = play.number
        async with stack.runtime.db.session() as session:
            incident = await repo.get_incident(session, number)
            spans = await repo.spans(session, number)
            marked = await repo.marked_changes(session, number)
            runs = await repo.action_runs(session, number)
            ranked = await repo.ranked_changes(session, number)
        assert incident is not None and incident.resolved_at is not None
        for line in card["stages"]:
            spent = sum(
                (
                    (s.ended_at or incident.resolved_at) - s.started_at
                    for s in spans
                    if s.stage.value == line["stage"]
                ),
                timedelta(),
            )
            assert line["seconds"] == round(spent.total_seconds(), 3)
        cause = next(m for m in marked if m[0] == f"drill-{number}-v1-43-0")
        assert cause[1] is Verdict.CAUSED
        assert card["cause"]["after_seconds"] == round(
            (cause[2] - incident.opened_at).total_seconds(), 3
        )
        assert card["action"]["chosen"] == runs[0].playbook_id == "rollback-github-actions"
        assert runs[0].status == "dry_run"  # a drill never changes production
        assert incident.mitigated_at is not None
        assert card["mitigation"]["after_seconds"] == round(
            (incident.mitigated_at - incident.opened_at).total_seconds(), 3
        )
        keys = [r.change.external_id for r in ranked]
        assert card["ranking"]["rank"] == keys.index(f"drill-{number}-v1-43-0") + 1
        # Said in the channel and written into the postmortem, with the same total.
        said = [m["text"] for m in stack.slack.messages(play.channel)]
        assert any(f"*{card['total']}/{card['out_of']}*" in t for t in said if "scorecard" in t)
        postmortem = [f for f in stack.slack.files if f["filename"].endswith("postmortem.md")]
        content = postmortem[-1]["content"]
        text = content.decode() if isinstance(content, bytes) else str(content)
        assert "## Drill scorecard" in text and f"**{card['total']}/{card['out_of']}**" in text
        html = await postmortems.render(stack.runtime, number, "html")
        assert html is not None and f"Drill scorecard: {card['total']}/{card['out_of']}" in html
    finally:
        await stack.stop()


async def test_a_different_responder_gets_a_different_score(sqlite_stack: MakeStack) -> None:
    stack, _, by_the_book = await played(sqlite_stack, "bad-deploy")
    await stack.stop()
    # Trusts nothing, pages the owning team instead of rolling back: the alerts never clear.
    astray = ScriptedResponder(cause=None, playbook="page-owning-team")
    other, _, card = await played(sqlite_stack, "bad-deploy", astray)
    await other.stop()
    assert by_the_book["cause"]["found"] and not card["cause"]["found"]
    assert card["cause"]["points"] == 0 < by_the_book["cause"]["points"]
    assert card["action"]["chosen"] == "page-owning-team" and not card["action"]["acceptable"]
    assert card["mitigation"]["after_seconds"] is None
    assert card["total"] < by_the_book["total"]


async def test_no_change_to_blame_punishes_blaming_the_top_suspect(
    sqlite_stack: MakeStack,
) -> None:
    stack, _, careful = await played(sqlite_stack, "downstream-outage")
    await stack.stop()
    other, _, hasty = await played(
        sqlite_stack, "downstream-outage", ScriptedResponder(cause="top")
    )
    await other.stop()
    assert careful["cause"]["found"] and careful["cause"]["wrong"] == []
    assert not hasty["cause"]["found"] and hasty["cause"]["wrong"] == ["checkout-v2-9-0"]
    assert hasty["total"] < careful["total"]
    # The downstream recovers by itself: mitigated either way.
    assert hasty["mitigation"]["after_seconds"] is not None


async def test_a_drill_asks_no_vendor_and_stays_out_of_the_numbers(
    make_stack: MakeStack,
) -> None:
    stack, play, _ = await played(make_stack, "bad-deploy")
    try:
        assert stack.github.calls == [] and stack.pagerduty.calls == []
        assert stack.argocd.calls == []
        opened = stack.runtime.metrics.incidents_opened
        assert sum(s.value for m in opened.collect() for s in m.samples) == 0
        durations = stack.runtime.metrics.stage_duration.collect()
        assert sum(s.value for m in durations for s in m.samples if s.name.endswith("_count")) == 0
        assert await stats.load_samples(stack.runtime.db) == []
        async with stack.runtime.db.session() as session:
            incident = await repo.get_incident(session, play.number)
        assert incident is not None and incident.is_drill
    finally:
        await stack.stop()


async def test_drills_and_real_incidents_never_share_changes(make_stack: MakeStack) -> None:
    config = local_config(shipped("bad-deploy"), None) | {"services": DEMO_CONFIG["services"]}
    stack = await make_stack(config, env=LOCAL_ENV).start()
    try:
        demo = await DemoIncident(stack).play()  # a real SEV2 on checkout, resolved (INC-1)
        play = DrillPlay(stack, shipped("bad-deploy"), ScriptedResponder())
        card = await play.play()  # INC-2, on the same service
        async with stack.runtime.db.session() as session:
            drill_ranked = await repo.ranked_changes(session, play.number)
            real_spans = await repo.spans(session, 1)
            real = await repo.get_incident(session, 1)
        assert demo.postmortem
        assert drill_ranked and all(
            r.change.external_id.startswith(f"drill-{play.number}-") for r in drill_ranked
        )
        # The team median is the real incident's time per stage (the only real SEV2).
        assert real is not None and real.resolved_at is not None
        assert card["team_count"] == 1
        for line in card["stages"]:
            stage = next(s for s in STAGE_ORDER if s.value == line["stage"])
            spent = [
                sum(
                    (
                        (s.ended_at or real.resolved_at) - s.started_at
                        for s in real_spans
                        if s.stage is stage
                    ),
                    timedelta(),
                )
            ]
            expected = median_duration(spent) if any(s.stage is stage for s in real_spans) else None
            got = line["team_median_seconds"]
            assert got == (round(expected.total_seconds(), 3) if expected else None)
        # A real page afterwards: its Orient never lists the drill's planted changes.
        stack.pagerduty.add_incident(
            "PREAL02",
            number=4712,
            title="Checkout again",
            service_id="PCHKOUT",
            service_name="checkout",
            urgency="high",
            created_at=utcnow(),
        )
        stack.pagerduty.add_alert("PREAL02", summary="5xx again", created_at=utcnow())
        event = stack.pagerduty.webhook_event("incident.triggered", "PREAL02")
        assert (await stack.pagerduty_webhook(event)).status_code == 202
        await stack.settle()
        async with stack.runtime.db.session() as session:
            real_ranked = await repo.ranked_changes(session, 3)
        assert real_ranked and not any("drill-" in r.change.external_id for r in real_ranked)
        # The backtest counts the drill as history, marked as a drill.
        cases = await backtest.gather_cases(stack.runtime.db, stack.runtime.config, days=1)
        drills = [c for c in cases if c.is_drill]
        assert [c.number for c in drills] == [play.number]
        assert all(k.external_id.startswith(f"drill-{play.number}-") for k in drills[0].changes)
    finally:
        await stack.stop()


async def test_the_slash_command_lists_refuses_and_starts(make_stack: MakeStack) -> None:
    stack = await make_stack(local_config(shipped("bad-deploy"), None), env=LOCAL_ENV).start()
    try:
        user = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
        for text in ("drill", "drill no-such-drill", "drill bad-deploy nowhere"):
            assert (await stack.command(text, user=user, channel="C0GENERAL")).status_code == 200
            await stack.settle()
        listed, unknown, elsewhere = responses(stack)[-3:]
        names = [s.name for s in scan(default_drills_dir())[0]]
        assert all(f"`{n}`" in listed for n in names)
        assert "No drill scenario named `no-such-drill`" in unknown
        assert "`nowhere` is not in the service catalog" in elsewhere
        assert not [c for c in stack.slack.channels if c["name"].startswith("inc-")]
        await stack.command("drill bad-deploy checkout", user=user, channel="C0GENERAL")
        await stack.settle()
        assert (
            "Drill *Checkout 5xx errors after a release* started as INC-1" in responses(stack)[-1]
        )
    finally:
        await stack.stop()


async def test_the_same_request_starts_one_drill(make_stack: MakeStack) -> None:
    scenario = shipped("capacity-exhaustion")
    async with make_stack(local_config(scenario, None), env=LOCAL_ENV) as stack:
        rt = stack.runtime
        first = await drills.start(rt, scenario, by="U0ALICE01", key="slack:trigger.1")
        again = await drills.start(rt, scenario, by="U0ALICE01", key="slack:trigger.1")
        other = await drills.start(rt, scenario, by="U0ALICE01", key="slack:trigger.2")
        await stack.settle()
        assert first == again != other
        past = await drills.past_drills(rt.db)
        assert sorted(p["number"] for p in past) == sorted({first, other})


async def test_a_shipped_drill_plays_in_a_workspace_without_its_service(
    sqlite_stack: MakeStack,
) -> None:
    """Your catalog has no checkout: the scenario's own entry renders the playbooks (dry)."""
    async with sqlite_stack({"services": []}, env=LOCAL_ENV) as stack:
        card = await DrillPlay(stack, shipped("bad-deploy"), ScriptedResponder()).play()
    assert card["action"]["chosen"] == "rollback-github-actions" and card["action"]["acceptable"]
    assert card["mitigation"]["after_seconds"] is not None


async def test_at_real_speed_the_drill_answers_at_once(make_stack: MakeStack) -> None:
    """Its alerts are minutes away; a click is not held up behind them."""
    scenario = shipped("downstream-outage")  # alerts at 1, 25 and 26 minutes
    env = LOCAL_ENV | {"OODA_DRILL_SPEED": "1"}
    async with make_stack(local_config(scenario, None), env=env) as stack:
        play = DrillPlay(stack, scenario, ScriptedResponder())
        await play._start()
        await play._click(ActionId.INCIDENT_ACK, str(play.number))
        async with stack.runtime.db.session() as session:
            incident = await repo.get_incident(session, play.number)
        assert incident is not None and incident.acknowledged_at is not None
        # Resolved at once, with nothing done: the world stops, and the score says so.
        await play._command("resolve Called off", channel=play.channel)
        card = await play.scorecard()
        async with stack.runtime.db.session() as session:
            pending = await jobs_pending(session, f"drill:{play.number}:")
        assert pending == 0
    assert card["cause"]["points"] == card["action"]["points"] == 0
    assert card["mitigation"] == {"after_seconds": None, "by_itself": False, "points": 0}
    assert {s["stage"]: s["reached"] for s in card["stages"]} == {
        "observe": True,
        "orient": True,
        "decide": False,
        "act": False,
    }
    assert card["total"] == sum(s["points"] for s in card["stages"]) <= 10


async def test_a_declared_drill_still_goes_back_to_decide_after_a_dry_run(
    sqlite_stack: MakeStack,
) -> None:
    """`declare --drill` has no scenario: its dry runs change nothing, so no verify."""
    async with sqlite_stack({"services": []}, env=LOCAL_ENV) as stack:
        user = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
        await stack.command("declare --drill Practice", user=user, channel="C0GENERAL")
        await stack.settle()
        channel = next(c["id"] for c in stack.slack.channels if c["name"].startswith("inc-1-"))
        await stack.click(ActionId.STAGE_DECIDE, "1", user=user, channel=channel)
        await stack.settle()
        card = next(
            m for m in stack.slack.messages(channel) if m["text"].startswith("INC-1 Decide")
        )
        button = next(
            b["accessory"]
            for b in card["blocks"]
            if b.get("accessory", {}).get("action_id") == ActionId.DECIDE_RUN
        )
        await stack.click(
            ActionId.DECIDE_RUN, button["value"], user=user, channel=channel, message_ts=card["ts"]
        )
        await stack.settle()
        await stack.submit(stack.slack.views[-1], {"reason": "practice"}, user=user)
        await stack.settle()
        async with stack.runtime.db.session() as session:
            incident = await repo.get_incident(session, 1)
        said = " ".join(m["text"] for m in stack.slack.messages(channel))
    assert incident is not None and incident.stage == "decide"
    assert "Still firing" not in said and "Alerts cleared" not in said
