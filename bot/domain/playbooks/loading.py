"""Loading playbooks: parse YAML files, validate them, and name every problem's field and line."""

from __future__ import annotations

import re
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from bot.domain.playbooks.errors import PlaybookError
from bot.domain.playbooks.schema import Playbook
from bot.domain.yaml_lines import line_of, safe_load

# --- loading ----------------------------------------------------------------------------------


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a))), None)


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = Playbook
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _model_in(info.annotation) if info else None
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _message(error: Any) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    if kind in ("literal_error", "enum"):
        allowed = ", ".join(re.findall(r"'([^']*)'", error["ctx"]["expected"]))
        return f"{error['input']!r} is not one of {allowed}"
    if kind == "missing":
        return "required"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(loc))
        return f"unknown field (allowed: {allowed})" if allowed else "unknown field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = str(error["msg"]).replace("Input should be", "must be")
    return f"{message} (got {error['input']!r})" if "input" in error else message


def parse_playbook(text: str, name: str = "<playbook>") -> Playbook:
    """Parse one playbook file's text; errors name the file, the field path and the line."""
    try:
        data = safe_load(text)
    except yaml.MarkedYAMLError as exc:
        at = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise PlaybookError(f"{name}: line {at}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlaybookError(f"{name}: the top level must be a mapping (one playbook per file)")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = line_of(text, loc)
            where = f"{_path(loc)}: " if loc else ""
            errors.append(f"{name}: {where}{_message(error)}" + (f" (line {line})" if line else ""))
        raise PlaybookError(errors) from exc


def _scan(directory: Path | Traversable) -> tuple[list[Playbook], list[str]]:
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    entries = [f for f in directory.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))]
    playbooks: list[Playbook] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for entry in sorted(entries, key=lambda f: f.name):
        try:
            playbook = parse_playbook(entry.read_text(encoding="utf-8"), entry.name)
        except PlaybookError as exc:
            errors.extend(exc.errors)
            continue
        if playbook.id in seen:
            errors.append(
                f"{entry.name}: id: duplicate id {playbook.id!r} (also in {seen[playbook.id]})"
            )
            continue
        seen[playbook.id] = entry.name
        playbooks.append(playbook)
    return playbooks, errors


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
