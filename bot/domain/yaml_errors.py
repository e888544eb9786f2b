"""Problems in a user-edited YAML file (playbooks, drill scenarios), one line each: the file,
the field path, what is wrong and the line it is on."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from bot.domain.yaml_lines import line_of, safe_load


def field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a))), None)


def _allowed_fields(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _model_in(info.annotation) if info else None
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _message(root: type[BaseModel], error: Any) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    if kind in ("literal_error", "enum"):
        allowed = ", ".join(re.findall(r"'([^']*)'", error["ctx"]["expected"]))
        return f"{error['input']!r} is not one of {allowed}"
    if kind == "missing":
        return "required"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(root, loc))
        return f"unknown field (allowed: {allowed})" if allowed else "unknown field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = str(error["msg"]).replace("Input should be", "must be")
    return f"{message} (got {error['input']!r})" if "input" in error else message


def validation_problems(
    root: type[BaseModel], exc: ValidationError, text: str, name: str
) -> list[str]:
    """`name: field.path: what is wrong (line N)` for each error pydantic found."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = line_of(text, loc)
        where = f"{field_path(loc)}: " if loc else ""
        problems.append(
            f"{name}: {where}{_message(root, error)}" + (f" (line {line})" if line else "")
        )
    return problems


def load_mapping(text: str, name: str, what: str) -> tuple[dict[str, Any] | None, str | None]:
    """The file's top-level mapping, or why it is not one (with the line when YAML says it)."""
    try:
        data = safe_load(text)
    except yaml.MarkedYAMLError as exc:
        at = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        return None, f"{name}: line {at}: not valid YAML: {exc.problem}"
    except yaml.YAMLError as exc:
        return None, f"{name}: not valid YAML: {exc}"
    if not isinstance(data, dict):
        return None, f"{name}: the top level must be a mapping (one {what} per file)"
    return data, None


T = TypeVar("T")


def scan_directory(
    directory: Path | Traversable,
    parse: Callable[[str, str], T],
    key: Callable[[T], str],
    *,
    key_name: str,
    problem: type[Exception],
) -> tuple[list[T], list[str]]:
    """Every *.yaml / *.yml file of a directory parsed (by file name), and every problem: a
    file that does not parse (`problem` raised by `parse`) or repeats another's `key`."""
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    entries = [f for f in directory.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))]
    found: list[T] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for entry in sorted(entries, key=lambda f: f.name):
        try:
            item = parse(entry.read_text(encoding="utf-8"), entry.name)
        except problem as exc:
            errors.extend(getattr(exc, "errors", [str(exc)]))
            continue
        name = key(item)
        if name in seen:
            errors.append(
                f"{entry.name}: {key_name}: duplicate {key_name} {name!r} (also in {seen[name]})"
            )
            continue
        seen[name] = entry.name
        found.append(item)
    return found, errors
