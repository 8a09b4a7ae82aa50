"""Grades and feedback back into Canvas and Moodle: roster files in the formats those LMSs export, submissions named as
their downloads name them, and the files written for their imports read back column by column."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from course_utils.cli import main
from course_utils.instructor.grading.cells import RunStatus
from course_utils.instructor.grading.exports import write_results
from course_utils.instructor.grading.lms import (
    SUBMISSION_PATTERNS,
    canvas_user,
    export_canvas,
    export_moodle,
    moodle_folder,
)
from course_utils.instructor.grading.scoring import GradedLab, QuestionResult
from course_utils.instructor.grading.submissions import collect

LAB, OTHER = "lab1_instruction_tuning", "lab2_reward_modeling"
# Canvas's gradebook export: the student columns, an assignment with its id, the read-only totals, the points row.
CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (4321),Current Score,Final Score
    Points Possible,,,,,14,(read only),(read only)
"Doe, Jane",123,s-001,jdoe,Morning,,,
"Roe, Rick",124,s-002,rroe,Morning,,,
"Moe, Amy",125,s-003,amoe,Evening,,,
"""
# Moodle's grade export (plain text file): the user fields, a grade item, the download time.
MOODLE_ROSTER = """First name,Last name,ID number,Institution,Department,Email address,\
Assignment: Lab 1 (Real),Last downloaded from this course
Jane,Doe,1001,Uni,CS,jane@uni.edu,-,1765000000
Sam,Lee,1002,Uni,CS,sam.lee@uni.edu,-,1765000000
Sam,Lee,1003,Uni,Maths,sam.lee2@uni.edu,-,1765000000
Omar,Haddad,1004,Uni,CS,omar@uni.edu,-,1765000000
"""


def graded_lab(student: str, lab: str, points: float, origin: str) -> GradedLab:
    results = [QuestionResult(student, lab, "q1", points, 14.0, "passed" if points else "failed", "")]
    return GradedLab(student, lab, results, [], RunStatus.OK, origin=origin)


def downloaded_class(folder: Path, lms: str, roster: str, points: dict[str, float]) -> tuple[Path, list, Path]:
    """An LMS's download zip of the files ``points`` names, collected with its pattern, each notebook graded its
    points: the results and a feedback page saved as ``course grade`` saves them. (course folder, graded, roster)"""
    (folder / "roster.csv").write_text(roster)
    download, course_dir = folder / f"{lms}.zip", folder / "course"
    with zipfile.ZipFile(download, "w") as archive:
        for name in points:
            archive.writestr(name, "{}")
    found = collect(download, [LAB, OTHER], course_dir / "submitted", SUBMISSION_PATTERNS[lms])
    assert found.unknown == [] and found.duplicates == {}
    graded = []
    for submission in found.submissions:
        lab = graded_lab(submission.student, submission.lab, points[submission.origin], submission.origin)
        write_results(lab, course_dir / "autograded" / lab.student / lab.lab)
        page = course_dir / "feedback" / lab.student / lab.lab / f"{lab.lab}.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"feedback for {lab.student}")
        graded.append(lab)
    return course_dir, graded, folder / "roster.csv"


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def zipped(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


@pytest.fixture
def canvas(tmp_path):
    """A Canvas class: Jane on time, Rick late and resubmitted, a user the roster lacks; Amy handed nothing in."""
    files = {f"doejane_123_9001_{LAB}.ipynb": 14.0, f"roerick_LATE_124_9002_{LAB}-1.ipynb": 3.5}
    return downloaded_class(tmp_path, "canvas", CANVAS_ROSTER, files | {f"gonegus_999_9003_{LAB}.ipynb": 7.0})


def test_canvas_submissions_are_keyed_by_the_user_id_in_their_names(canvas):
    _, graded, _ = canvas
    assert sorted((lab.student, lab.origin) for lab in graded) == [
        ("123", f"doejane_123_9001_{LAB}.ipynb"),
        ("124", f"roerick_LATE_124_9002_{LAB}-1.ipynb"),
        ("999", f"gonegus_999_9003_{LAB}.ipynb"),
    ]


def test_canvas_grades_fill_the_assignment_column_of_the_gradebook_export(canvas):
    course_dir, graded, roster = canvas
    written = export_canvas(course_dir, graded, roster, missing="zero", columns={LAB: "Lab 1 (4321)"})
    rows = read_csv(written.grades)
    # The student columns as exported, then the lab's assignment; the totals (read-only in Canvas) left out.
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 1 (4321)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "14"]
    assert rows[2:] == [
        ["Doe, Jane", "123", "s-001", "jdoe", "Morning", "14"],
        ["Roe, Rick", "124", "s-002", "rroe", "Morning", "3.5"],
        ["Moe, Amy", "125", "s-003", "amoe", "Evening", "0"],  # nothing handed in: 0, as chosen
    ]
    assert written.report("zero") == [
        "Graded but not in the roster (left out): 999",
        f"{LAB}: 1 roster students handed nothing in (zero): Moe, Amy",
    ]


