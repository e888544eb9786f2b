"""POST /webhooks/github through the real app: signatures, dedupe, deployment → stored change."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.devstack import DevStack
from bot.fakes.github_api import sign_webhook
from bot.storage.tables import ChangeRow, InboundEvent, Job
from bot.web.signatures import github_valid
from tests.helpers.samples import vendor_sample
from tests.helpers.stack import MakeStack

SECRET = "gh-webhook-secret"
CONFIG: dict[str, Any] = {
    "services": [
        {
            "name": "hello",
            "pagerduty_service_ids": ["PHELLO1"],
            "github_repo": "Codertocat/Hello-World",
            "github_environment": "production",
        },
        {
            "name": "hello-staging",
            "github_repo": "codertocat/hello-world",
            "github_environment": "staging",
        },
    ]
}


def signature_vectors() -> list[dict[str, str]]:
    return vendor_sample("github_webhook_signature_vectors.json")["vectors"]


@pytest.mark.parametrize("vector", signature_vectors(), ids=lambda v: v["secret"])
def test_vendor_signature_vectors(vector: dict[str, str]) -> None:
    body = vector["payload"].encode()
    assert github_valid(vector["X-Hub-Signature-256"], body, vector["secret"])
    assert sign_webhook(vector["secret"], body) == vector["X-Hub-Signature-256"]
    assert not github_valid(vector["X-Hub-Signature-256"], body + b" ", vector["secret"])
    assert not github_valid(vector["X-Hub-Signature-256"], body, vector["secret"] + "x")
    assert not github_valid(vector["X-Hub-Signature-256"].removeprefix("sha256="), body, "s")


async def post(
    stack: DevStack,
    event: str,
    body: dict[str, Any] | bytes,
    *,
    delivery: str | None = None,
    secret: str | None = SECRET,
    signature: str | None = None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign_webhook(secret, raw)
    assert stack.http is not None
    return await stack.http.post("/webhooks/github", content=raw, headers=headers)


async def stored(stack: DevStack) -> tuple[list[ChangeRow], int]:
    async with stack.runtime.db.session() as session:
        changes = list((await session.scalars(select(ChangeRow))).all())
        inbound = await session.scalar(select(func.count()).select_from(InboundEvent))
    return changes, int(inbound or 0)


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"GITHUB_WEBHOOK_SECRET": SECRET}


async def test_deployment_then_status_is_one_change(stack: DevStack) -> None:
    created = await post(stack, "deployment", vendor_sample("github_deployment.created.json"))
    assert created.status_code == 200, created.text
    assert created.json()["service"] == "hello"
    changes, _ = await stored(stack)
    assert len(changes) == 1
    change = changes[0]
    assert (change.source, change.external_id) == ("github", "145988746")
    assert change.service == "hello" and change.repo == "Codertocat/Hello-World"
    assert change.status == "pending"  # a just-created deployment waits to start

    status = vendor_sample("github_deployment_status.created.json")
    delivery = str(uuid.uuid4())
    updated = await post(stack, "deployment_status", status, delivery=delivery)
    assert updated.status_code == 200 and updated.json()["status"] == "success"
    changes, inbound = await stored(stack)
    assert [(c.external_id, c.status) for c in changes] == [("145988746", "success")]
    assert inbound == 2

    again = await post(stack, "deployment_status", status, delivery=delivery)
    assert again.json() == {"ok": True, "duplicate": True}
    assert (await stored(stack))[1] == 2


async def test_environment_picks_the_service(stack: DevStack) -> None:
    body = vendor_sample("github_deployment.created.json")
    body["deployment"]["environment"] = "staging"
    response = await post(stack, "deployment", body)
    assert response.json()["service"] == "hello-staging"


async def test_repository_outside_the_catalog_is_kept_without_a_service(stack: DevStack) -> None:
    body = vendor_sample("github_deployment.created.json")
    body["repository"]["full_name"] = "someone/else"
    response = await post(stack, "deployment", body)
    assert response.status_code == 200 and response.json()["service"] is None
    changes, _ = await stored(stack)
    assert [(c.repo, c.service) for c in changes] == [("someone/else", None)]


@pytest.mark.parametrize(
    ("signature", "status", "reason"),
    [
        (None, 401, "missing X-Hub-Signature-256"),
        ("sha256=" + "0" * 64, 403, "signature does not match"),
        ("not-a-signature", 403, "signature does not match"),
    ],
)
async def test_bad_signature_stores_nothing(
    stack: DevStack, signature: str | None, status: int, reason: str
) -> None:
    body = vendor_sample("github_deployment.created.json")
    response = await post(stack, "deployment", body, secret=None, signature=signature)
    assert response.status_code == status
    assert response.json()["error"] == reason
    assert await stored(stack) == ([], 0)


async def test_signed_with_another_secret_is_refused(stack: DevStack) -> None:
    body = vendor_sample("github_deployment.created.json")
    response = await post(stack, "deployment", body, secret="someone-elses")
    assert response.status_code == 403
    assert await stored(stack) == ([], 0)


async def test_malformed_bodies_get_a_reason(stack: DevStack) -> None:
    broken = await post(stack, "deployment", b'{"deployment": ')
    assert broken.status_code == 400
    assert broken.json()["error"].startswith("body is not valid JSON")

    no_deployment = await post(stack, "deployment", {"repository": {"full_name": "a/b"}})
    assert no_deployment.status_code == 400
    assert no_deployment.json()["error"] == "deployment event without a deployment object"

    body = vendor_sample("github_deployment_status.created.json")
    del body["deployment_status"]
    no_status = await post(stack, "deployment_status", body)
    assert no_status.status_code == 400
    assert "deployment_status object" in no_status.json()["error"]

    body = vendor_sample("github_deployment.created.json")
    body["deployment"]["created_at"] = "yesterday-ish"
    bad_time = await post(stack, "deployment", body)
    assert bad_time.status_code == 400
    assert "created_at" in bad_time.json()["error"]
    assert await stored(stack) == ([], 0)


async def test_ping_and_other_events(stack: DevStack) -> None:
    ping = await post(stack, "ping", {"zen": "Design for failure.", "hook_id": 1})
    assert ping.status_code == 200 and ping.json()["pong"] is True
    push = await post(stack, "push", {"ref": "refs/heads/main"})
    assert push.status_code == 200 and push.json()["ignored"] == "push"
    assert await stored(stack) == ([], 0)


async def test_no_secret_configured_refuses(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        response = await post(stack, "deployment", vendor_sample("github_deployment.created.json"))
        assert response.status_code == 403
        assert "GITHUB_WEBHOOK_SECRET" in response.json()["error"]
        assert await stored(stack) == ([], 0)


async def test_no_orient_job_without_an_open_incident(stack: DevStack) -> None:
    response = await post(stack, "deployment", vendor_sample("github_deployment.created.json"))
    assert response.json()["reoriented"] == []
    async with stack.runtime.db.session() as session:
        kinds = (await session.scalars(select(Job.kind))).all()
    assert "incident.orient" not in kinds


async def test_status_delivered_before_its_deployment_is_kept(stack: DevStack) -> None:
    status = await post(
        stack, "deployment_status", vendor_sample("github_deployment_status.created.json")
    )
    assert status.json()["status"] == "success"
    created = await post(stack, "deployment", vendor_sample("github_deployment.created.json"))
    assert created.status_code == 200 and created.json()["status"] == "success"
    changes, inbound = await stored(stack)
    assert [(c.external_id, c.status) for c in changes] == [("145988746", "success")]
    assert inbound == 2
