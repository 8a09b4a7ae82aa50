from nbformat.v4 import new_code_cell, new_notebook, new_output

from course_utils.instructor.grading.cells import CellRecord
from course_utils.instructor.grading.scoring import QuestionResult, score


def graded_cell(grade_id: str, points: float, test: bool = True):
    cell = new_code_cell("assert True")
    cell.metadata["nbgrader"] = {"grade": test, "solution": not test, "grade_id": grade_id, "points": points}
    return cell


def graded_notebook():
    return new_notebook(
        cells=[graded_cell("answer", 0, test=False), graded_cell("q1", 2), graded_cell("q2", 3), graded_cell("q3", 1)]
    )


def run_of(notebook, outputs_by_question, executed=("q1", "q2", "q3"), **records):
    """The executed notebook and the worker's records: every cell in ``executed`` replied ok, unless ``records``
    (by question) says otherwise."""
    run = new_notebook(cells=[cell.copy() for cell in notebook.cells])
    cells = {}
    for index, cell in enumerate(run.cells):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id in executed:
            cell.outputs = outputs_by_question.get(grade_id, [])
            errors = [output for output in cell.outputs if output.output_type == "error"]
            cells[index] = records.get(grade_id, CellRecord(reply="error" if errors else "ok"))
    return run, cells


def test_stderr_does_not_cost_points_and_errors_do():
    notebook = graded_notebook()
    run, cells = run_of(
        notebook,
        {
            "q1": [new_output("stream", name="stderr", text="FutureWarning: something deprecated\n")],
            "q2": [new_output("error", ename="AssertionError", evalue="BLEU did not improve", traceback=[])],
            "q3": [new_output("stream", name="stdout", text="ok\n")],
        },
    )
    assert score(notebook, run, cells, "ann", "lab1") == [
        QuestionResult("ann", "lab1", "q1", 2.0, 2.0, "passed", ""),
        QuestionResult("ann", "lab1", "q2", 0.0, 3.0, "failed", "AssertionError: BLEU did not improve"),
        QuestionResult("ann", "lab1", "q3", 1.0, 1.0, "passed", ""),
    ]


def test_a_hidden_assert_is_named_without_its_code():
    notebook = graded_notebook()
    run, cells = run_of(
        notebook, {"q1": [new_output("error", ename="AssertionError", evalue="", traceback=["secret line"])]}
    )
    assert score(notebook, run, cells, "ann", "lab1")[0].reason == "AssertionError"


def test_a_cell_interrupted_at_its_time_limit_says_so():
    notebook = graded_notebook()
    run, cells = run_of(notebook, {"q2": [new_output("error", ename="KeyboardInterrupt", evalue="", traceback=[])]})
    assert score(notebook, run, cells, "ann", "lab1")[1].reason == "interrupted: the cell ran past its time limit"


def test_cells_a_dead_kernel_never_reached_are_not_run_with_the_reason():
    notebook = graded_notebook()
    run, cells = run_of(notebook, {}, executed=("q1",))
    results = score(notebook, run, cells, "bob", "lab2", run_note="kernel died")
    assert [(r.question, r.points, r.status, r.reason) for r in results] == [
        ("q1", 2.0, "passed", ""),
        ("q2", 0.0, "not run", "kernel died"),
        ("q3", 0.0, "not run", "kernel died"),
    ]
    assert all(r.status == "not run" for r in score(notebook, None, {}, "bob", "lab2", "timeout"))


def value(text: str) -> list:
    """The outputs of a cell that evaluates to ``text``."""
    return [new_output("execute_result", data={"text/plain": text}, execution_count=1)]


def test_a_number_below_the_points_is_partial_credit_as_in_nbgrader():
    notebook = graded_notebook()
    run, cells = run_of(notebook, {"q1": value("0.5"), "q2": value("3"), "q3": value("'a string'")})
    assert [(r.points, r.status, r.reason) for r in score(notebook, run, cells, "ann", "lab1")] == [
        (0.5, "partial", "partial credit: the test gave 0.5 of 2"),
        (3.0, "passed", ""),
        (1.0, "passed", ""),
    ]


def test_an_error_the_kernel_did_not_print_still_fails_from_the_execute_reply():
    """A replaced showtraceback or a custom exception handler prints nothing; the execute reply still says error."""
    notebook = graded_notebook()
    run, cells = run_of(notebook, {}, q2=CellRecord(reply="error", error="AssertionError: wrong"))
    assert [(r.points, r.status, r.reason) for r in score(notebook, run, cells, "ann", "lab1")] == [
        (2.0, "passed", ""),
        (0.0, "failed", "AssertionError: wrong"),
        (1.0, "passed", ""),
    ]


def test_tampering_and_delegation_score_zero_with_what_was_found():
    notebook = graded_notebook()
    run, cells = run_of(
        notebook,
        {
            "q3": [
                new_output("error", ename="NotImplementedError", evalue="delegation: f is the package's", traceback=[])
            ]
        },
        q1=CellRecord(reply="ok", tampering=["builtins.abs was replaced", "torch.allclose runs notebook code"]),
        q2=CellRecord(reply="ok", delegation=["f calls the package's course_utils.m.f"]),
    )
    assert [(r.points, r.status, r.reason) for r in score(notebook, run, cells, "ann", "lab1")] == [
        (0.0, "failed", "tampering: builtins.abs was replaced; torch.allclose runs notebook code"),
        (0.0, "failed", "delegation: f calls the package's course_utils.m.f"),
        (0.0, "failed", "delegation: f is the package's"),
    ]
