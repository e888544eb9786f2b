"""User template overrides and the Jinja2 sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError

from bot.postmortem import render_postmortem
from bot.postmortem.document import PostmortemDoc


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_user_markdown_template_overrides_package(doc: PostmortemDoc, tmp_path: Path) -> None:
    templates = write(
        tmp_path / "tpl",
        "postmortem.md.j2",
        "CUSTOM {{ doc.title }} resolved in {{ doc.key_numbers.time_to_resolve | duration }}"
        " by {{ incident.roles.commander | who }} at {{ incident.resolved_at | ts }}\n",
    )
    out = render_postmortem(doc, templates_dir=templates)
    assert out == (
        "CUSTOM INC-42: Checkout returns 500s resolved in 41m by Alice at 2026-11-24 10:41:00 UTC\n"
    )
    # only the Markdown template was overridden: HTML still comes from the package
    assert "<h2>Key numbers</h2>" in render_postmortem(doc, fmt="html", templates_dir=templates)
    # and without templates_dir the package template is used
    assert render_postmortem(doc).startswith("# INC-42")


def test_user_html_template_overrides_package(doc: PostmortemDoc, tmp_path: Path) -> None:
    templates = write(tmp_path, "postmortem.html.j2", "<p>{{ doc.timeline[2].text }}</p>")
    out = render_postmortem(doc, fmt="html", templates_dir=templates)
    assert out == "<p>Errors spike at &lt;script&gt;alert(1)&lt;/script&gt;</p>"  # autoescaped


def test_user_template_can_extend_builtin(doc: PostmortemDoc, tmp_path: Path) -> None:
    templates = write(
        tmp_path,
        "postmortem.md.j2",
        '{% extends "builtin/postmortem.md.j2" %}\n'
        "{% block impact %}\n\n## Impact\n\n12% of checkouts failed.\n{% endblock %}\n",
    )
    out = render_postmortem(doc, templates_dir=templates)
    assert "## Impact\n\n12% of checkouts failed.\n" in out
    assert "| Time to resolve | 41m |" in out  # the rest is the package's template


def test_template_edits_are_picked_up(doc: PostmortemDoc, tmp_path: Path) -> None:
    templates = write(tmp_path, "postmortem.md.j2", "v1")
    assert render_postmortem(doc, templates_dir=templates) == "v1"
    path = templates / "postmortem.md.j2"
    path.write_text("v2 changed", encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert render_postmortem(doc, templates_dir=templates) == "v2 changed"


@pytest.mark.parametrize("fmt", ["markdown", "html"])
@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''['__class__'] }}",
        "{{ doc.__dict__ }}",
        "{{ doc.incident.__class__.__init__.__globals__ }}",
        "{{ doc.names.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% for x in ''.__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ doc.key_number_rows.__len__() }}",
        "{{ ''.format.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
    ],
)
def test_sandbox_refuses_unsafe_access(
    doc: PostmortemDoc, tmp_path: Path, fmt: str, payload: str
) -> None:
    name = "postmortem.md.j2" if fmt == "markdown" else "postmortem.html.j2"
    templates = write(tmp_path, name, payload)
    with pytest.raises(SecurityError):
        render_postmortem(doc, fmt=fmt, templates_dir=templates)  # type: ignore[arg-type]


def test_missing_attribute_is_an_error_not_blank(doc: PostmortemDoc, tmp_path: Path) -> None:
    """StrictUndefined: a typo in a user template fails loudly instead of rendering nothing."""
    templates = write(tmp_path, "postmortem.md.j2", "{{ doc.incident.titel }}")
    with pytest.raises(UndefinedError):
        render_postmortem(doc, templates_dir=templates)
