"""Signature checks never crash on hostile headers."""

from __future__ import annotations

from bot.web.signatures import github_valid, pagerduty_header_wellformed, pagerduty_valid


def test_non_ascii_signatures_are_rejected_not_crashing() -> None:
    assert pagerduty_header_wellformed("v1=ü")
    assert pagerduty_valid("v1=ü", b"{}", ["secret"]) is False
    assert github_valid("sha256=ü", b"{}", "secret") is False


def test_github_vector_and_tamper() -> None:
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert github_valid(header, b"Hello, World!", "It's a Secret to Everybody")
    assert not github_valid(header, b"Hello, World?", "It's a Secret to Everybody")
