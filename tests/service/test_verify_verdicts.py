"""Verify's verdict on an action, through the real app (DevStack): a plain sentence on the
timeline and in the postmortem, Slack's formatting only in Slack."""

from __future__ import annotations

import re

from bot.demo import DemoIncident, Step
from bot.service import postmortems
from tests.helpers.decide_act import (
    SHORT_WINDOW,
    action_runs,
    config_with,
    latest,
    rolled_back,
    timeline,
)
from tests.helpers.stack import FAST_VERIFY, MakeStack

MRKDWN = re.compile(r"[*_`<>]|:[a-z_]+:")


async def test_verify_verdict_is_plain_text_on_the_timeline_and_mrkdwn_in_slack(
    make_stack: MakeStack,
) -> None:
    async with make_stack(config_with(), env=FAST_VERIFY) as stack:
        demo, run = await rolled_back(stack)
        sha = demo.scenario.rollback_sha[:7]
        assert run.title == f"Roll back checkout to {sha}"

        # Slack keeps its formatting.
        cleared = latest(stack, demo.channel, ":large_green_circle: Alerts cleared")
        assert f"after *{run.title}*" in cleared["text"]

        # The timeline holds a plain sentence; so do the action and decision entries.
        [verdict] = await timeline(stack, "verify")
        assert re.fullmatch(rf"Alerts cleared \d+s after Roll back checkout to {sha}", verdict.text)
        for entry in await timeline(stack):
            if entry.kind in ("verify", "action", "decision", "stage"):
                assert not MRKDWN.search(entry.text), (entry.kind, entry.text)

        # The postmortem shows the sentence, not raw mrkdwn.
        markdown = await postmortems.render(stack.runtime, 1, "markdown")
        html = await postmortems.render(stack.runtime, 1, "html")
        assert markdown is not None and html is not None
        for document in (markdown, html):
            assert "Alerts cleared" in document and f"after Roll back checkout to {sha}" in document
            assert ":large_green_circle:" not in document
            assert f"*Roll back checkout to {sha}*" not in document


async def test_still_firing_verdict_is_plain_text(make_stack: MakeStack) -> None:
    async with make_stack(config_with(), env=SHORT_WINDOW) as stack:
        demo = DemoIncident(stack)
        stack.github.on_dispatch = None  # the rollback does not fix production
        await demo.play(through=Step.ACT)
        [run] = await action_runs(stack)
        assert run.verify_passed is False
        assert latest(stack, demo.channel, ":red_circle: Still firing")
        [verdict] = await timeline(stack, "verify")
        assert re.fullmatch(
            rf"Still firing \d+s after {re.escape(run.title)}: marked not effective", verdict.text
        )
