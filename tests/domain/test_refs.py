"""One parser for incident refs: the CLI, the Slack listeners and the commands all use it."""

from __future__ import annotations

import pytest

from bot.domain.refs import MAX_NUMBER, format_ref, parse_incident_ref


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("INC-42", 42),
        ("inc-42", 42),
        ("Inc-7", 7),
        ("42", 42),
        (" INC-42 ", 42),
        ("\t12\n", 12),
        ("INC-0042", 42),
        (42, 42),
        (str(MAX_NUMBER), MAX_NUMBER),
        (MAX_NUMBER, MAX_NUMBER),
        # not an incident
        ("INC-0", None),
        ("0", None),
        (0, None),
        (-3, None),
        ("-3", None),
        ("INC--3", None),
        ("+3", None),
        ("4_2", None),  # int() would take it
        ("٤٢", None),  # Arabic-Indic digits: int() would take these too
        ("INC-", None),
        ("", None),
        ("   ", None),
        ("INC-x", None),
        ("INC 42", None),
        ("INC-42a", None),
        ("42.0", None),
        ("INCIDENT-42", None),
        (str(MAX_NUMBER + 1), None),
        (MAX_NUMBER + 1, None),
        ("1" * 11, None),
        (True, None),
        (False, None),
        (42.0, None),
        (None, None),
        (["42"], None),
        ({"i": 42}, None),
    ],
)
def test_parse_incident_ref(value: object, number: int | None) -> None:
    assert parse_incident_ref(value) == number


@pytest.mark.parametrize("number", [1, 42, MAX_NUMBER])
def test_format_is_what_parse_reads(number: int) -> None:
    assert format_ref(number) == f"INC-{number}"
    assert parse_incident_ref(format_ref(number)) == number
