"""The container files, read as Docker would: the compose file's services, their shared
database URL, health checks and start order; the Dockerfile's entrypoint, health check, volume
and user. (No Docker daemon runs here: they are checked, not built.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
REPLICAS = ("ooda-1", "ooda-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def env_keys(path: Path) -> set[str]:
    return {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"^#? ?[A-Z_]+=", line)
    }


def test_services_and_the_one_published_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", *REPLICAS, "proxy"}
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"proxy": ["${OODA_PORT:-3000}:3000"]}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in REPLICAS:
        assert services[name]["command"][0] == "serve"
        assert services[name]["build"] == {"context": "..", "dockerfile": "Dockerfile"}


def test_every_ooda_container_shares_one_postgresql_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    urls = {name: services[name]["environment"]["DATABASE_URL"] for name in ("migrate", *REPLICAS)}
    assert len(set(urls.values())) == 1, urls
    url = urls["migrate"]
    assert url.startswith("postgresql://ooda:") and url.endswith("@postgres:5432/ooda")
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("ooda", "ooda")
    assert "${POSTGRES_PASSWORD" in url and "${POSTGRES_PASSWORD" in postgres["POSTGRES_PASSWORD"]
    for name in ("migrate", *REPLICAS):
        assert services[name]["env_file"] == [".env"]


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in REPLICAS:
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "/readyz" in check and check.startswith("CMD python")  # no curl in the image
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["proxy"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in REPLICAS
    }


def test_the_proxy_routes_to_each_replica_by_readiness(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["proxy"]["volumes"]
    assert mounts == ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    config = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server (\S+) (\S+)$", config, re.MULTILINE)
    assert servers == [(name, f"{name}:3000") for name in REPLICAS]
    assert "option httpchk GET /readyz" in config and "bind :3000" in config


def test_the_env_example_names_what_compose_and_the_bot_read(compose: dict[str, Any]) -> None:
    keys = env_keys(DEPLOY / ".env.example")
    raw = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", raw))
    assert interpolated <= keys, interpolated - keys
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_WEBHOOK_SECRETS"} <= keys
    mounted = compose["services"]["ooda-1"]["volumes"]
    assert mounted == ["./ooda.yaml:/config/ooda.yaml:ro"]
    assert (DEPLOY / "ooda.example.yaml").exists()


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile.read_text(encoding="utf-8"))
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dockerfile() -> None:
    steps = instructions(ROOT / "Dockerfile")

    def args(name: str) -> list[str]:
        return [a for w, a in steps if w == name]

    stages = args("FROM")
    assert len(stages) == 2 and stages[0].endswith(" AS build")
    assert "--from=build /opt/ooda /opt/ooda" in args("COPY")
    assert any("pip install -c constraints.txt '.[otel]'" in run for run in args("RUN"))
    assert [json.loads(a) for a in args("ENTRYPOINT")] == [["ooda"]]
    assert [json.loads(a) for a in args("CMD")] == [
        ["serve", "--host", "0.0.0.0", "--port", "3000"]
    ]
    assert args("VOLUME") == ["/data"] and args("USER") == ["ooda"]
    [health] = args("HEALTHCHECK")
    check = json.loads(health.split(" CMD ", 1)[1])
    assert check[:2] == ["python", "-c"] and "/healthz" in check[2]


def test_the_readme_scale_out_section_points_to_the_compose_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Scaling out", 1)[1].split("\n### ", 1)[0]
    assert "deploy/docker-compose.yml" in section and "deploy/README.md" in section
    assert (DEPLOY / "README.md").exists()
