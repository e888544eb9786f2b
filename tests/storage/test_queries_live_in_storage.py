"""Storage owns every query: outside bot/storage no module calls SQLAlchemy's select, update,
delete or insert; it calls a named function of bot.storage (repo, jobs, outbox) instead."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
STATEMENTS = {"select", "update", "delete", "insert"}

# Modules allowed to build their own statements (none: bot/slack moved its last ones to storage).
ALLOWED: set[str] = set()


def _statement_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each call to a statement constructor imported from sqlalchemy, by name
    (`from sqlalchemy import select as s`) or through the module (`sqlalchemy.select`, `sa.x`)."""
    names: dict[str, str] = {}  # local name -> statement
    modules: set[str] = set()  # local names bound to sqlalchemy modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            for alias in node.names:
                if alias.name in STATEMENTS:
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    modules.add(alias.asname or alias.name.split(".")[0])
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:
            found.append((node.lineno, names[func.id]))
        elif isinstance(func, ast.Attribute) and func.attr in STATEMENTS:
            base = func.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append((node.lineno, func.attr))
    return sorted(found)


def _allowed(relative: str) -> bool:
    return relative.startswith("bot/storage/") or any(
        relative == entry or (entry.endswith("/") and relative.startswith(entry))
        for entry in ALLOWED
    )


def test_no_query_outside_storage() -> None:
    offences = []
    for path in sorted(BOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if _allowed(relative):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        offences += [f"{relative}:{line}: {name}(" for line, name in _statement_calls(tree)]
    assert not offences, "queries outside bot/storage (move them into bot/storage):\n" + "\n".join(
        offences
    )


def test_every_allowed_entry_still_exists() -> None:
    for entry in ALLOWED:
        assert (ROOT / entry).exists(), f"{entry} is gone: remove it from ALLOWED"


def test_the_scan_finds_each_spelling() -> None:
    source = """
import sqlalchemy as sa
from sqlalchemy import select, update as upd
from sqlalchemy.dialects.postgresql import insert

select(Job)
upd(Job)
insert(Job)
sa.delete(Job)
slack.update(channel)
rows.insert(0, row)
"""
    found = _statement_calls(ast.parse(source))
    assert found == [(6, "select"), (7, "update"), (8, "insert"), (9, "delete")]
