"""Playbook templates: Jinja2 rendered in a sandbox with StrictUndefined.

A template that needs something the incident does not have (no suspect, no catalog field) fails
to render, and the playbook simply does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

# --- templates --------------------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    if value is None:  # rendering "None" into a workflow input is never what anyone meant
        raise UndefinedError("a value it uses is not set (None)")
    return value


_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    finalize=_finalize,
    autoescape=False,  # output goes to APIs and Slack, not HTML
)


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render one template in the sandbox. Raises jinja2 UndefinedError / SecurityError."""
    return _compile(source).render(dict(context))


def _check_templates(value: Any, path: str = "") -> None:
    """Compile every template string (recursively); a syntax error names where it is."""
    if isinstance(value, str):
        try:
            _compile(value)
        except TemplateSyntaxError as exc:
            where = f"{path}: " if path else ""
            raise ValueError(f"{where}template syntax error: {exc.message}") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, f"{path}[{index}]")


def _names(value: Any) -> set[str]:
    if isinstance(value, str):
        return meta.find_undeclared_variables(_ENV.parse(value))
    if isinstance(value, dict):
        return set().union(*(_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_names(v) for v in value))
    return set()
