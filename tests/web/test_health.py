"""/healthz is a cheap liveness answer; /readyz says, as JSON, whether the database answers
and is migrated and the worker and sender run, and turns 503 when the database goes away (and
ready again once it is back)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from bot.devstack import DevStack
from bot.storage.db import alembic_config


async def test_ready_when_everything_runs(tmp_path: Path) -> None:
    async with DevStack(tmp_path) as stack:
        assert stack.http is not None
        ready = await stack.http.get("/readyz")
        alive = await stack.http.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"ok": True}
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "worker": True,
        "sender": True,
    }
    assert body["checks"]["migrations"]["at"] == body["checks"]["migrations"]["newest"]


async def test_unready_while_the_database_is_gone(tmp_path: Path) -> None:
    """The SQLite file replaced by a directory: no connection can open it."""
    async with DevStack(tmp_path) as stack:
        assert stack.http is not None
        rt = stack.runtime
        await rt.db.engine.dispose()  # the pooled connection would still read the old file
        path = Path(stack.database_url.removeprefix("sqlite:///"))
        aside = tmp_path / "aside"
        aside.mkdir()
        moved = [p for p in tmp_path.iterdir() if p.name.startswith(path.name)]
        for p in moved:
            p.rename(aside / p.name)
        path.mkdir()
        try:
            gone = await stack.http.get("/readyz")
            alive = await stack.http.get("/healthz")
        finally:
            path.rmdir()
            for p in moved:
                (aside / p.name).rename(p)
            await rt.db.engine.dispose()
        back = await stack.http.get("/readyz")
    assert gone.status_code == 503
    assert gone.json()["ready"] is False
    assert gone.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert alive.status_code == 200  # liveness does not ask the database
    assert back.status_code == 200 and back.json()["ready"] is True


async def test_unready_when_behind_on_migrations_or_the_worker_stopped(tmp_path: Path) -> None:
    async with DevStack(tmp_path) as stack:
        assert stack.http is not None
        command.downgrade(alembic_config(stack.database_url), "0003_incident_change_status")
        behind = (await stack.http.get("/readyz")).json()
        command.upgrade(alembic_config(stack.database_url), "head")
        await stack.runtime.worker.stop()
        stopped = await stack.http.get("/readyz")
    assert behind["ready"] is False
    newest = ScriptDirectory.from_config(alembic_config(stack.database_url)).get_current_head()
    assert behind["checks"]["migrations"] == {
        "ok": False,
        "at": "0003_incident_change_status",
        "newest": newest,
    }
    assert stopped.status_code == 503
    assert stopped.json()["checks"]["worker"] == {"ok": False}
    assert stopped.json()["checks"]["migrations"]["ok"] is True
