"""Score an executed submission, question by question, with the reason for every lost point.

A test cell earns its points when it ran and raised nothing (or, as in nbgrader, the number it evaluates to when that
is less: partial credit). Unlike nbgrader, text on stderr (a library warning, a progress bar) costs nothing: only an
error does. Reasons name the error, never the hidden test's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbformat import NotebookNode

from .cells import RunStatus, grading_info, is_test
from .repair import Repair

PASSED, PARTIAL, FAILED, NOT_RUN = "passed", "partial", "failed", "not run"


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

    @property
    def points(self) -> float:
        return sum(result.points for result in self.results)

    @property
    def max_points(self) -> float:
        return sum(result.max_points for result in self.results)


def score(
    graded: NotebookNode, executed: NotebookNode | None, student: str, lab: str, run_note: str = ""
) -> list[QuestionResult]:
    """Every test cell of ``graded`` (the repaired notebook) scored from ``executed`` (its run, possibly partial).

    ``run_note`` says why a run stopped early (a dead kernel, the wall time); it becomes the reason of the cells
    that never ran.
    """
    ran = {grading_info(cell).get("grade_id"): cell for cell in (executed.cells if executed else [])}
    results = []
    for cell in graded.cells:
        if not is_test(cell):
            continue
        info = grading_info(cell)
        question, max_points = info["grade_id"], float(info.get("points", 0))
        outcome = ran.get(question)
        if outcome is None or outcome.get("execution_count") is None:
            results.append(QuestionResult(student, lab, question, 0.0, max_points, NOT_RUN, run_note or "not executed"))
            continue
        errors = [output for output in outcome.get("outputs", []) if output.get("output_type") == "error"]
        if errors:
            name = errors[0].get("ename", "Error")
            reason = f"{name}: {errors[0].get('evalue', '')}".strip().rstrip(":")
            if name == "KeyboardInterrupt":  # the sandbox interrupts a cell that outlives its time limit
                reason = "interrupted: the cell ran past its time limit"
            results.append(QuestionResult(student, lab, question, 0.0, max_points, FAILED, reason[:300]))
        elif (credit := partial_credit(outcome, max_points)) is not None:
            reason = f"partial credit: the test gave {credit:g} of {max_points:g}"
            results.append(QuestionResult(student, lab, question, credit, max_points, PARTIAL, reason))
        else:
            results.append(QuestionResult(student, lab, question, max_points, max_points, PASSED, ""))
    return results


def partial_credit(cell: NotebookNode, max_points: float) -> float | None:
    """nbgrader's partial credit: a test cell whose value is a number from 0 to below its points earns that number."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "execute_result":
            try:
                value = float("".join(output.get("data", {}).get("text/plain", "")))
            except ValueError:
                return None
            return value if 0 <= value < max_points else None
    return None
