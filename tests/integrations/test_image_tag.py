"""image_tag mapping: the key that links one deploy across sources when there is no sha."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.argocd import application_changes
from integrations.webhook import change_event_to_change


def event(details: dict[str, Any]) -> dict[str, Any]:
    return {
        "payload": {
            "summary": "Deploy checkout",
            "timestamp": "2026-11-24T10:00:00Z",
            "custom_details": details,
        }
    }


@pytest.mark.parametrize(
    ("details", "image_tag"),
    [
        ({"image_tag": "acme/checkout:v2"}, "acme/checkout:v2"),
        ({"image": " ghcr.io/acme/checkout:v2 "}, "ghcr.io/acme/checkout:v2"),
        ({"image_tag": "a:1", "image": "b:2"}, "a:1"),
        ({"image": ""}, None),
        ({}, None),
    ],
)
def test_change_event_image_tag(details: dict[str, Any], image_tag: str | None) -> None:
    assert change_event_to_change(event(details), service="checkout").image_tag == image_tag


def app(history: list[dict[str, Any]], images: list[str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"history": history, "health": {"status": "Healthy"}}
    if images is not None:
        status["summary"] = {"images": images}
    return {"metadata": {"name": "checkout"}, "status": status}


def entry(hist_id: int, revision: str, **source: Any) -> dict[str, Any]:
    return {
        "id": hist_id,
        "revision": revision,
        "deployedAt": f"2026-11-24T0{hist_id}:00:00Z",
        "source": {"repoURL": "https://github.com/acme/checkout.git", **source},
    }


def test_argocd_current_images_belong_to_the_newest_entry_only() -> None:
    changes = application_changes(
        app([entry(1, "a" * 40), entry(2, "b" * 40)], ["acme/checkout:v2", "envoy:1.30"]),
        service="checkout",
    )
    assert [c.image_tag for c in changes] == [None, "acme/checkout:v2"]


def test_argocd_kustomize_images_in_history_win() -> None:
    changes = application_changes(
        app(
            [
                entry(1, "a" * 40, kustomize={"images": ["checkout=acme/checkout:v1"]}),
                entry(2, "b" * 40, kustomize={"images": ["acme/checkout:v2"]}),
            ],
            ["acme/checkout:v3"],
        ),
        service="checkout",
    )
    assert [c.image_tag for c in changes] == ["acme/checkout:v1", "acme/checkout:v2"]
