"""`course grade` as a command: what it prints, and an exit status that is 1 only when grading itself broke."""

import os
from pathlib import Path

import nbformat
from conftest import ROOT
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.cli import build_parser, main
from course_utils.instructor.grading.cells import RunStatus
from course_utils.instructor.grading.grade import ClassGrades, GradeConfig, format_summary
from course_utils.instructor.grading.limits import default_workers
from course_utils.instructor.grading.repair import Repair
from course_utils.instructor.grading.scoring import GradedLab, QuestionResult
from course_utils.instructor.grading.submissions import Collection


def test_summary_lists_every_lab_then_what_was_not_graded():
    lab = GradedLab(
        "ann",
        "lab1",
        [QuestionResult("ann", "lab1", "q1", 1.0, 3.0, "failed", "x")],
        [Repair("q1", "restored a deleted test cell")],
        RunStatus.KERNEL_DIED,
        "the kernel died",
        12.4,
    )
    solved = GradedLab(
        "cy", "lab1", [QuestionResult("cy", "lab1", "q1", 3.0, 3.0, "passed", "")], [], RunStatus.OK, seconds=9.0
    )
    duplicates, refused = {("bob", "lab1"): ["a.ipynb", "b.ipynb"]}, {"d.ipynb": "a symbolic link"}
    collection = Collection([], ["notes.pdf"], duplicates, refused)
    text = format_summary(ClassGrades(collection, [lab, solved], isolated=False), Path("/course"))
    lines = text.splitlines()
    assert lines[:4] == [
        "student | lab  | score | run         | time | repairs",
        "--------+------+-------+-------------+------+--------",
        "ann     | lab1 | 1 / 3 | kernel died | 12 s | 1",
        "cy      | lab1 | 3 / 3 | ok          | 9 s  | 0",
    ]
    assert "Not graded, the file name does not match the pattern: notes.pdf" in lines
    assert "Not graded, several files for bob and lab1: a.ipynb, b.ipynb" in lines
    assert "Not graded, refused: d.ipynb (a symbolic link)" in lines
    assert any(line.startswith("Warning: no user namespaces") for line in lines)
    assert "Gradebook: /course/gradebook.db" in lines


def test_an_unknown_lab_is_an_error(tmp_path, capsys):
    status = main(["--root", str(ROOT), "grade", str(tmp_path), "--labs", "lab9", "--course-dir", str(tmp_path / "c")])
    assert status == 1
    assert "No such lab: lab9" in capsys.readouterr().err


def test_a_folder_with_no_submission_is_an_error(tmp_path, capsys):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "Untitled.ipynb").write_text("{}")
    status = main(["--root", str(ROOT), "grade", str(tmp_path / "inbox"), "--course-dir", str(tmp_path / "c")])
    captured = capsys.readouterr()
    assert status == 1
    assert "Untitled.ipynb" in captured.out and "no submission found" in captured.err


def test_by_default_one_more_submission_runs_than_there_are_cores():
    # a notebook waiting out a limit or starting its kernel leaves its core to the extra ones: 16 cores, 18 at a time
    assert default_workers(16) == 18
    assert build_parser().parse_args(["grade", "inbox"]).workers == (os.cpu_count() or 1) + 2
    assert GradeConfig(Path("course")).workers == (os.cpu_count() or 1) + 2


def test_a_limit_that_is_not_positive_is_refused_in_one_line(tmp_path, capsys):
    status = main(["--root", str(ROOT), "grade", str(tmp_path), "--disk-mb", "0", "--course-dir", str(tmp_path / "c")])
    assert (status, capsys.readouterr().err) == (1, "course grade: disk-mb must be positive, not 0.\n")


def test_a_lab_with_a_test_cell_that_has_no_check_is_refused_in_one_line(tmp_path, capsys):
    """Such a cell's verdict could only be the student's kernel's word: nothing is graded, and the cell is named."""
    test = new_code_cell("assert answer() == 42")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_answer", "points": 1}
    for folder in ("solutions", "labs"):
        (tmp_path / folder / "quiz").mkdir(parents=True)
        nbformat.write(new_notebook(cells=[test]), tmp_path / folder / "quiz" / "quiz.ipynb")
    (tmp_path / "inbox").mkdir()
    status = main(["--root", str(tmp_path), "grade", str(tmp_path / "inbox"), "--course-dir", str(tmp_path / "c")])
    assert (status, capsys.readouterr().err) == (
        1,
        "course grade: Every test cell must say where its check begins (a ### CHECK line): a verdict cannot come from"
        " the student's kernel. Without one: quiz: test_answer.\n",
    )
    assert not (tmp_path / "c").exists()
