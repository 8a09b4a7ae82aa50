"""Print pip constraints that pin every dependency of the course at the lowest version pyproject.toml admits.

    python scripts/lowest_versions.py > lowest.txt && pip install -c lowest.txt ".[instructor]"

Only our direct dependencies are pinned (the base install and the ``instructor`` extra); pip chooses the rest.
torch is left out: its lowest version has no CPU-only wheel on this machine's package index (see
scripts/check_lowest.sh).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
NOT_PINNED = {"torch"}


# "name[extra]>=1.2,<2": the name, then the version clauses (the stdlib alone, to run before anything is installed).
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[[^]]*\])?\s*([^;]*)")
LOWER = re.compile(r"(?:>=|==)\s*([^,\s]+)")


def lower_bound(requirement: str) -> tuple[str, str | None]:
    """The name and the version of the ``>=`` (or ``==``) clause of ``requirement``: the lowest it admits, or None."""
    name, clauses = REQUIREMENT.match(requirement).groups()
    found = LOWER.search(clauses)
    return name, found.group(1) if found else None


def lowest_constraints(pyproject: Path = PYPROJECT, extras: tuple[str, ...] = ("instructor",)) -> list[str]:
    """``name==version`` for each dependency with a lower bound; raises for one without (its lowest is unknown)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    pins = []
    for requirement in texts:
        name, version = lower_bound(requirement)
        if name in NOT_PINNED:
            continue
        if version is None:
            raise ValueError(f"{requirement} has no lower bound in {pyproject.name}: the lowest version is untested.")
        pins.append(f"{name}=={version}")
    return pins


if __name__ == "__main__":
    sys.stdout.write("".join(f"{pin}\n" for pin in lowest_constraints()))
