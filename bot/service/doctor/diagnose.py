"""Every doctor check, run at once: the local ones first, the catalog ones once OODA_CONFIG loads."""

from __future__ import annotations

from collections.abc import Iterable

from bot.service.doctor import local, vendors
from bot.service.doctor.findings import DEFAULT_DEADLINE, Check, Finding, Report, run_checks
from bot.settings import Settings


async def diagnose(
    settings: Settings,
    *,
    required_scopes: Iterable[str],
    socket_mode: bool = False,
    deadline: float = DEFAULT_DEADLINE,
) -> Report:
    """Every check; the catalog checks only when OODA_CONFIG loads (they need its catalog)."""
    first = local.check_settings(settings, socket_mode=socket_mode)
    found, config, playbooks = local.check_config(settings)
    first += found
    scopes = list(required_scopes)

    async def database() -> list[Finding]:
        return await local.check_database(settings)

    checks: list[tuple[str, Check]] = [("database", database)]
    if config is not None:
        catalog = config
        # Playbooks that did not load: check everything a playbook could need.
        actions = [step.action for p in playbooks for step in p.steps]
        uses = vendors.Uses.of(actions) if playbooks else vendors.Uses()

        async def slack() -> list[Finding]:
            return await vendors.check_slack(settings, catalog, scopes)

        async def pagerduty() -> list[Finding]:
            return await vendors.check_pagerduty(settings, catalog)

        async def github() -> list[Finding]:
            return await vendors.check_github(settings, catalog, uses)

        async def argocd() -> list[Finding]:
            return await vendors.check_argocd(settings, catalog, uses)

        checks += [("slack", slack), ("pagerduty", pagerduty), ("github", github)]
        checks.append(("argocd", argocd))
    report = await run_checks(checks, deadline)
    return Report(first + report.findings)
