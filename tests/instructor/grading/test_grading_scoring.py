from nbformat.v4 import new_code_cell, new_notebook

from course_utils.instructor.grading.cells import CellRecord
from course_utils.instructor.grading.scoring import QuestionResult, score
from course_utils.instructor.grading.worker import UNCHECKED


def graded_cell(grade_id: str, points: float, test: bool = True):
    cell = new_code_cell("assert True")
    cell.metadata["nbgrader"] = {"grade": test, "solution": not test, "grade_id": grade_id, "points": points}
    return cell


def graded_notebook():
    return new_notebook(
        cells=[graded_cell("answer", 0, test=False), graded_cell("q1", 2), graded_cell("q2", 3), graded_cell("q3", 1)]
    )


def records(**by_question: CellRecord) -> dict[int, CellRecord]:
    """The worker's records by cell index (q1 is cell 1, q2 cell 2, q3 cell 3)."""
    return {int(question[1:]): record for question, record in by_question.items()}


def test_the_checks_verdict_alone_decides_not_the_kernels_reply():
    """A kernel may reply ok to a cell whose check failed (a swallowed error), or error to one whose check passed."""
    notebook = graded_notebook()
    cells = records(
        q1=CellRecord(reply="error", error="SystemExit: forged", check=""),
        q2=CellRecord(reply="ok", check="AssertionError: BLEU did not improve"),
        q3=CellRecord(reply="ok", check=UNCHECKED),
    )
    assert score(notebook, cells, "ann", "lab1") == [
        QuestionResult("ann", "lab1", "q1", 2.0, 2.0, "passed", ""),
        QuestionResult("ann", "lab1", "q2", 0.0, 3.0, "failed", "AssertionError: BLEU did not improve"),
        QuestionResult("ann", "lab1", "q3", 0.0, 1.0, "failed", UNCHECKED),
    ]


def test_a_cell_interrupted_at_its_time_limit_says_so_and_long_reasons_are_cut():
    notebook = graded_notebook()
    cells = records(q1=CellRecord(check="KeyboardInterrupt: "), q2=CellRecord(check="ValueError: " + "x" * 500))
    results = score(notebook, cells, "ann", "lab1")
    assert results[0].reason == "interrupted: the cell ran past its time limit"
    assert len(results[1].reason) == 300 and results[1].reason.startswith("ValueError: xxx")


def test_cells_a_dead_kernel_never_reached_are_not_run_with_the_reason():
    notebook = graded_notebook()
    results = score(notebook, records(q1=CellRecord(reply="ok", check="")), "bob", "lab2", run_note="kernel died")
    assert [(r.question, r.points, r.status, r.reason) for r in results] == [
        ("q1", 2.0, "passed", ""),
        ("q2", 0.0, "not run", "kernel died"),
        ("q3", 0.0, "not run", "kernel died"),
    ]
    assert all(r.status == "not run" for r in score(notebook, {}, "bob", "lab2", "timeout"))
