"""Loading drill scenarios: parse the YAML files of a directory, validate them, and name every
problem's file, field and line (the same way as playbooks)."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from bot.domain.drills.schema import Scenario
from bot.domain.yaml_errors import load_mapping, validation_problems


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
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    entries = [f for f in directory.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))]
    scenarios: list[Scenario] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for entry in sorted(entries, key=lambda f: f.name):
        try:
            scenario = parse_scenario(entry.read_text(encoding="utf-8"), entry.name)
        except DrillError as exc:
            errors.extend(exc.errors)
            continue
        if scenario.name in seen:
            errors.append(
                f"{entry.name}: name: duplicate name {scenario.name!r} (also in {seen[scenario.name]})"
            )
            continue
        seen[scenario.name] = entry.name
        scenarios.append(scenario)
    return scenarios, errors


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
