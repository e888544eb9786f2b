"""`ooda doctor`'s vendor checks: Slack, PagerDuty, GitHub, Argo CD, through the same clients
the bot uses (`bot.slack.out.gateway`, `integrations/`), so what passes here works in a page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.catalog import OodaConfig
from bot.service.doctor.findings import Finding, fail, ok, skip, warn
from bot.settings import Settings, secret
from bot.slack.out.gateway import build_web_client
from integrations.argocd import ArgoCDClient, auto_sync_enabled
from integrations.github import GitHubClient
from integrations.http import UpstreamError
from integrations.pagerduty import PagerDutyClient

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
REINSTALL = "then reinstall the app to the workspace (Slack app → Install App)"


@dataclass(frozen=True)
class Uses:
    """What the loaded playbooks can run: a check that only matters to a step is skipped when
    no playbook has that step."""

    workflow_dispatch: bool = True
    argocd_rollback: bool = True

    @classmethod
    def of(cls, actions: Iterable[str]) -> Uses:
        names = set(actions)
        return cls("github.workflow_dispatch" in names, "argocd.rollback" in names)


async def _gather(calls: Iterable[Awaitable[list[Finding]]]) -> list[Finding]:
    return [f for found in await asyncio.gather(*calls) for f in found]


# --------------------------------------------------------------------------- Slack


def announcement_channels(config: OodaConfig) -> list[str]:
    names = [config.announcements_channel] + [s.slack_channel for s in config.services]
    return sorted({n for n in names if n})


async def check_slack(
    settings: Settings, config: OodaConfig, required_scopes: Iterable[str]
) -> list[Finding]:
    token = secret(settings.slack_bot_token)
    if not token:
        return [skip("slack", "token", "SLACK_BOT_TOKEN is not set (see settings)")]
    client = build_web_client(
        token, settings.slack_api_url, retries=False, timeout=settings.slack_timeout_seconds
    )
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") or exc.response.status_code
        step = "copy the Bot User OAuth Token (xoxb-…) into SLACK_BOT_TOKEN, " + REINSTALL
        return [fail("slack", "token", f"auth.test answered {error}", step)]
    except Exception as exc:  # aiohttp's connection errors, a bad URL
        step = "check SLACK_API_URL (default https://slack.com/api/) and outbound HTTPS"
        return [fail("slack", "token", f"cannot reach Slack ({type(exc).__name__})", step)]
    found = [ok("slack", "token", f"bot {answer.get('user')} in {answer.get('team')}")]
    headers = {k.lower(): v for k, v in (answer.headers or {}).items()}
    granted = headers.get("x-oauth-scopes")
    if granted is None:
        found.append(
            warn("slack", "scopes", "Slack did not list the token's scopes", "compare by hand")
        )
    else:
        have = {s.strip() for s in str(granted).split(",")}
        missing = [s for s in required_scopes if s not in have]
        if missing:
            step = "add them under OAuth & Permissions → Bot Token Scopes (or paste `ooda "
            step += "manifest`), " + REINSTALL
            found.append(fail("slack", "scopes", f"missing {', '.join(missing)}", step))
        else:
            found.append(ok("slack", "scopes", "every scope the manifest asks for is granted"))
    wanted = announcement_channels(config)
    if wanted:
        found += await _announcement_findings(client, wanted)
    return found


async def _announcement_findings(client: AsyncWebClient, wanted: list[str]) -> list[Finding]:
    names: set[str] | None = None
    if any(not _CHANNEL_ID.match(w) for w in wanted):
        try:
            names = await _channel_names(client)
        except SlackApiError as exc:
            error = exc.response.get("error") or exc.response.status_code
            step = "grant channels:read, " + REINSTALL
            return [fail("slack", "channels", f"conversations.list answered {error}", step)]
    found = []
    for channel in wanted:
        check = f"channel {channel}"
        if _CHANNEL_ID.match(channel):
            try:
                await client.conversations_info(channel=channel)
                exists = True
            except SlackApiError:
                exists = False
        else:
            exists = channel.lstrip("#") in (names or set())
        if exists:
            found.append(ok("slack", check, "exists"))
        else:
            step = "create it, or fix announcements_channel / slack_channel in OODA_CONFIG "
            step += "(a private channel: give its id and invite the bot)"
            found.append(fail("slack", check, "not found: announcements would fail", step))
    return found


async def _channel_names(client: AsyncWebClient) -> set[str]:
    names: set[str] = set()
    cursor = ""
    for _ in range(50):  # 50 pages of 200: a workspace larger than that is listed in part
        page = await client.conversations_list(
            exclude_archived=True, limit=200, cursor=cursor or None
        )
        names |= {str(c.get("name")) for c in page.get("channels") or []}
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            return names
    return names


# --------------------------------------------------------------------------- PagerDuty


async def check_pagerduty(settings: Settings, config: OodaConfig) -> list[Finding]:
    token = secret(settings.pagerduty_api_token)
    ids = [(s.name, pid) for s in config.services for pid in s.pagerduty_service_ids]
    if not token and not ids and not settings.pagerduty_secrets:
        return [skip("pagerduty", "token", "PagerDuty is not configured")]
    found = []
    if settings.pagerduty_secrets:
        count = len(settings.pagerduty_secrets)
        found.append(ok("pagerduty", "webhook secret", f"{count} secret(s) configured"))
    else:
        step = "`ooda pagerduty subscribe --url https://<host>/webhooks/pagerduty` prints it"
        detail = "PAGERDUTY_WEBHOOK_SECRETS is not set: every PagerDuty webhook is refused"
        found.append(fail("pagerduty", "webhook secret", detail, step))
    if not token:
        step = "create a REST API key (Integrations → API Access Keys) in PAGERDUTY_API_TOKEN"
        detail = "PAGERDUTY_API_TOKEN is not set: a page cannot be read"
        return [*found, fail("pagerduty", "token", detail, step)]
    if not settings.pagerduty_from_email:
        step = "set PAGERDUTY_FROM_EMAIL to the email of the PagerDuty user the bot acts as"
        detail = "no From user: acks, notes and escalations are not mirrored to PagerDuty"
        found.append(warn("pagerduty", "from email", detail, step))
    client = PagerDutyClient(
        token,
        base_url=settings.pagerduty_api_url,
        from_email=settings.pagerduty_from_email,
        backoff=settings.http_backoff_seconds,
    )
    try:
        try:
            await client.abilities()
        except UpstreamError as exc:
            step = "check PAGERDUTY_API_TOKEN (a REST API key, not an integration key)"
            return [*found, fail("pagerduty", "token", _said(exc), step)]
        found.append(ok("pagerduty", "token", "the API key works"))
        found += await _gather(_pd_service(client, name, pid) for name, pid in ids)
    finally:
        await client.aclose()
    return found


async def _pd_service(client: PagerDutyClient, name: str, service_id: str) -> list[Finding]:
    check = f"service {service_id}"
    try:
        service = await client.get_service(service_id)
    except UpstreamError as exc:
        if exc.status == 404:
            step = f"fix pagerduty_service_ids of {name} in OODA_CONFIG (the id ends the "
            step += "service's URL: …/service-directory/PXXXXXX)"
            return [fail("pagerduty", check, f"no such service (for {name})", step)]
        return [fail("pagerduty", check, _said(exc), "check the key's access to that service")]
    return [ok("pagerduty", check, f"{service.get('name') or service_id} (for {name})")]


def _said(exc: UpstreamError) -> str:
    if exc.status == 401:
        return "the token is rejected (401)"
    return str(exc)


# --------------------------------------------------------------------------- GitHub


async def check_github(settings: Settings, config: OodaConfig, uses: Uses) -> list[Finding]:
    repos = sorted({(s.github_repo, s.rollback_workflow) for s in config.services if s.github_repo})
    token = secret(settings.github_token)
    if not repos and not token:
        return [skip("github", "token", "GitHub is not configured")]
    found = []
    if not token:
        step = "set GITHUB_TOKEN (contents, deployments and actions read; actions write)"
        detail = "GITHUB_TOKEN is not set: private repositories and rollbacks will fail"
        found.append(warn("github", "token", detail, step))
    client = GitHubClient(
        token, base_url=settings.github_api_url, backoff=settings.http_backoff_seconds
    )
    try:
        if token:
            try:
                await client.rate_limit()
            except UpstreamError as exc:
                step = "GITHUB_TOKEN is wrong or expired: create a new one"
                return [*found, fail("github", "token", _said(exc), step)]
            found.append(ok("github", "token", "the token works"))
        found += await _gather(_gh_repo(client, r, w, uses) for r, w in repos)
    finally:
        await client.aclose()
    return found


async def _gh_repo(client: GitHubClient, repo: str, workflow: str, uses: Uses) -> list[Finding]:
    try:
        await client.get_repository(repo)
    except UpstreamError as exc:
        detail = "not reachable: it does not exist or the token may not see it"
        if exc.status not in (403, 404):
            detail = _said(exc)
        step = f"give the token (or the GitHub App installation) access to {repo}, "
        step += "or fix github_repo in OODA_CONFIG"
        return [fail("github", f"repo {repo}", detail, step)]
    found = [ok("github", f"repo {repo}", "reachable")]
    if not uses.workflow_dispatch:
        return found
    try:
        await client.get_workflow(repo, workflow)
    except UpstreamError as exc:
        detail = f"rollback workflow {workflow} not found" if exc.status == 404 else _said(exc)
        step = f"add .github/workflows/{workflow} (on: workflow_dispatch) to {repo}, "
        step += "or set rollback_workflow in OODA_CONFIG"
        return [*found, fail("github", f"workflow {repo}/{workflow}", detail, step)]
    return [*found, ok("github", f"workflow {repo}/{workflow}", "reachable")]


# --------------------------------------------------------------------------- Argo CD


async def check_argocd(settings: Settings, config: OodaConfig, uses: Uses) -> list[Finding]:
    apps = sorted({(s.argocd_app, s.name) for s in config.services if s.argocd_app})
    if not settings.argocd_url:
        if not apps:
            return [skip("argocd", "url", "Argo CD is not configured")]
        step = "set ARGOCD_URL and ARGOCD_TOKEN (a project token that may get and sync apps)"
        detail = "ARGOCD_URL is not set: catalogued apps are not read, argocd.* steps fail"
        return [fail("argocd", "url", detail, step)]
    client = ArgoCDClient(
        settings.argocd_url, secret(settings.argocd_token), backoff=settings.http_backoff_seconds
    )
    try:
        return await _gather(_argo_app(client, app, name, uses) for app, name in apps)
    finally:
        await client.aclose()


async def _argo_app(client: ArgoCDClient, app: str, service: str, uses: Uses) -> list[Finding]:
    check = f"app {app}"
    try:
        found = await client.get_application(app)
    except UpstreamError as exc:
        if exc.status == 404:
            step = f"fix argocd_app of {service} in OODA_CONFIG, or grant the token the app"
            return [fail("argocd", check, f"no such application (for {service})", step)]
        return [fail("argocd", check, _said(exc), "check ARGOCD_TOKEN and its project role")]
    if uses.argocd_rollback and auto_sync_enabled(found):
        step = f"turn auto-sync off before a rollback (argocd app set {app} --sync-policy none)"
        step += ", or roll forward with argocd.sync"
        detail = "automated sync is on: Argo CD will refuse a rollback"
        return [warn("argocd", check, detail, step)]
    return [ok("argocd", check, f"exists (for {service})")]
