"""Smoke tests of the `ooda` commands not covered elsewhere: demo, db upgrade, playbooks
validate/list, config validate (from OODA_CONFIG), manifest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from bot.cli import app
from bot.storage.db import sync_url
from bot.storage.tables import Base

SHIPPED = Path(__file__).resolve().parents[1] / "playbooks"


@pytest.fixture(autouse=True)
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def test_demo_writes_the_postmortem_where_asked(tmp_path: Path) -> None:
    target = tmp_path / "out" / "pm.md"
    target.parent.mkdir()
    result = invoke("demo", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"Postmortem written to {target}" in result.stdout
    postmortem = target.read_text(encoding="utf-8")
    assert postmortem.startswith("# INC-1: ")
    # Drafted from the record, with the times of the entries each sentence comes from.
    section = {
        name: postmortem.split(f"## {name}\n\n", 1)[1].split("\n## ", 1)[0]
        for name in ("Summary", "Root cause", "Resolution")
    }
    assert re.search(r"Resolved \S+ after it was opened\. \[[\d:, ]+\]", section["Summary"])
    assert re.search(r"the deploy c0ffee1 .* to checkout", section["Root cause"])
    assert "“Roll back checkout to 9a8b7c6” ran" in section["Resolution"]
    assert re.search(r"Verify: Alerts cleared .* \[[\d:]+\]", section["Resolution"])
    assert re.search(r"Time per stage: Observe \S+, Orient", section["Resolution"])
    assert postmortem.count("_Drafted by ooda-bot from the timeline") >= 3


def test_db_upgrade_creates_the_tables(database_url: str) -> None:
    for _ in range(2):  # a second run is a no-op
        result = invoke("db", "upgrade", env={"DATABASE_URL": database_url})
        assert result.exit_code == 0, result.output
        assert "database is up to date" in result.stdout
    engine = create_engine(sync_url(database_url))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert "alembic_version" in tables
    assert set(Base.metadata.tables) <= tables  # every model has its table


def test_playbooks_validate_shipped_and_broken(tmp_path: Path) -> None:
    shipped = invoke("playbooks", "validate")
    assert shipped.exit_code == 0, shipped.output
    assert shipped.stdout.strip() == "12 playbooks OK"

    broken = tmp_path / "books"
    broken.mkdir()
    good = (SHIPPED / "disable-feature-flag.yaml").read_text(encoding="utf-8")
    assert good.splitlines()[7] == "risk: low"  # line 8
    (broken / "flag.yaml").write_text(good.replace("risk: low", "risk: extreme"), "utf-8")
    result = invoke("playbooks", "validate", str(broken))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "flag.yaml: risk: 'extreme' is not one of low, medium, high (line 8)"
    )

    missing = invoke("playbooks", "validate", str(tmp_path / "nope"))
    assert missing.exit_code != 0 and "is not a directory" in missing.stderr


def test_playbooks_list_shows_every_shipped_playbook(tmp_path: Path) -> None:
    result = invoke("playbooks", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    ids = sorted(path.stem for path in SHIPPED.glob("*.yaml"))
    assert sorted(line.split()[0] for line in lines) == ids
    flag = next(line for line in lines if line.startswith("disable-feature-flag "))
    assert flag.split()[1:3] == ["remediation", "low"]
    assert flag.rstrip().endswith("Turn off the feature flag")

    broken = tmp_path / "books"
    broken.mkdir()
    (broken / "x.yaml").write_text("id: a\n  title: x\n", encoding="utf-8")
    bad = invoke("playbooks", "list", str(broken))
    assert bad.exit_code != 0 and "x.yaml" in bad.stderr


def test_config_validate_reads_ooda_config(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("services:\n  - name: checkout\npostmortem:\n  timeline: pinned\n", "utf-8")
    ok = invoke("config", "validate", env={"OODA_CONFIG": str(good)})
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == f"{good}: 1 services OK"

    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  - name: checkout\n    colour: blue\n", "utf-8")
    result = invoke("config", "validate", env={"OODA_CONFIG": str(bad)})
    assert result.exit_code != 0
    assert result.stderr.startswith(f"error: {bad}:3: services.0.colour:"), result.stderr

    absent = invoke("config", "validate", env={"OODA_CONFIG": str(tmp_path / "absent.yaml")})
    assert absent.exit_code != 0 and "does not exist" in absent.stderr


def _urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("url", "request_url"):
                yield value
            else:
                yield from _urls(value)
    elif isinstance(node, list):
        for item in node:
            yield from _urls(item)


def test_manifest_uses_the_url_and_configured_command() -> None:
    result = invoke("manifest", "--url", "https://x.example", env={"OODA_SLASH_COMMAND": "/oncall"})
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    urls = list(_urls(manifest))
    assert len(urls) >= 3  # slash command, events, interactivity
    assert set(urls) == {"https://x.example/slack/events"}
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/oncall"]
