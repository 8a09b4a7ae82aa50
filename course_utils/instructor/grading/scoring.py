"""Score an executed submission, question by question, with the reason for every lost point.

A test cell earns its points when its checks passed; they ran apart from the student's kernel (``worker.py``), so
nothing the kernel replies, prints or patches counts. Unlike nbgrader, text on stderr (a library warning, a progress
bar) costs nothing. Reasons name the failed check's error, never the hidden test's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbformat import NotebookNode

from .cells import CellRecord, RunStatus, grading_info, is_test
from .repair import Repair

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"
INTERRUPTED = "interrupted: the cell ran past its time limit"


@dataclass(frozen=True)
class QuestionResult:
    """One graded cell of one student's lab."""

    student: str
    lab: str
    question: str
    points: float
    max_points: float
    status: str  # passed, failed or not run
    reason: str


@dataclass(frozen=True)
class GradedLab:
    """One student's lab, graded: each question's result, what was repaired, how the run ended."""

    student: str
    lab: str
    results: list[QuestionResult]
    repairs: list[Repair]
    status: RunStatus  # how the sandboxed run ended
    detail: str = ""  # why it ended early, when it did
    seconds: float = 0.0  # how long it ran
    check_seconds: float = 0.0  # of ``seconds``, waiting for the checks apart from the kernel
    origin: str = ""  # the file's name as it arrived (an LMS's feedback upload matches on it)
    fingerprint: str = ""  # of what was graded: the file, the lab, the limits (``grade.py``: what a rerun skips)

    @property
    def points(self) -> float:
        return sum(result.points for result in self.results)

    @property
    def max_points(self) -> float:
        return sum(result.max_points for result in self.results)


def score(
    graded: NotebookNode,
    cells: dict[int, CellRecord],
    student: str,
    lab: str,
    run_note: str = "",
) -> list[QuestionResult]:
    """Every test cell of ``graded`` (the repaired notebook) scored from its checks' verdicts in ``cells`` (what the
    worker recorded of each cell, by index).

    ``run_note`` says why a run stopped early (a dead kernel, the wall time); it becomes the reason of the cells
    that never ran.
    """
    results = []
    for index, cell in enumerate(graded.cells):
        if not is_test(cell):
            continue
        info = grading_info(cell)
        question = {"student": student, "lab": lab, "question": info["grade_id"]}
        max_points = float(info.get("points", 0))
        check = cells.get(index, CellRecord()).check
        if check is None:
            points, status, reason = 0.0, NOT_RUN, run_note or "not executed"
        elif check == "":
            points, status, reason = max_points, PASSED, ""
        else:
            points, status, reason = 0.0, FAILED, verdict(check)
        results.append(QuestionResult(**question, points=points, max_points=max_points, status=status, reason=reason))
    return results


def verdict(check: str) -> str:
    """Why a test cell failed, cut short."""
    return INTERRUPTED if check.startswith("KeyboardInterrupt") else check[:300]
