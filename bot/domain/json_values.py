"""Decoding a webhook body into JSON that every database and every answer can hold, and the
same checks for values built from it (storage validates with them too).

Strict where vendors never send otherwise: UTF-8 only, no NaN/Infinity, no NUL characters
(PostgreSQL text cannot hold them), integers within 64 bits, nesting no deeper than MAX_DEPTH;
anything else is a `BodyError` whose message is the 400 answer's reason. A lone UTF-16
surrogate escape ("\\ud800", not valid Unicode, unencodable as UTF-8) is replaced with U+FFFD,
so the value can be stored and echoed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
INT_LIMIT = 2**63 - 1
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyError(ValueError):
    """The body cannot be accepted; str(exc) says why, for the 400 answer."""


def _refuse_constant(token: str) -> Any:
    raise BodyError(f"body is not valid JSON: {token} is not a JSON number")


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored or answered as is; None when it can."""
    try:
        value.encode("utf-8", "strict")
    except UnicodeEncodeError:
        return "holds a lone UTF-16 surrogate (not valid Unicode)"
    if "\x00" in value:
        return "holds a NUL character"
    return None


def _where(path: list[str | int]) -> str:
    """event.data.assignees[0].id, for the reason in the answer (keys clipped)."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step[:40]!s}"
    return out.removeprefix(".") or "body"


def without_surrogates(text: str) -> str:
    """Lone surrogates (json decodes "\\ud800" into one; a valid pair becomes one code point)
    replaced with U+FFFD, as a UTF-8 decoder does with an invalid sequence."""
    return _SURROGATE.sub(REPLACEMENT, text)


def _repaired(node: dict[str, Any] | list[Any]) -> None:
    """Replace lone surrogates in the direct keys and string items of one container."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, str) and _SURROGATE.search(item):
                node[index] = without_surrogates(item)
        return
    if any(_SURROGATE.search(key) for key in node):
        items = [(without_surrogates(k), v) for k, v in node.items()]
        node.clear()
        node.update(items)
    for key, item in node.items():
        if isinstance(item, str) and _SURROGATE.search(item):
            node[key] = without_surrogates(item)


def check_value(value: Any, *, repair: bool = False) -> str | None:
    """The first problem in a decoded JSON value (walked iteratively, so any depth is safe),
    or None. With `repair`, lone surrogates are replaced in place instead of reported."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return f"body is nested deeper than {MAX_DEPTH} levels"
        if repair and isinstance(node, dict | list):
            _repaired(node)
        if isinstance(node, dict):
            for key, child in node.items():
                problem = text_problem(key)
                if problem:
                    return f"a key in {_where(path)} {problem}"
                stack.append((child, [*path, key]))
        elif isinstance(node, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(node))
        elif isinstance(node, str):
            problem = text_problem(node)
            if problem:
                return f"{_where(path)} {problem}"
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if abs(node) > INT_LIMIT:
                return f"{_where(path)} is an integer outside the 64-bit range"
        elif isinstance(node, float) and not math.isfinite(node):
            return f"{_where(path)} is a number too large to represent"
    return None


def decode(body: bytes) -> Any:
    """The decoded body, lone surrogates replaced with U+FFFD; BodyError (a ValueError) with
    the reason when it cannot be accepted."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not UTF-8: invalid byte at offset {exc.start}") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except BodyError:
        raise
    except RecursionError:
        raise BodyError(f"body is nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise BodyError(f"body is not valid JSON: {str(exc)[:200]}") from None
    if isinstance(value, str):
        value = without_surrogates(value)
    problem = check_value(value, repair=True)
    if problem:
        raise BodyError(problem)
    return value
