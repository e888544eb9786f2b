"""`ooda pagerduty …`: set up the PagerDuty side (webhook subscriptions)."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit

import typer

from bot.cli_common import fail, load_settings
from bot.settings import Settings, secret
from integrations.http import UpstreamError
from integrations.pagerduty import PagerDutyClient

pagerduty_app = typer.Typer(help="PagerDuty commands.", no_args_is_help=True)

DESCRIPTION = "ooda-bot: incident events"


async def _subscribe(settings: Settings, token: str, url: str, services: list[str]) -> list[dict]:
    async with PagerDutyClient(
        token,
        base_url=settings.pagerduty_api_url,
        backoff=settings.http_backoff_seconds,
    ) as client:
        return await client.create_webhook_subscription(
            url, service_ids=services or None, description=DESCRIPTION
        )


@pagerduty_app.command()
def subscribe(
    url: Annotated[
        str,
        typer.Option(
            metavar="URL",
            help="Public URL of the bot's webhook, e.g. https://ooda.example.com/webhooks/pagerduty.",
        ),
    ],
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="ID",
            help="PagerDuty service id; repeat for several. Default: the whole account.",
        ),
    ] = None,
) -> None:
    """Create the V3 webhook subscription(s) for every incident event and print the signing
    secret(s): PagerDuty shows them only once."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise fail(f"--url must be an absolute http(s) URL, got {url!r}")
    settings = load_settings()
    token = secret(settings.pagerduty_api_token)
    if not token:
        raise fail("PAGERDUTY_API_TOKEN is not set (a REST API key that may manage webhooks)")
    try:
        created = asyncio.run(_subscribe(settings, token, url, list(service or [])))
    except UpstreamError as exc:
        raise fail(str(exc)) from None
    secrets: list[str] = []
    for sub in created:
        scope = (sub.get("filter") or {}).get("id") or "the whole account"
        typer.echo(f"created webhook subscription {sub.get('id')} for {scope} → {url}")
        value = (sub.get("delivery_method") or {}).get("secret")
        if value:
            secrets.append(value)
            typer.echo(f"  signing secret: {value}")
    if secrets:
        typer.echo(
            "PagerDuty will not show these secrets again. Put this in the bot's environment:"
        )
        typer.echo(f"PAGERDUTY_WEBHOOK_SECRETS={','.join(secrets)}")
        if settings.pagerduty_secrets:
            # Rotation: the old subscription's deliveries must still verify until it is gone.
            typer.echo(
                "(PAGERDUTY_WEBHOOK_SECRETS is set already: append after a comma to keep it.)"
            )
