"""Merge scores into nbgrader's own SQLite gradebook, so that formgrader, manual grading and `nbgrader export` see them.

Only the grading process writes the gradebook, after every submission has run: student code never has it open.
Writing is idempotent: a student, a submission and a grade are updated when they exist and created when they do not,
and a manual score an instructor gave in formgrader is kept (the cell is then flagged for review, as nbgrader does).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path

from ..release import generate_assignments
from .scoring import QuestionResult

GRADEBOOK = "gradebook.db"


def gradebook_url(path: Path) -> str:
    """The SQLAlchemy URL nbgrader opens a gradebook file with."""
    return f"sqlite:///{path.resolve()}"


def register_labs(root: Path, gradebook: Path, labs: Iterable[str]) -> None:
    """Record each lab's notebook and graded cells in the gradebook, as ``nbgrader generate_assignment`` does.

    The generated student version goes to a scratch folder: the committed ``labs/`` is left alone.
    """
    with tempfile.TemporaryDirectory(prefix="course-release-") as scratch:
        generate_assignments(root, labs, Path(scratch), f"--CourseDirectory.db_url={gradebook_url(gradebook)}")


def record_scores(gradebook: Path, results: Iterable[QuestionResult]) -> None:
    """Write every question's points as nbgrader's automatic score (the labs must be registered first)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    def by_submission(result: QuestionResult) -> tuple[str, str]:
        return result.student, result.lab

    # nbgrader's own autograde warns the same way when it creates a submission; the warnings are harmless.
    with Gradebook(gradebook_url(gradebook)) as book, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        for (student, lab), questions in groupby(sorted(results, key=by_submission), key=by_submission):
            book.update_or_create_student(student)
            book.update_or_create_submission(lab, student)
            for question in questions:
                grade = book.find_grade(question.question, lab, lab, student)
                grade.auto_score = question.points
                grade.needs_manual_grade = grade.manual_score is not None
            book.db.commit()
