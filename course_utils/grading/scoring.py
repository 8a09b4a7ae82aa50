"""Score an executed submission, question by question, with the reason for every lost point; export as CSV.

A test cell earns its points when it ran and raised nothing. Unlike nbgrader, text on stderr (a library warning, a
progress bar) does not cost anything: only an error does. Reasons name the error, never the hidden test's code.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from nbformat import NotebookNode

from .repair import grading_info, is_test

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"


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
        else:
            results.append(QuestionResult(student, lab, question, max_points, max_points, PASSED, ""))
    return results


def write_question_csv(results: Iterable[QuestionResult], path: Path) -> None:
    """One row per student, lab and question: points, max points, status and reason."""
    rows = [asdict(result) for result in results]
    _write(path, [field.name for field in fields(QuestionResult)], rows)


def write_totals_csv(results: Iterable[QuestionResult], path: Path) -> None:
    """One row per student and lab: points and max points summed over its questions."""
    totals: dict[tuple[str, str], list[float]] = {}
    for result in results:
        total = totals.setdefault((result.student, result.lab), [0.0, 0.0])
        total[0] += result.points
        total[1] += result.max_points
    rows = [
        {"student": student, "lab": lab, "points": points, "max_points": max_points}
        for (student, lab), (points, max_points) in sorted(totals.items())
    ]
    _write(path, ["student", "lab", "points", "max_points"], rows)


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
