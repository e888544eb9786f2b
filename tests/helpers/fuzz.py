"""Mutated real vendor deliveries for the webhook fuzz test, and the harness that sends them.

Bodies start from the vendor samples (tests/fixtures/vendor-samples) and get one to three value
mutations: wrong types, huge integers, lone surrogates, NUL and newlines, odd timestamps, deep
nesting, missing or extra keys; a few are broken as a whole (not JSON, not an object, invalid
UTF-8, NaN, truncated). The harness runs a real DevStack (loopback fakes, real database) and
posts through an ASGI transport on the same runtime, so thousands of requests stay fast.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.compose import compose
from bot.devstack import DevStack
from bot.storage.tables import ChangeRow, InboundEvent, Job

T = TypeVar("T")
DEEP = "\u0000__deep__\u0000"  # replaced by raw nested brackets after serialisation

ODD_SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    -(10**40),
    1.5,
    1e308,
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "x\x00y",
    "forged\nERROR root: injected",
    "\r\n\t\x1b[31m",
    "\u202eevil",
    "🙂 ünïcode",
    "Z" * 5000,
    "2020-13-45T99:99:99Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+01:00",
    "not a date",
    "2020-10-02T18:45:22.169Z",
    "<script>alert(1)</script>",
    DEEP,
]

scalars = st.one_of(
    st.sampled_from(ODD_SCALARS),
    st.integers(),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)

WHOLE_BODIES: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"[1, 2]",
    b'"a string"',
    b"123",
    b"null",
    b"true",
    b"NaN",
    b'{"event": NaN}',
    b'{"payload": Infinity}',
    b'{"a": "\xff\xfe"}',
    b"\xef\xbb\xbf{}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"a": "\\ud800"}',
    b'{"a": 1e999999}',
    b'{"a": ' + b"9" * 5000 + b"}",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> bytes:
    """A base delivery with 1-3 value mutations, serialised; sometimes a broken whole body."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(WHOLE_BODIES))
    body = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(body, path)
        op = draw(st.sampled_from(["set", "set", "set", "delete", "add", "wrap"]))
        if op == "set":
            parent[path[-1]] = draw(values)
        elif op == "delete":
            del parent[path[-1]]
        elif op == "wrap":  # the right value, one level too deep
            parent[path[-1]] = draw(st.sampled_from([[parent[path[-1]]], {"v": parent[path[-1]]}]))
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
    raw = json.dumps(body)
    if DEEP in raw or json.dumps(DEEP) in raw:
        depth = draw(st.sampled_from([10, 500, 5000, 200_000]))
        raw = raw.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    if draw(st.integers(0, 29)) == 0:
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    return raw.encode()


def _acceptable(value: Any, depth: int = 0) -> bool:
    """The contract for JSON the routes take in, written out on its own: nesting at most 64
    levels, text without NUL, integers within 64 bits, finite numbers."""
    if depth > 64:
        return False
    if isinstance(value, dict):
        return all(_acceptable(k, depth) and _acceptable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_acceptable(v, depth + 1) for v in value)
    if isinstance(value, str):  # a lone surrogate is taken (as U+FFFD), NUL is not
        return "\x00" not in value
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) < value < 2**63
    return math.isfinite(value)


def strict_object(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object when it meets the contract; None when it must be refused."""

    def refuse(token: str) -> Any:
        raise ValueError(token)

    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=refuse)
        if not _acceptable(value):
            return None
    except (ValueError, RecursionError, UnicodeError):
        return None
    return value if isinstance(value, dict) else None


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings for a fuzz run of `examples` bodies: the same bodies every run."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same bodies every run: stable in CI
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


@dataclass
class Tally:
    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record(self, status: int) -> None:
        self.sent += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1


class Harness:
    """A DevStack (from `make_stack`) run in its own event loop; requests go through an ASGI
    transport."""

    def __init__(self, stack: DevStack) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = stack
        self.run(self.stack.start())
        rt = self.stack.runtime
        app = compose(rt.settings, runtime=rt, run_worker=False).app
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://fuzz", timeout=30)
        self.tally = Tally()
        self.expected_inbound = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.stack.stop())
        self.loop.close()

    def post(self, path: str, raw: bytes, headers: dict[str, Any]) -> httpx.Response:
        response = self.run(self.client.post(path, content=raw, headers=headers))
        self.tally.record(response.status_code)
        return response

    def settle(self) -> None:
        self.run(self.stack.settle(timeout=120))

    def count(self, table: type) -> int:
        async def query() -> int:
            async with self.stack.runtime.db.session() as session:
                return int(await session.scalar(select(func.count()).select_from(table)) or 0)

        return self.run(query())

    def count_inbound(self) -> int:
        return self.count(InboundEvent)

    def stored(self) -> tuple[int, int, int]:
        return self.count(InboundEvent), self.count(ChangeRow), self.count(Job)

    def failed_jobs(self) -> list[tuple[str, str]]:
        async def query() -> list[tuple[str, str]]:
            async with self.stack.runtime.db.session() as session:
                rows = await session.execute(
                    select(Job.kind, Job.last_error).where(Job.last_error.is_not(None))
                )
                return [(kind, error) for kind, error in rows.all()]

        return self.run(query())


def check_answer(response: httpx.Response, *, malformed: bool) -> dict[str, Any]:
    """Never a 5xx; always a JSON answer; a refusal says why; malformed bodies get 400."""
    assert response.status_code < 500, response.text
    answer = response.json()
    assert isinstance(answer, dict), answer
    if response.status_code >= 400:
        assert answer.get("ok") is False
        assert isinstance(answer.get("error"), str) and answer["error"].strip(), answer
        assert response.status_code in (400, 413), answer
    else:
        assert answer.get("ok") is True, answer
    if malformed:
        assert response.status_code == 400, (response.status_code, answer)
    return answer
