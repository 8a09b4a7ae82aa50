"""The instructor's side of nbgrader: generate the student labs from the solutions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SOURCE_DIR = "solutions"
RELEASE_DIR = "labs"


def available_labs(root: Path) -> list[str]:
    """The labs of the course: one folder per lab under ``solutions/``."""
    source = root / SOURCE_DIR
    if not source.is_dir():
        raise FileNotFoundError(f"No {SOURCE_DIR}/ folder in {root}: run this from the course repository.")
    return sorted(path.name for path in source.iterdir() if path.is_dir() and any(path.glob("*.ipynb")))


def run_nbgrader(args: list[str], course_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run an nbgrader command in ``course_dir``; raise with its output when it fails.

    nbgrader shells out to ``alembic``, which lives beside this Python: put that folder first on PATH.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course_dir}:\n{result.stdout}\n{result.stderr}")
    return result


def release(root: Path, labs: list[str] | None = None) -> list[Path]:
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` for the given labs (all by default)."""
    chosen = labs or available_labs(root)
    unknown = sorted(set(chosen) - set(available_labs(root)))
    if unknown:
        raise ValueError(f"No such lab: {', '.join(unknown)}. Labs: {', '.join(available_labs(root))}.")
    for lab in chosen:
        run_nbgrader(["generate_assignment", lab, "--force", "--no-db"], root)
    return [root / RELEASE_DIR / lab for lab in chosen]
