"""Loading drill scenarios: parse the YAML files of a directory, validate them, and name every
problem's file, field and line (the same way as playbooks)."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from bot.domain.drills.schema import Scenario
from bot.domain.yaml_errors import load_mapping, scan_directory, validation_problems


class DrillError(Exception):
    """A scenario problem: "file: field.path: what is wrong (line N)", one line per problem."""

    def __init__(self, errors: str | list[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def parse_scenario(text: str, name: str = "<drill>") -> Scenario:
    data, problem = load_mapping(text, name, "scenario")
    if data is None:
        raise DrillError(problem or f"{name}: empty")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise DrillError(validation_problems(Scenario, exc, text, name)) from exc


def scan(directory: Path | Traversable) -> tuple[list[Scenario], list[str]]:
    """The valid scenarios of a directory (by file name) and every problem in the others."""
    return scan_directory(
        directory, parse_scenario, lambda s: s.name, key_name="name", problem=DrillError
    )


def load_scenarios(directory: Path | Traversable) -> list[Scenario]:
    """Every scenario of the directory; DrillError with all problems when any file is wrong."""
    scenarios, errors = scan(directory)
    if errors:
        raise DrillError(errors)
    return scenarios


def default_drills_dir() -> Traversable:
    return files("drills")


def unknown_playbooks(scenarios: list[Scenario], known: set[str]) -> list[str]:
    """A scenario whose acceptable playbooks do not exist could never be won."""
    problems = []
    for scenario in scenarios:
        missing = [p for p in scenario.expected.playbooks if p not in known]
        if missing:
            problems.append(
                f"{scenario.name}: expected.playbooks: no playbook {', '.join(map(repr, missing))}"
                f" (known: {', '.join(sorted(known))})"
            )
    return problems
