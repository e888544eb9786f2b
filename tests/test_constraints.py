"""constraints.txt pins every package the project and its dev extras install, each pin within
the range pyproject.toml allows (CI, scripts/test.sh and the image install with it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            found[canonicalize_name(name)] = version
    return found


def test_every_requirement_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"], *extras["dev"]]
    pinned = pins()
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(project["name"]):  # dev pulls in another extra: otel
            requirements += [r for extra in requirement.extras for r in extras[extra]]
            continue
        assert name in pinned, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{requirement.name}=={pinned[name]} is outside {requirement.specifier}"
        )
        if "binary" in requirement.extras:
            assert f"{name}-binary" in pinned


def test_every_install_path_uses_the_constraints() -> None:
    for path in (".ci/run", "scripts/test.sh", "Dockerfile"):
        text = (ROOT / path).read_text(encoding="utf-8")
        installs = [
            line
            for line in text.splitlines()
            if "pip install" in line and "--upgrade pip" not in line
        ]
        assert installs and all("-c constraints.txt" in line for line in installs), path
