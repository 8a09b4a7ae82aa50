"""Score an executed submission, question by question, with the reason for every lost point.

A test cell earns its points when the kernel's execute reply says it ran without error, no error was printed, and
the grader's integrity checks around it found nothing (or, as in nbgrader, the number the cell evaluates to when that
is less: partial credit). What the checks find scores the cell 0 with the reason ``tampering: ...`` (the interpreter
or a library was not the stock one) or ``delegation: ...`` (the function tested was the package's reference, not the
student's). Unlike nbgrader, text on stderr (a library warning, a progress bar) costs nothing: only an error does.
Reasons name the error, never the hidden test's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nbformat import NotebookNode

from .cells import CellRecord, RunStatus, grading_info, is_test
from .repair import Repair

PASSED, PARTIAL, FAILED, NOT_RUN = "passed", "partial", "failed", "not run"
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
    flags: list[str] = field(default_factory=list)  # the tampering found, for the instructor to look at
    check_seconds: float = 0.0  # of ``seconds``, waiting for the checks apart from the kernel

    @property
    def points(self) -> float:
        return sum(result.points for result in self.results)

    @property
    def max_points(self) -> float:
        return sum(result.max_points for result in self.results)


def score(
    graded: NotebookNode,
    executed: NotebookNode | None,
    cells: dict[int, CellRecord],
    student: str,
    lab: str,
    run_note: str = "",
) -> list[QuestionResult]:
    """Every test cell of ``graded`` (the repaired notebook) scored from its run: ``executed`` (the notebook with its
    outputs, possibly partial) and ``cells`` (what the worker recorded of each cell, by index).

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
        record = cells.get(index, CellRecord())
        outcome = executed.cells[index] if executed is not None and index < len(executed.cells) else cell
        errors = [output for output in outcome.get("outputs", []) if output.get("output_type") == "error"]
        if record.reply is None and record.check is None:
            points, status, reason = 0.0, NOT_RUN, run_note or "not executed"
        elif record.tampering:  # the grader's findings, in full (each names what it found in a few words)
            points, status, reason = 0.0, FAILED, "tampering: " + "; ".join(f[:200] for f in record.tampering)
        elif record.delegation:
            points, status, reason = 0.0, FAILED, "delegation: " + "; ".join(f[:200] for f in record.delegation)
        elif record.check is not None:  # checked apart from the kernel: the checks' verdict alone
            passed = record.check == ""
            points, status, reason = (max_points, PASSED, "") if passed else (0.0, FAILED, verdict(record.check))
        elif errors or record.reply != "ok":  # the student's error message: cut short
            points, status, reason = 0.0, FAILED, failure(errors[0] if errors else None, record)[:300]
        elif (credit := partial_credit(outcome, max_points)) is not None:
            points, status, reason = credit, PARTIAL, f"partial credit: the test gave {credit:g} of {max_points:g}"
        else:
            points, status, reason = max_points, PASSED, ""
        results.append(QuestionResult(**question, points=points, max_points=max_points, status=status, reason=reason))
    return results


def failure(error: dict | None, record: CellRecord) -> str:
    """Why a test cell failed: its printed error, else the execute reply's (a kernel that hid the error still says)."""
    text = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}" if error else record.error or "Error"
    if text.startswith("KeyboardInterrupt"):  # the sandbox interrupts a cell that outlives its time limit
        return INTERRUPTED
    if "delegation: " in text:  # a reference implementation raised: its message is the reason
        return text[text.index("delegation: ") :]
    return text.strip().rstrip(":")


def verdict(check: str) -> str:
    """Why a checked cell failed, cut short (a reference that raised says so itself)."""
    if check.startswith("KeyboardInterrupt"):
        return INTERRUPTED
    return (check[check.index("delegation: ") :] if "delegation: " in check else check)[:300]


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
