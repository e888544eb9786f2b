"""The postmortem's timeline, all entries or 📌 only: OODA_CONFIG `postmortem.timeline` for the
uploaded document, `ooda postmortem --timeline all|pinned` overriding it."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.catalog import ConfigError, parse_config
from bot.cli import app
from bot.demo import CONFIG, DemoIncident, Step
from bot.devstack import DevStack
from tests.helpers.postmortem import postmortem_files
from tests.helpers.slack import reaction, slack_event
from tests.helpers.stack import FAST_VERIFY, MakeStack

PINNED_TEXT = "p99 latency 4s on /pay since 09:58"


def timeline_rows(markdown: str) -> list[list[str]]:
    """The Timeline table's rows (time, actor, kind, text), header and separator left out."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Timeline"))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("| ") and not line.startswith("| Time (UTC)"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


async def play_with_pin(stack: DevStack) -> str:
    """The demo incident with one message 📌-pinned before PagerDuty resolves it."""
    demo = await DemoIncident(stack).play(through=Step.ACT)
    ts = stack.slack.user_says(demo.channel, demo.scenario.bob, PINNED_TEXT)
    event = reaction("reaction_added", user=demo.scenario.alice, channel=demo.channel, ts=ts)
    assert (await slack_event(stack, event, event_id="EvPin001")).status_code == 200
    await stack.settle()
    await demo.play()  # PagerDuty resolves
    return demo.channel


def config_with(timeline: str | None) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    if timeline is not None:
        config["postmortem"] = {"timeline": timeline}
    return config


def uploaded_markdown(stack: DevStack) -> str:
    [upload] = postmortem_files(stack)
    content = upload["content"]
    return content.decode() if isinstance(content, bytes) else str(content)


async def test_config_pinned_uploads_a_timeline_of_pinned_entries_only(
    make_stack: MakeStack,
) -> None:
    async with make_stack(config_with("pinned"), env=FAST_VERIFY) as stack:
        await play_with_pin(stack)
        text = uploaded_markdown(stack)
    assert "## Timeline (pinned entries only)" in text
    rows = timeline_rows(text)
    assert len(rows) == 1, rows
    assert rows[0][2] == "pinned" and rows[0][3] == PINNED_TEXT
    assert rows[0][1] == "bob"  # the message's author, by display name


async def test_config_default_uploads_the_whole_timeline(make_stack: MakeStack) -> None:
    async with make_stack(config_with(None), env=FAST_VERIFY) as stack:
        await play_with_pin(stack)
        text = uploaded_markdown(stack)
    rows = timeline_rows(text)
    assert "## Timeline (pinned entries only)" not in text
    assert len(rows) > 1
    assert {row[2] for row in rows} > {"pinned"}
    assert [row[3] for row in rows if row[2] == "pinned"] == [f"📌 {PINNED_TEXT}"]


def test_config_rejects_an_unknown_timeline_choice_naming_key_and_line() -> None:
    raw = "services: []\npostmortem:\n  timeline: everything\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "ooda.yaml")
    message = str(caught.value)
    assert message.startswith("ooda.yaml:3: postmortem.timeline:"), message
    assert "'all' or 'pinned'" in message
    with pytest.raises(ConfigError, match=r"postmortem\.pinned"):
        parse_config("postmortem:\n  pinned: true\n")
    assert parse_config("postmortem: {timeline: pinned}").postmortem.timeline == "pinned"
    assert parse_config("").postmortem.timeline == "all"


# --------------------------------------------------------------------------- CLI


async def _play(stack: DevStack) -> None:
    async with stack:
        await play_with_pin(stack)


def played_env(
    make_stack: MakeStack,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    timeline: str | None,
) -> dict[str, str]:
    workdir = tmp_path / "stack"
    workdir.mkdir()
    asyncio.run(_play(make_stack(config_with(timeline), env=FAST_VERIFY, workdir=workdir)))
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    return {"DATABASE_URL": database_url, "OODA_CONFIG": str(workdir / "ooda.yaml")}


def cli_rows(env: dict[str, str], *flags: str) -> list[list[str]]:
    result = CliRunner().invoke(app, ["postmortem", "INC-1", *flags], env=env)
    assert result.exit_code == 0, result.output
    return timeline_rows(result.stdout)


def test_cli_timeline_flag_overrides_the_default_config(
    make_stack: MakeStack, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = played_env(make_stack, tmp_path, database_url, monkeypatch, None)
    everything = cli_rows(env)
    assert len(everything) > 1
    pinned = cli_rows(env, "--timeline", "pinned")
    assert [row[2:] for row in pinned] == [["pinned", PINNED_TEXT]]
    assert cli_rows(env, "--timeline", "all") == everything

    bad = CliRunner().invoke(app, ["postmortem", "INC-1", "--timeline", "some"], env=env)
    assert bad.exit_code != 0 and "--timeline must be all or pinned" in bad.stderr


def test_cli_timeline_all_overrides_a_pinned_config(
    make_stack: MakeStack, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = played_env(make_stack, tmp_path, database_url, monkeypatch, "pinned")
    written = yaml.safe_load(Path(env["OODA_CONFIG"]).read_text(encoding="utf-8"))
    assert written["postmortem"] == {"timeline": "pinned"}, json.dumps(written)
    assert [row[2:] for row in cli_rows(env)] == [["pinned", PINNED_TEXT]]
    everything = cli_rows(env, "--timeline", "all")
    assert len(everything) > 1
    assert ["pinned", f"📌 {PINNED_TEXT}"] in [row[2:] for row in everything]
