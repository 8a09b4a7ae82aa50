"""The instructor's side of nbgrader: generate the student labs from the solutions."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

SOURCE_DIR = "solutions"
RELEASE_DIR = "labs"
# `nbgrader`, in a process that imports this package first: its __init__ spares it 2 CPU-s of imports (3.6 s -> 1.3 s).
NBGRADER = (sys.executable, "-c", "import course_utils.instructor; from nbgrader.apps.nbgraderapp import main; main()")


def available_labs(root: Path) -> list[str]:
    """The labs of the course: one folder per lab under ``solutions/``."""
    source = root / SOURCE_DIR
    if not source.is_dir():
        raise FileNotFoundError(f"No {SOURCE_DIR}/ folder in {root}: run this from the course repository.")
    return sorted(path.name for path in source.iterdir() if path.is_dir() and any(path.glob("*.ipynb")))


def generate_assignments(root: Path, labs: Iterable[str], release_to: Path, *options: str) -> None:
    """Run ``nbgrader generate_assignment`` on each of ``labs`` of the course in ``root``, writing the student versions
    under ``release_to``; raise with nbgrader's output when it fails.

    One nbgrader process does every lab: its start-up (about 5 s of imports) is paid once, not once per lab. nbgrader
    takes one assignment id and reads it as a glob, so it is given "*" over a scratch source folder that links exactly
    ``labs``. nbgrader shells out to ``alembic``, which lives beside this Python: that folder goes first on PATH.
    """
    labs = list(labs)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    with tempfile.TemporaryDirectory(prefix="course-sources-") as sources:
        for lab in labs:
            (Path(sources) / lab).symlink_to((root / SOURCE_DIR / lab).resolve(), target_is_directory=True)
        args = [
            "generate_assignment",
            "*",
            "--force",
            f"--CourseDirectory.source_directory={sources}",
            f"--CourseDirectory.release_directory={release_to.resolve()}",
            *options,
        ]
        result = subprocess.run([*NBGRADER, *args], cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"nbgrader generate_assignment failed on {', '.join(labs)} in {root}:\n{result.stdout}\n{result.stderr}"
        )


def release(root: Path, labs: list[str] | None = None) -> list[Path]:
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` for the given labs (all by default)."""
    chosen = labs or available_labs(root)
    unknown = sorted(set(chosen) - set(available_labs(root)))
    if unknown:
        raise ValueError(f"No such lab: {', '.join(unknown)}. Labs: {', '.join(available_labs(root))}.")
    generate_assignments(root, chosen, root / RELEASE_DIR, "--no-db")
    return [root / RELEASE_DIR / lab for lab in chosen]
