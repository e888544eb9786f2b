"""What a doctor check finds, and running checks at once, each under a deadline. A check
returns Findings and never raises: whatever goes wrong in it is one finding, so one broken
vendor never hides another's answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

DEFAULT_DEADLINE = 10.0


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but an operator should know (auto-sync on, an optional thing unset)
    FAIL = "fail"  # a page would trip over it: `ooda doctor` exits non-zero
    SKIP = "skip"  # not configured, and nothing needs it


@dataclass(frozen=True)
class Finding:
    area: str  # settings, config, database, slack, pagerduty, github, argocd
    check: str  # what was checked: "scopes", "service PCHKOUT", ...
    status: Status
    detail: str
    next_step: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"status": self.status.value}


def ok(area: str, check: str, detail: str) -> Finding:
    return Finding(area, check, Status.OK, detail)


def fail(area: str, check: str, detail: str, next_step: str) -> Finding:
    return Finding(area, check, Status.FAIL, detail, next_step)


def warn(area: str, check: str, detail: str, next_step: str) -> Finding:
    return Finding(area, check, Status.WARN, detail, next_step)


def skip(area: str, check: str, detail: str) -> Finding:
    return Finding(area, check, Status.SKIP, detail)


@dataclass(frozen=True)
class Report:
    findings: list[Finding]

    @property
    def healthy(self) -> bool:
        """Nothing a page needs is broken (warnings allowed)."""
        return all(f.status is not Status.FAIL for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.healthy, "checks": [f.as_json() for f in self.findings]}


Check = Callable[[], Awaitable[list[Finding]]]


async def _bounded(area: str, check: Check, deadline: float) -> list[Finding]:
    try:
        return await asyncio.wait_for(check(), timeout=deadline)
    except TimeoutError:
        return [
            fail(
                area,
                "answer",
                f"no answer within {deadline:g}s",
                "check the URL setting and that this host can reach it (proxy, firewall, DNS)",
            )
        ]
    except Exception as exc:  # a check's own bug must not hide the other checks' answers
        return [fail(area, "check", f"{type(exc).__name__}: {exc}", "report this as a bug")]


async def run_checks(checks: Sequence[tuple[str, Check]], deadline: float) -> Report:
    """Every check at once, each within `deadline` seconds; findings in the checks' order."""
    results = await asyncio.gather(*(_bounded(area, check, deadline) for area, check in checks))
    return Report([finding for findings in results for finding in findings])