def test_a_lab_without_a_canvas_column_becomes_a_new_assignment_and_blanks_stay_blank(canvas):
    course_dir, graded, roster = canvas
    written = export_canvas(course_dir, graded, roster)
    rows = read_csv(written.grades)
    assert rows[0][-1] == LAB  # no "(id)": Canvas creates the assignment, with the points of the row below
    assert [row[-1] for row in rows[1:]] == ["14", "14", "3.5", ""]


def test_canvas_feedback_zip_uses_the_downloaded_names_canvas_reads_the_user_from(canvas):
    course_dir, graded, roster = canvas
    [archive] = export_canvas(course_dir, graded, roster).feedback
    assert archive.name == f"canvas_feedback_{LAB}.zip"
    pages = zipped(archive)
    assert pages == {
        f"doejane_123_9001_{LAB}.html": "feedback for 123",
        f"roerick_LATE_124_9002_{LAB}-1.html": "feedback for 124",
    }  # the user missing from the roster gets no page
    assert [canvas_user(name) for name in sorted(pages)] == ["123", "124"]


def test_a_file_not_named_by_canvas_is_reported_not_matched(tmp_path):
    (tmp_path / "roster.csv").write_text(CANVAS_ROSTER)
    lab = graded_lab("jdoe", LAB, 14.0, f"jdoe_{LAB}.ipynb")
    written = export_canvas(tmp_path, [lab], tmp_path / "roster.csv")
    assert written.unnamed == [f"jdoe_{LAB}.ipynb"]
    assert zipped(written.feedback[0]) == {}


@pytest.fixture
def moodle(tmp_path):
    """A Moodle class downloaded in folders: Jane, one of two Sam Lees, and someone the roster lacks."""
    folders = {"Jane Doe_501": 12.0, "Sam Lee_502": 9.0, "Ada Byron_503": 1.0}
    files = {f"{folder}_assignsubmission_file/{LAB}.ipynb": points for folder, points in folders.items()}
    return downloaded_class(tmp_path, "moodle", MOODLE_ROSTER, files)


def test_moodle_grades_are_keyed_by_the_chosen_user_field(moodle):
    course_dir, graded, roster = moodle
    assert sorted(lab.student for lab in graded) == ["501", "502", "503"]  # the participant ids
    written = export_moodle(course_dir, graded, roster, key="ID number")
    assert read_csv(written.grades) == [
        ["ID number", LAB],
        ["1001", "12"],
        ["1004", ""],  # Omar handed nothing in: blank, the default
    ]
    assert written.report("blank") == [
        "Graded but not in the roster (left out): Ada Byron",
        "A name several roster students share (not graded there): Sam Lee",
        f"{LAB}: 1 roster students handed nothing in (blank): Omar Haddad",
    ]


def test_moodle_feedback_zip_has_a_folder_per_participant_as_downloaded(moodle):
    course_dir, graded, roster = moodle
    [archive] = export_moodle(course_dir, graded, roster).feedback
    pages = zipped(archive)
    assert pages == {f"Jane Doe_501_assignsubmission_file/{LAB}.html": "feedback for 501"}
    assert moodle_folder(next(iter(pages)))["participant"] == "501"


def test_moodle_needs_the_key_column_in_the_roster(moodle):
    course_dir, graded, roster = moodle
    with pytest.raises(ValueError, match="with the column 'Username'"):
        export_moodle(course_dir, graded, roster, key="Username")


def test_course_export_writes_the_files_and_reports_in_one_line_each(canvas, capsys):
    course_dir, _, roster = canvas
    status = main(["export", "--lms", "canvas", "--roster", str(roster), "--course-dir", str(course_dir)])
    printed = capsys.readouterr().out.splitlines()
    assert status == 0
    assert printed == [
        "Graded but not in the roster (left out): 999",
        f"{LAB}: 1 roster students handed nothing in (blank): Moe, Amy",
        f"Grades to import: {course_dir / 'exports' / 'canvas_grades.csv'}",
        f"Feedback to upload: {course_dir / 'exports' / f'canvas_feedback_{LAB}.zip'}",
    ]


def test_course_export_says_what_is_wrong_in_one_line(canvas, capsys):
    course_dir, _, roster = canvas
    status = main(["export", "--lms", "moodle", "--roster", str(roster), "--course-dir", str(course_dir)])
    assert status == 1
    assert capsys.readouterr().err == (
        f"course export: {roster} is not a Moodle grade export with the column 'Email address' "
        "(First name, Last name, ...).\n"
    )
    status = main(["export", "--lms", "canvas", "--roster", str(roster), "--column", "lab9=Lab 9"])
    assert status == 1
    assert "course export: No graded notebook in" in capsys.readouterr().err


def test_an_excel_saved_roster_with_a_byte_order_mark_reads_the_same(canvas):
    course_dir, graded, roster = canvas
    plain = read_csv(export_canvas(course_dir, graded, roster).grades)
    roster.write_bytes(b"\xef\xbb\xbf" + roster.read_bytes())
    assert read_csv(export_canvas(course_dir, graded, roster).grades) == plain
