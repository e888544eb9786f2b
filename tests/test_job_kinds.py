"""Job kinds have one home (bot.domain.jobs.JobKind): every kind has its handler on the worker,
every kind is queued somewhere in bot/, every place that queues a job names a JobKind, and the
stored values are the strings existing databases hold."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from bot.catalog import OodaConfig
from bot.domain.jobs import JobKind
from bot.job_handlers import register
from bot.service.runtime import build_runtime
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

# What the jobs table of a running installation holds: these never change.
STORED = {
    JobKind.PAGERDUTY_EVENT: "pagerduty.event",
    JobKind.INCIDENT_SETUP: "incident.setup",
    JobKind.INCIDENT_OBSERVE: "incident.observe",
    JobKind.INCIDENT_ORIENT: "incident.orient",
    JobKind.INCIDENT_DECIDE: "incident.decide",
    JobKind.INCIDENT_RESPONDERS: "incident.responders",
    JobKind.INCIDENT_REMINDER: "incident.reminder",
    JobKind.INCIDENT_POSTMORTEM: "incident.postmortem",
    JobKind.ACTION_RUN: "action.run",
    JobKind.ACTION_VERIFY: "action.verify",
    JobKind.MAINTENANCE: "maintenance",
    JobKind.STORAGE_RETENTION: "storage.retention",
    JobKind.SLACK_PIN: "slack.pin",
    JobKind.SLACK_INTERACTION: "slack.interaction",
}


def test_stored_values_never_change() -> None:
    assert {k: k.value for k in JobKind} == STORED


def test_every_kind_has_its_handler(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'kinds.db'}",
        OODA_CONFIG=str(tmp_path / "none.yaml"),
    )
    rt = build_runtime(settings, config=OodaConfig())
    register(rt)
    assert set(rt.worker.handlers) == set(JobKind)


# ---- where jobs are queued -----------------------------------------------------------------


@dataclass
class Queued:
    """The JobKind members the call sites of add_job / schedule_once name. A function that
    passes a parameter on as the kind (schedule_retry) queues what its own callers name."""

    # function name -> (position, name) of its kind parameter
    producers: dict[str, tuple[int | None, str]] = field(
        default_factory=lambda: {"add_job": (1, "kind"), "schedule_once": (1, "kind")}
    )
    kinds: dict[JobKind, list[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def _kind_argument(call: ast.Call, position: int | None, name: str) -> ast.expr | None:
    if position is not None and len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _member(expr: ast.expr, aliases: dict[str, ast.expr]) -> JobKind | None:
    """JobKind.X, or a module-level name bound to it."""
    if isinstance(expr, ast.Name) and expr.id in aliases:
        expr = aliases[expr.id]
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == "JobKind"
        and expr.attr in JobKind.__members__
    ):
        return JobKind[expr.attr]
    return None


def _parameter(function: ast.AST, name: str) -> tuple[int | None, str] | None:
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    positional = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if name in positional:
        return positional.index(name), name
    if name in [a.arg for a in function.args.kwonlyargs]:
        return None, name
    return None


def _call_sites(tree: ast.Module) -> list[tuple[ast.Call, ast.AST | None]]:
    """Every call, with the innermost function it is in (None at module level)."""
    found: list[tuple[ast.Call, ast.AST | None]] = []

    def visit(node: ast.AST, function: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call):
                found.append((child, function))
            visit(child, inner)

    visit(tree, None)
    return found


def queued_kinds() -> Queued:
    modules = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        modules[str(path.relative_to(ROOT))] = (_call_sites(tree), aliases)
    queued = Queued()
    while True:  # until no new forwarding function turns up
        known = dict(queued.producers)
        queued.kinds, queued.unresolved = {}, []
        for where, (calls, aliases) in modules.items():
            for call, function in calls:
                spec = queued.producers.get(_callee(call) or "")
                expr = _kind_argument(call, *spec) if spec else None
                if expr is None:
                    continue
                site = f"{where}:{call.lineno}"
                member = _member(expr, aliases)
                forwarded = (
                    _parameter(function, expr.id)
                    if isinstance(expr, ast.Name) and function is not None
                    else None
                )
                if member is not None:
                    queued.kinds.setdefault(member, []).append(site)
                elif forwarded is not None:
                    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                    queued.producers.setdefault(function.name, forwarded)
                else:
                    queued.unresolved.append(f"{site}: {ast.unparse(expr)}")
        if queued.producers == known:
            return queued


def test_every_job_is_queued_under_a_job_kind() -> None:
    queued = queued_kinds()
    assert "schedule_retry" in queued.producers  # the scan follows a forwarded kind
    assert queued.unresolved == [], "name the kind with JobKind.<member>"


def test_every_kind_is_queued_somewhere() -> None:
    queued = queued_kinds()
    assert sorted(set(JobKind) - set(queued.kinds)) == [], "a kind nothing queues"
