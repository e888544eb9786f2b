"""Duplicate keys in the config and in playbooks are refused with their line: PyYAML alone
keeps the last one silently (two `services:` lists validated as one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.catalog import ConfigError, parse_config
from bot.cli import app
from bot.domain.playbooks import PlaybookError, default_playbooks_dir, validate_directory
from bot.domain.playbooks.loading import parse_playbook
from bot.domain.yaml_lines import DuplicateKeyError, safe_load

TWO_SERVICES_KEYS = """\
services:
  - name: checkout
announcements_channel: "#incidents"
services:
  - name: payments
"""


def test_config_with_two_services_keys_names_the_second_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^ooda.yaml:4: duplicate key 'services' \(first at line 1\)$"
    ):
        parse_config(TWO_SERVICES_KEYS, "ooda.yaml")
    path = tmp_path / "ooda.yaml"
    path.write_text(TWO_SERVICES_KEYS, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    assert result.exit_code != 0
    assert f"{path}:4: duplicate key 'services'" in result.output
    assert "services OK" not in result.output


def test_duplicate_key_inside_a_service_is_refused() -> None:
    text = "services:\n  - name: checkout\n    team: a\n    team: b\n"
    with pytest.raises(ConfigError, match=r"^c.yaml:4: duplicate key 'team' \(first at line 3\)"):
        parse_config(text, "c.yaml")


def test_merge_keys_may_still_be_overridden() -> None:
    text = "services:\n  - &base {name: a, team: t}\n  - <<: *base\n    name: b\n"
    config = parse_config(text)
    assert [(s.name, s.team) for s in config.services] == [("a", "t"), ("b", "t")]


def test_playbook_with_a_duplicate_key(tmp_path: Path) -> None:
    text = (default_playbooks_dir() / "restart-service.yaml").read_text(encoding="utf-8")
    first_line = text.splitlines()[0]
    assert first_line.startswith("id:")
    doubled = text + first_line.replace("restart-service", "something-else") + "\n"
    line = len(doubled.splitlines())
    with pytest.raises(
        PlaybookError,
        match=rf"x.yaml: line {line}: not valid YAML: duplicate key 'id' \(first at line 1\)",
    ):
        parse_playbook(doubled, "x.yaml")
    (tmp_path / "restart.yaml").write_text(doubled, encoding="utf-8")
    errors = validate_directory(tmp_path)
    assert len(errors) == 1 and f"line {line}: not valid YAML: duplicate key 'id'" in errors[0]


def test_loader_is_still_safe_and_keeps_unique_documents() -> None:
    assert safe_load("a: 1\nb: {c: 2, d: [1, 2]}\n") == {"a": 1, "b": {"c": 2, "d": [1, 2]}}
    with pytest.raises(DuplicateKeyError):
        safe_load("a: 1\nb: {c: 2, c: 3}\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        safe_load("!!python/object/apply:os.system ['true']\n")
    assert validate_directory(default_playbooks_dir()) == []  # the shipped playbooks pass
