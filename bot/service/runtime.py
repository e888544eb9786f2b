"""The composition root: everything a request or job needs, built from settings. No globals."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.catalog import OodaConfig, load_config
from bot.domain.playbooks import Playbook, default_playbooks_dir, load_playbooks
from bot.settings import Settings, secret
from bot.slack.delivery.sender import SlackSender
from bot.slack.out.gateway import SlackGateway, build_web_client
from bot.storage import jobs
from bot.storage.db import QUEUED, SAID, Database
from bot.telemetry import Metrics
from bot.worker import Worker
from integrations.argocd import ArgoCDClient
from integrations.github import GitHubClient
from integrations.pagerduty import PagerDutyClient


@dataclass
class Runtime:
    settings: Settings
    config: OodaConfig
    db: Database
    slack: SlackGateway
    worker: Worker
    sender: SlackSender
    playbooks: list[Playbook]
    pagerduty: PagerDutyClient | None = None
    github: GitHubClient | None = None
    argocd: ArgoCDClient | None = None
    extras: dict[str, object] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)  # its own registry, served at /metrics

    def __post_init__(self) -> None:
        self.db.on_commit(self._committed)

    def _committed(self, info: Mapping[str, Any]) -> None:
        """A commit queued jobs or recorded Slack messages: act on them now, not at the next
        poll; only the part that has work is woken."""
        if info.get(QUEUED):
            self.worker.wake()
        if info.get(SAID):
            self.sender.wake(info[SAID])

    async def drain(self, timeout: float = 30.0, *, horizon: float = 0.0) -> None:
        """Wait until due jobs ran and the Slack outbox is delivered (tests, the demo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.worker.drain(max(0.1, deadline - loop.time()), horizon=horizon)
            await self.sender.drain(max(0.1, deadline - loop.time()))
            # Delivering never queues jobs, but a job may have been queued meanwhile.
            if await jobs.pending_count(self.db, within=timedelta(seconds=horizon)) == 0:
                return

    async def aclose_workers(self) -> None:
        await self.worker.stop()
        await self.sender.stop()

    async def aclose(self) -> None:
        await self.aclose_workers()
        for client in (self.pagerduty, self.github, self.argocd):
            if client is not None:
                await client.aclose()
        await self.db.dispose()


def playbooks_dir(settings: Settings, config: OodaConfig) -> Path | None:
    if config.playbooks_dir:
        base = Path(settings.config_path).parent
        return (base / config.playbooks_dir).resolve()
    return None


def build_runtime(settings: Settings, *, config: OodaConfig | None = None) -> Runtime:
    config = config if config is not None else load_config(settings.config_path)
    directory = playbooks_dir(settings, config)
    playbooks = load_playbooks(directory if directory else default_playbooks_dir())
    db = Database(settings.database_url)
    backoff = settings.http_backoff_seconds
    pd_token = secret(settings.pagerduty_api_token)
    argocd_token = secret(settings.argocd_token)
    runtime = Runtime(
        settings=settings,
        config=config,
        db=db,
        slack=SlackGateway(
            build_web_client(secret(settings.slack_bot_token), settings.slack_api_url)
        ),
        worker=Worker.from_settings(db, settings),
        sender=SlackSender(
            db,
            build_web_client(
                secret(settings.slack_bot_token),
                settings.slack_api_url,
                retries=False,
                timeout=settings.slack_timeout_seconds,
            ),
            concurrency=settings.outbox_concurrency,
            lease_seconds=settings.outbox_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
        ),
        playbooks=playbooks,
        pagerduty=PagerDutyClient(
            pd_token,
            base_url=settings.pagerduty_api_url,
            from_email=settings.pagerduty_from_email,
            backoff=backoff,
        )
        if pd_token
        else None,
        github=GitHubClient(
            secret(settings.github_token), base_url=settings.github_api_url, backoff=backoff
        )
        if settings.github_token
        else None,
        argocd=ArgoCDClient(settings.argocd_url, argocd_token, backoff=backoff)
        if settings.argocd_url
        else None,
    )
    runtime.metrics.instrument(
        runtime.slack.client, [runtime.pagerduty, runtime.github, runtime.argocd]
    )
    runtime.metrics.instrument(runtime.sender.slack.client)
    runtime.worker.observe = runtime.metrics.observe_job
    return runtime
