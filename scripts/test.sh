#!/usr/bin/env bash
# Checks the import contracts (lint-imports, pyproject.toml [tool.importlinter]) and the types
# (mypy, [tool.mypy]), then runs the whole test suite twice: on SQLite, then on PostgreSQL
# (127.0.0.1:5432, database test).
# Self-sufficient on a fresh machine: creates .venv, installs the project, starts PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import bot, respx, pytest, xdist, hypothesis, importlinter, mypy, itsdangerous, playwright" 2>/dev/null; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
fi

PG_URL="${OODA_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

echo "== import contracts =="
.venv/bin/lint-imports

echo "== types (mypy, pyproject.toml [tool.mypy]) =="
.venv/bin/mypy

echo "== tests on SQLite =="
.venv/bin/python -m pytest -q -n 2 "$@"

if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "== tests on PostgreSQL ($PG_URL) =="
  OODA_TEST_DATABASE_URL="$PG_URL" .venv/bin/python -m pytest -q -n 2 -m "db" "$@"
else
  echo "PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL pass cannot run" >&2
  exit 1
fi
