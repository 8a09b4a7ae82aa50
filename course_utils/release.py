"""The instructor's side of nbgrader: generate the student labs from the solutions, and autograde notebooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
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


@dataclass(frozen=True)
class CellGrade:
    """The score of one graded cell of one student's lab."""

    student: str
    lab: str
    cell: str
    score: float
    max_score: float


def new_course_dir(root: Path, course_dir: Path, labs: list[str]) -> None:
    """A scratch nbgrader course: our config and the labs' sources, with the labs generated into its gradebook."""
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / CONFIG_FILE, course_dir / CONFIG_FILE)
    for lab in labs:
        shutil.copytree(root / SOURCE_DIR / lab, course_dir / SOURCE_DIR / lab, dirs_exist_ok=True)
        run_nbgrader(["generate_assignment", lab, "--force"], course_dir)


def autograde(root: Path, submissions: dict[str, dict[str, Path]], course_dir: Path) -> list[CellGrade]:
    """Autograde notebooks with nbgrader in a scratch course folder and return every graded cell's score.

    ``submissions`` maps a student id to ``{lab: notebook path}``. Each notebook is copied into the course's
    ``submitted/`` folder under the lab's own notebook name, as nbgrader expects.
    """
    labs = sorted({lab for by_lab in submissions.values() for lab in by_lab})
    new_course_dir(root, course_dir, labs)
    for student, by_lab in submissions.items():
        for lab, notebook in by_lab.items():
            target = course_dir / "submitted" / student / lab
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(notebook, target / f"{lab}.ipynb")
    for lab in labs:
        run_nbgrader(["autograde", lab, "--force"], course_dir)
    return read_grades(course_dir, submissions)


def read_grades(course_dir: Path, submissions: dict[str, dict[str, Path]]) -> list[CellGrade]:
    """Every graded cell's score from the course's gradebook."""
    from nbgrader.api import Gradebook

    grades = []
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        for student, by_lab in submissions.items():
            for lab in by_lab:
                notebook = gradebook.find_submission_notebook(lab, lab, student)
                for grade in sorted(notebook.grades, key=lambda grade: grade.cell.name):
                    grades.append(CellGrade(student, lab, grade.cell.name, grade.score, grade.max_score))
    return grades
