"""The doctor's local checks: settings, OODA_CONFIG and its playbooks, the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.catalog import ConfigError, OodaConfig, load_config
from bot.domain.playbooks import (
    Playbook,
    default_playbooks_dir,
    load_playbooks,
    validate_directory,
)
from bot.service.doctor.findings import Finding, fail, ok, warn
from bot.service.runtime import playbooks_dir
from bot.settings import Settings
from bot.storage.db import migration_state


def check_settings(settings: Settings, *, socket_mode: bool) -> list[Finding]:
    missing = settings.missing_for_serve(socket_mode=socket_mode)
    if missing:
        return [
            fail(
                "settings",
                name,
                "not set; `ooda serve` will not start",
                f"set {name} (Slack app → Basic Information / OAuth & Permissions)",
            )
            for name in missing
        ]
    mode = "Socket Mode" if socket_mode else "HTTP"
    return [ok("settings", "serve", f"everything `ooda serve` needs for {mode} is set")]


def check_config(
    settings: Settings,
) -> tuple[list[Finding], OodaConfig | None, list[Playbook]]:
    """OODA_CONFIG and its playbooks; both are returned for the catalog checks."""
    path = Path(settings.config_path)
    try:
        config = load_config(path)
    except ConfigError as exc:
        step = f"fix {path} and check it with `ooda config validate`"
        return [fail("config", "OODA_CONFIG", str(exc), step)], None, []
    findings = []
    if not path.exists():
        findings.append(
            warn(
                "config",
                "OODA_CONFIG",
                f"{path} does not exist: an empty catalog (no services, no suggestions)",
                "write the services catalog (README.md, Configuration) and set OODA_CONFIG",
            )
        )
    else:
        findings.append(ok("config", "OODA_CONFIG", f"{path}: {len(config.services)} services"))
    directory = playbooks_dir(settings, config)
    target = directory if directory else default_playbooks_dir()
    errors = validate_directory(target) if directory is None or directory.is_dir() else []
    if directory is not None and not directory.is_dir():
        errors = [f"{directory} is not a directory"]
    if errors:
        step = f"fix them; `ooda playbooks validate {directory or ''}`".rstrip()
        findings.append(fail("config", "playbooks", "; ".join(errors[:3]), step))
        return findings, config, []
    books = load_playbooks(target)
    findings.append(ok("config", "playbooks", f"{len(books)} playbooks valid"))
    return findings, config, books


async def check_database(settings: Settings) -> list[Finding]:
    try:
        state = await asyncio.to_thread(migration_state, settings.database_url)
    except Exception as exc:
        # The exception's class, not its text: a driver's message may carry the password.
        return [
            fail(
                "database",
                "reachable",
                f"cannot connect ({type(exc).__name__})",
                "check DATABASE_URL, that the database exists and this host can reach it",
            )
        ]
    found = [ok("database", "reachable", "connected")]
    if state.at_head:
        found.append(ok("database", "migrations", f"at the newest revision ({state.head})"))
    elif not state.known:
        found.append(
            fail(
                "database",
                "migrations",
                f"at {state.current}, which this version does not know (newest {state.head})",
                "run the ooda-bot version that migrated it, or a newer one",
            )
        )
    else:
        found.append(
            fail(
                "database",
                "migrations",
                f"{len(state.pending)} migration(s) not applied "
                f"(at {state.current or 'nothing'}, newest {state.head})",
                "run `ooda db upgrade` (`ooda serve` also applies them when it starts)",
            )
        )
    return found
