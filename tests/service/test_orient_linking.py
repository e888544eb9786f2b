"""One deploy reported by several sources is one Orient candidate naming every source."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.domain.model import utcnow
from tests.helpers.orient import (
    WEBHOOK_ENV,
    card,
    change_webhook,
    deploy_webhook,
    orient_changes,
    page,
    paged,
)
from tests.helpers.postmortem import postmortem_files

SHA = "5eed5eed0123456789abcdef0123456789abcdef"
OLD_SHA = "01d01d01d0123456789abcdef0123456789abcde"
CONFIG: dict[str, Any] = {
    "services": [
        {
            "name": "checkout",
            "pagerduty_service_ids": ["PCHKOUT"],
            "github_repo": "acme/checkout",
            "github_environment": "production",
            "argocd_app": "checkout",
        }
    ]
}


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.fixture
def stack_env() -> dict[str, str]:
    return WEBHOOK_ENV


@pytest.fixture
def stack_seed() -> Callable[[DevStack], object]:
    """Argo CD deploys checkout from the GitHub repo the catalog names."""
    return lambda stack: stack.argocd.add_application(
        "checkout", repo_url="https://github.com/acme/checkout.git"
    )


async def test_github_deploy_change_event_and_related_change_with_one_sha_are_one_candidate(
    stack: DevStack,
) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    deployed = first_alert - timedelta(minutes=12)
    github = await deploy_webhook(
        stack,
        dep_id=7001,
        repo="acme/checkout",
        sha=SHA,
        created_at=deployed,
        description="v2.0.0",
        state="success",
    )
    assert github.status_code in (200, 202), github.text
    ci = await change_webhook(
        stack,
        summary="Deploy checkout v2.0.0",
        at=deployed + timedelta(minutes=1),
        source="buildkite",
        details={"service": "checkout", "sha": SHA[:7], "image_tag": "acme/checkout:v2.0.0"},
    )
    assert ci.status_code in (200, 202), ci.text
    # An unrelated older change stays its own candidate.
    unrelated = await change_webhook(
        stack,
        summary="Flag checkout.banner on",
        at=first_alert - timedelta(hours=2),
        source="launchdarkly",
        details={"service": "checkout", "kind": "flag"},
    )
    assert unrelated.status_code in (200, 202), unrelated.text
    triggered = page(stack, first_alert=first_alert)
    # PagerDuty's related change events report the same deploy a third time.
    stack.pagerduty.add_change_event(
        "PORIENT1",
        summary="checkout deployed",
        timestamp=deployed + timedelta(minutes=2),
        custom_details={"commit": SHA},
    )
    assert (await stack.pagerduty_webhook(triggered)).status_code == 202
    await stack.settle()

    changes = orient_changes(stack)
    assert len(changes) == 2, changes
    assert SHA[:7] in changes[0]
    assert "github + webhook + pagerduty" in changes[0]
    assert "12 min before the first alert" in changes[0]
    assert "Flag checkout.banner on" in changes[1]
    assert " + " not in changes[1]
    orient = card(stack, "INC-1 Orient")
    assert orient is not None and orient["text"].startswith("INC-1 Orient: 2 change(s)")

    # The postmortem's changes table names both sources too.
    resolved = stack.pagerduty.webhook_event("incident.resolved", "PORIENT1")
    assert (await stack.pagerduty_webhook(resolved)).status_code == 202
    await stack.settle()
    content = postmortem_files(stack)[-1]["content"]
    content = content.decode() if isinstance(content, bytes) else content
    assert "| github + webhook + pagerduty |" in content, content


async def test_argocd_history_entry_with_the_deployed_sha_joins_the_github_deploy(
    stack: DevStack,
) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    deployed = first_alert - timedelta(minutes=10)
    stack.argocd.add_history(
        "checkout", revision=OLD_SHA, deployed_at=first_alert - timedelta(days=2)
    )
    stack.argocd.add_history("checkout", revision=SHA, deployed_at=deployed + timedelta(minutes=2))
    stack.github.add_deployment("acme/checkout", sha=SHA, created_at=deployed, description="v2")
    await paged(stack, first_alert=first_alert)

    changes = orient_changes(stack)
    linked = [c for c in changes if SHA[:7] in c]
    assert len(linked) == 1, changes
    assert "github + argocd" in linked[0]
    assert changes[0] == linked[0]

    # Argo CD speaks for the linked deploy, so its rollback is on offer.
    orient = card(stack, "INC-1 Orient")
    assert orient is not None
    stack.slack.join(orient["channel"], "U0ALICE01")  # a responder: in the channel
    await stack.click("stage_decide", "1", user="U0ALICE01", channel=orient["channel"])
    await stack.settle()
    labels = decide_labels(stack)
    assert f"Roll back checkout to {OLD_SHA[:7]} [rollback-argocd]" in labels
    # GitHub reported the same deploy: its rollback workflow applies too.
    assert any(label.endswith("[rollback-github-actions]") for label in labels), labels


def decide_labels(stack: DevStack) -> list[str]:
    decide = card(stack, "INC-1 Decide")
    assert decide is not None, stack.slack.transcript()
    return [
        f"{b['accessory']['text']['text']} [{json.loads(b['accessory']['value'])['p']}]"
        for b in decide["blocks"]
        if b["type"] == "section" and b.get("accessory", {}).get("action_id") == "decide_run"
    ]


async def test_degraded_argocd_revision_ranks_first_and_suggests_an_argocd_rollback(
    stack: DevStack,
) -> None:
    first_alert = utcnow() - timedelta(minutes=2)
    stack.argocd.add_history(
        "checkout", revision=OLD_SHA, deployed_at=first_alert - timedelta(days=1)
    )
    stack.argocd.add_history(
        "checkout",
        revision=SHA,
        deployed_at=first_alert - timedelta(minutes=8),
        health="Degraded",
    )
    # A webhook change closer to the alert, on a service outside the incident's: ranked lower.
    other = await change_webhook(
        stack,
        summary="Config push to search",
        at=first_alert - timedelta(minutes=1),
        source="ci",
        details={"service": "search", "kind": "config"},
    )
    assert other.status_code in (200, 202), other.text
    await paged(stack, first_alert=first_alert)

    changes = orient_changes(stack)
    assert SHA[:7] in changes[0], changes
    assert "argocd" in changes[0]
    assert "deployed to checkout 8 min before the first alert; status failure" in changes[0]
    assert "likely suspect" in changes[0]
    assert any("Config push to search" in c for c in changes[1:])

    orient = card(stack, "INC-1 Orient")
    assert orient is not None
    channel = orient["channel"]
    stack.slack.join(channel, "U0ALICE01")  # a responder: in the channel
    await stack.click("stage_decide", "1", user="U0ALICE01", channel=channel)
    await stack.settle()
    labels = decide_labels(stack)
    assert labels and labels[0] == f"Roll back checkout to {OLD_SHA[:7]} [rollback-argocd]", labels
