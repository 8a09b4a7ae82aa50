"""Scores go into nbgrader's own gradebook, idempotently, and never over an instructor's manual score."""

import sqlite3
from pathlib import Path

from conftest import ROOT
from nbgrader.api import Gradebook

from course_utils.instructor.grading.gradebook import gradebook_url, record_scores, register_labs
from course_utils.instructor.grading.scoring import QuestionResult

LAB = "lab2_reward_modeling"


def results(points: float) -> list[QuestionResult]:
    return [
        QuestionResult("ann", LAB, "test_format_conversation", 1.0, 1.0, "passed", ""),
        QuestionResult("ann", LAB, "test_reward_scores", points, 1.0, "failed" if points == 0 else "passed", ""),
    ]


def rows(database: Path) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT * FROM grade ORDER BY id").fetchall()


def test_recording_twice_changes_nothing_and_a_manual_score_is_kept(tmp_path):
    database = tmp_path / "gradebook.db"
    released = ROOT / "labs" / LAB / f"{LAB}.ipynb"
    stamp = released.stat().st_mtime_ns
    register_labs(ROOT, database, [LAB])
    assert released.stat().st_mtime_ns == stamp  # the committed release is left alone
    record_scores(database, results(0.0))
    first = rows(database)
    record_scores(database, results(0.0))
    assert rows(database) == first
    with Gradebook(gradebook_url(database)) as book:
        assert book.find_submission(LAB, "ann").score == 1.0
        grade = book.find_grade("test_reward_scores", LAB, LAB, "ann")
        grade.manual_score = 0.5  # an instructor's correction in formgrader
        book.db.commit()
    record_scores(database, results(1.0))
    with Gradebook(gradebook_url(database)) as book:
        grade = book.find_grade("test_reward_scores", LAB, LAB, "ann")
        assert (grade.auto_score, grade.manual_score, grade.score, grade.needs_manual_grade) == (1.0, 0.5, 0.5, True)
