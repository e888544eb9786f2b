"""Loading playbooks: parse YAML files, validate them, and name every problem's field and line."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from bot.domain.playbooks.errors import PlaybookError
from bot.domain.playbooks.schema import Playbook
from bot.domain.yaml_errors import load_mapping, scan_directory, validation_problems

# --- loading ----------------------------------------------------------------------------------


def parse_playbook(text: str, name: str = "<playbook>") -> Playbook:
    """Parse one playbook file's text; errors name the file, the field path and the line."""
    data, problem = load_mapping(text, name, "playbook")
    if data is None:
        raise PlaybookError(problem or f"{name}: empty")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        raise PlaybookError(validation_problems(Playbook, exc, text, name)) from exc


def _scan(directory: Path | Traversable) -> tuple[list[Playbook], list[str]]:
    return scan_directory(
        directory, parse_playbook, lambda p: p.id, key_name="id", problem=PlaybookError
    )


def load_playbooks(directory: Path | Traversable) -> list[Playbook]:
    """All *.yaml / *.yml playbooks of a directory, by file name. Raises PlaybookError (all errors)."""
    playbooks, errors = _scan(directory)
    if errors:
        raise PlaybookError(errors)
    return playbooks


def validate_directory(directory: Path | Traversable) -> list[str]:
    """Every problem in every playbook file of the directory; [] when all are valid."""
    return _scan(directory)[1]


def default_playbooks_dir() -> Traversable:
    return files("playbooks")
