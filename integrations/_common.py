"""Small conversions shared by the vendor modules: timestamps, change kinds, statuses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.domain.model import ChangeKind, ChangeStatus

_FLAG = re.compile(r"\b(feature[ _-]?)?(flag|flags|toggle|toggles)\b", re.IGNORECASE)
_CONFIG = re.compile(r"\b(config|configs|configuration|configmap|settings?)\b", re.IGNORECASE)
_DEPLOY = re.compile(
    r"\b(deploy\w*|release\w*|rollout|rolled|build|builds|upgrade\w*|rollback|version)\b",
    re.IGNORECASE,
)

_STATUS_WORDS: dict[str, ChangeStatus] = {
    "success": ChangeStatus.SUCCESS,
    "succeeded": ChangeStatus.SUCCESS,
    "successful": ChangeStatus.SUCCESS,
    "passed": ChangeStatus.SUCCESS,
    "completed": ChangeStatus.SUCCESS,
    "failed": ChangeStatus.FAILURE,
    "failure": ChangeStatus.FAILURE,
    "error": ChangeStatus.FAILURE,
    "errored": ChangeStatus.FAILURE,
    "in_progress": ChangeStatus.IN_PROGRESS,
    "running": ChangeStatus.IN_PROGRESS,
    "started": ChangeStatus.IN_PROGRESS,
    "queued": ChangeStatus.PENDING,
    "pending": ChangeStatus.PENDING,
}


def parse_timestamp(value: Any, *, field: str = "timestamp") -> datetime:
    """ISO 8601 (incl. "Z" and "+0000" offsets) to an aware UTC datetime; naive means UTC.

    Total over odd input: anything that is not such a timestamp (another type, an empty or
    overlong string, a date out of range once moved to UTC) raises ValueError naming `field`,
    never another exception."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be an ISO 8601 timestamp string")
    shown = ascii(value[:40])
    if len(value) > 64:
        raise ValueError(f"{field} is not a valid ISO 8601 timestamp: {shown}")
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError, TypeError) as exc:
        raise ValueError(f"{field} is not a valid ISO 8601 timestamp: {shown}") from exc


def infer_kind(text: str, default: ChangeKind = ChangeKind.DEPLOY) -> ChangeKind:
    """Guess the kind from free text; flags win over config, config over deploys."""
    text = text.replace("_", " ")  # so keys like "flag_key" count as words
    if _FLAG.search(text):
        return ChangeKind.FLAG
    if _CONFIG.search(text):
        return ChangeKind.CONFIG
    if _DEPLOY.search(text):
        return ChangeKind.DEPLOY
    return default


def kind_from_word(value: Any) -> ChangeKind | None:
    """An explicit kind such as "deploy", "deployment", "feature_flag", "config"."""
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    if word.startswith("deploy") or word in {"release", "build"}:
        return ChangeKind.DEPLOY
    if "flag" in word or word == "toggle":
        return ChangeKind.FLAG
    if word.startswith("config") or word in {"setting", "settings"}:
        return ChangeKind.CONFIG
    return None


def status_from_word(value: Any) -> ChangeStatus:
    if not isinstance(value, str):
        return ChangeStatus.UNKNOWN
    return _STATUS_WORDS.get(value.strip().lower().replace("-", "_"), ChangeStatus.UNKNOWN)


def first_link(links: Any) -> str | None:
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict) and isinstance(link.get("href"), str) and link["href"]:
                return link["href"]
    return None


def text_of(obj: Any) -> str:
    """Keys and string values of a (nested) dict, for keyword inference."""
    if isinstance(obj, dict):
        return " ".join(f"{k} {text_of(v)}" for k, v in obj.items())
    if isinstance(obj, list):
        return " ".join(text_of(v) for v in obj)
    return obj if isinstance(obj, str) else ""
