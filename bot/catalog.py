"""The OODA_CONFIG file: services catalog, playbooks and templates directories, reminders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    pagerduty_service_ids: list[str] = Field(default_factory=list)
    github_repo: str | None = None  # owner/name
    github_environment: str = "production"
    rollback_workflow: str = "rollback.yml"
    argocd_app: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    team: str | None = None
    slack_channel: str | None = None  # announcements channel (id or #name)
    dashboard_url: str | None = None
    logs_url: str | None = None
    # Named endpoints for http.webhook playbook actions: feature_flags, scale, restart, ...
    webhooks: dict[str, str] = Field(default_factory=dict)

    @field_validator("github_repo")
    @classmethod
    def _repo_shape(cls, value: str | None) -> str | None:
        if value is not None and value.count("/") != 1:
            raise ValueError("github_repo must look like owner/name")
        return value


class OodaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[ServiceConfig] = Field(default_factory=list)
    playbooks_dir: str | None = None
    templates_dir: str | None = None
    announcements_channel: str | None = None
    # PagerDuty priority name -> severity label, e.g. {"P1": "SEV1"}
    priority_map: dict[str, str] = Field(
        default_factory=lambda: {
            "P1": "SEV1",
            "P2": "SEV2",
            "P3": "SEV3",
            "P4": "SEV4",
            "P5": "SEV4",
        }
    )
    change_window_hours: float = 24.0
    dedup_window_minutes: float = 30.0

    def service_for_pagerduty(self, pd_service_id: str | None) -> ServiceConfig | None:
        for service in self.services:
            if pd_service_id and pd_service_id in service.pagerduty_service_ids:
                return service
        return None

    def service(self, name: str | None) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)

    def dependencies_of(self, name: str | None) -> set[str]:
        service = self.service(name)
        return set(service.depends_on) if service else set()


class ConfigError(Exception):
    """A config file problem, with the file and line when known."""


def _line_of(raw: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a field path inside the YAML document."""
    try:
        node = yaml.compose(raw)
    except yaml.YAMLError:
        return None
    line = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                break
            line = next(k for k, v in node.value if v is match).start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_config(raw: str, source: str = "<config>") -> OodaConfig:
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return OodaConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        line = _line_of(raw, tuple(first["loc"]))
        at = f":{line}" if line else ""
        raise ConfigError(f"{source}{at}: {where}: {first['msg']}") from exc


def load_config(path: str | Path) -> OodaConfig:
    """Load OODA_CONFIG; a missing file means an empty catalog (the bot still works)."""
    file = Path(path)
    if not file.exists():
        return OodaConfig()
    return parse_config(file.read_text(encoding="utf-8"), str(file))
