"""Incident refs: "INC-42" names incident 42. One parser for whatever names an incident, from a
CLI argument to a button value or a form field."""

from __future__ import annotations

PREFIX = "INC-"
MAX_NUMBER = 2**31 - 1  # incidents.id is a 32-bit integer on PostgreSQL
_MAX_DIGITS = 10


def format_ref(number: int) -> str:
    return f"{PREFIX}{number}"


def parse_incident_ref(value: object) -> int | None:
    """The incident number in "INC-12", "inc-12", " 12 " or 12; None for anything else (a
    bool, a float, other text, a number no incident can have)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().upper().removeprefix(PREFIX)
        if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
            return None
        number = int(text)
    else:
        return None
    return number if 0 < number <= MAX_NUMBER else None
