"""Runtime configuration from the environment (and a .env file), names as in PRODUCT.md."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///./ooda.db", alias="DATABASE_URL")

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    slash_command: str = Field("/incident", alias="OODA_SLASH_COMMAND")
    # The reaction that puts a message on the incident timeline (name without colons).
    pin_reaction: str = Field("pushpin", alias="OODA_PIN_REACTION")

    # The web console (bot.console), on when SLACK_CLIENT_ID is set: Sign in with Slack.
    slack_client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(None, alias="SLACK_CLIENT_SECRET")
    slack_authorize_url: str = Field(
        "https://slack.com/openid/connect/authorize", alias="OODA_SLACK_AUTHORIZE_URL"
    )
    # The workspace whose members may sign in; by default the bot token's (auth.test).
    slack_team_id: str | None = Field(None, alias="OODA_SLACK_TEAM_ID")
    session_secret: SecretStr | None = Field(None, alias="OODA_SESSION_SECRET")
    session_hours: float = Field(12.0, alias="OODA_SESSION_HOURS", gt=0)

    pagerduty_api_token: SecretStr | None = Field(None, alias="PAGERDUTY_API_TOKEN")
    pagerduty_from_email: str | None = Field(None, alias="PAGERDUTY_FROM_EMAIL")
    pagerduty_api_url: str = Field("https://api.pagerduty.com", alias="PAGERDUTY_API_URL")
    pagerduty_webhook_secrets: str = Field("", alias="PAGERDUTY_WEBHOOK_SECRETS")

    github_token: SecretStr | None = Field(None, alias="GITHUB_TOKEN")
    github_api_url: str = Field("https://api.github.com", alias="GITHUB_API_URL")
    github_webhook_secret: SecretStr | None = Field(None, alias="GITHUB_WEBHOOK_SECRET")

    argocd_url: str | None = Field(None, alias="ARGOCD_URL")
    argocd_token: SecretStr | None = Field(None, alias="ARGOCD_TOKEN")

    changes_webhook_secret: SecretStr | None = Field(None, alias="OODA_CHANGES_SECRET")
    # Signs the JSON body of http.webhook playbook actions (X-Ooda-Signature).
    action_webhook_secret: SecretStr | None = Field(None, alias="OODA_ACTION_WEBHOOK_SECRET")
    # Override every playbook's verify poll interval (the demo uses 1 s).
    verify_poll_seconds: float | None = Field(None, alias="OODA_VERIFY_POLL_SECONDS")
    # Override every playbook's verify window (alerts_clear_within_minutes); tests use ~1 s.
    verify_window_seconds: float | None = Field(None, alias="OODA_VERIFY_WINDOW_SECONDS")
    # How fast a drill's alerts fire and clear: scenario minutes per real minute (1 in Slack;
    # `ooda drill run --local` plays at 60, so a 25-minute outage recovers in 25 s).
    drill_speed: float = Field(1.0, alias="OODA_DRILL_SPEED", gt=0, le=10_000)
    config_path: str = Field("./ooda.yaml", alias="OODA_CONFIG")
    public_url: str | None = Field(None, alias="OODA_PUBLIC_URL")
    dry_run: bool = Field(False, alias="OODA_DRY_RUN")
    # How long the bot waits on one context source before posting what it has.
    source_timeout_seconds: float = Field(8.0, alias="OODA_SOURCE_TIMEOUT")
    # Optional: an OpenAI-compatible endpoint that rewrites the postmortem's draft into prose.
    llm_url: str | None = Field(None, alias="OODA_LLM_URL")
    llm_model: str | None = Field(None, alias="OODA_LLM_MODEL")
    llm_api_key: SecretStr | None = Field(None, alias="OODA_LLM_API_KEY")
    llm_timeout_seconds: float = Field(20.0, alias="OODA_LLM_TIMEOUT", gt=0)
    # Backoff base for vendor retries; tests set 0.
    http_backoff_seconds: float = Field(0.5, alias="OODA_HTTP_BACKOFF")
    worker_poll_seconds: float = Field(1.0, alias="OODA_WORKER_POLL")
    # A card waits at most this long for a source, then says what is still loading.
    source_deadline_seconds: float = Field(3.0, alias="OODA_SOURCE_DEADLINE")
    # Slack outbox: channels delivered at once, and the lease one sender holds on a channel.
    outbox_concurrency: int = Field(16, alias="OODA_OUTBOX_CONCURRENCY")
    outbox_lease_seconds: float = Field(15.0, alias="OODA_OUTBOX_LEASE_SECONDS")
    slack_timeout_seconds: float = Field(10.0, alias="OODA_SLACK_TIMEOUT")
    # Jobs one process runs at once; a hanging job holds one slot, not the queue.
    worker_concurrency: int = Field(8, alias="OODA_WORKER_CONCURRENCY", ge=1)
    # A running job's lease, renewed every third of it; a dead replica's job resumes after it.
    job_lease_seconds: float = Field(30.0, alias="OODA_JOB_LEASE_SECONDS", gt=0)
    # On shutdown (SIGTERM), how long running jobs may finish before they are released.
    worker_grace_seconds: float = Field(20.0, alias="OODA_WORKER_GRACE_SECONDS", ge=0)
    # DEBUG, INFO, WARNING, ERROR or CRITICAL (any case): the root logger's level under `serve`.
    log_level: str = Field("INFO", alias="OODA_LOG_LEVEL")
    # text (one line a record, the context in brackets) or json (one object a line).
    log_format: str = Field("text", alias="OODA_LOG_FORMAT")
    # Finished jobs and inbound webhook events older than this are deleted (bot.storage.retention).
    retention_days: float = Field(14.0, alias="OODA_RETENTION_DAYS", gt=0)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        name = value.strip().upper()
        if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return name

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        name = value.strip().lower()
        if name not in ("text", "json"):
            raise ValueError("must be text or json")
        return name

    @property
    def pagerduty_secrets(self) -> list[str]:
        return [s.strip() for s in self.pagerduty_webhook_secrets.split(",") if s.strip()]

    def missing_for_serve(self, *, socket_mode: bool) -> list[str]:
        """Variables `ooda serve` cannot start without."""
        missing = []
        if self.slack_bot_token is None:
            missing.append("SLACK_BOT_TOKEN")
        if socket_mode and self.slack_app_token is None:
            missing.append("SLACK_APP_TOKEN")
        if not socket_mode and self.slack_signing_secret is None:
            missing.append("SLACK_SIGNING_SECRET")
        if self.slack_client_id:  # the console signs people in and keeps them signed in
            if self.slack_client_secret is None:
                missing.append("SLACK_CLIENT_SECRET")
            if self.session_secret is None:
                missing.append("OODA_SESSION_SECRET")
        return missing

    @property
    def console_enabled(self) -> bool:
        """The web console answers only with Sign in with Slack fully configured."""
        return bool(self.slack_client_id and self.slack_client_secret and self.session_secret)


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
