"""What grading leaves on disk besides the gradebook: each lab's results as JSON, and the class's CSV exports.

nbgrader's export has one total per student and assignment. These add a row per question with its status and the
reason for every lost point, how each run ended beside its total, and a row per repair made to a notebook before
grading.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path

from .cells import RunStatus
from .repair import Repair
from .scoring import GradedLab, QuestionResult

RESULTS = "results.json"
QUESTIONS_CSV, TOTALS_CSV, REPAIRS_CSV = "grades_by_question.csv", "grades.csv", "repairs.csv"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_results(lab: GradedLab, folder: Path) -> None:
    """Save a graded lab as ``folder/results.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS).write_text(json.dumps(asdict(lab), indent=1) + "\n", encoding="utf-8")


def read_results(folder: Path) -> list[GradedLab]:
    """Every graded lab saved under ``folder`` (in ``<student>/<lab>/results.json``), sorted by student and lab."""
    labs = []
    for path in sorted(folder.glob(f"*/*/{RESULTS}")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["results"] = [QuestionResult(**result) for result in record["results"]]
        record["repairs"] = [Repair(**change) for change in record["repairs"]]
        record["status"] = RunStatus(record["status"])
        labs.append(GradedLab(**record))
    return labs


def write_exports(labs: Iterable[GradedLab], folder: Path) -> None:
    """Three CSV files: one row per question, one per student and lab (the totals), one per repair."""
    labs = sorted(labs, key=lambda lab: (lab.student, lab.lab))
    questions = [asdict(result) for lab in labs for result in lab.results]
    write_csv(folder / QUESTIONS_CSV, [field.name for field in fields(QuestionResult)], questions)
    totals = [
        {
            "student": lab.student,
            "lab": lab.lab,
            "points": lab.points,
            "max_points": lab.max_points,
            "run": lab.status,
        }
        for lab in labs
    ]
    write_csv(folder / TOTALS_CSV, ["student", "lab", "points", "max_points", "run"], totals)
    repairs = [{"student": lab.student, "lab": lab.lab, **asdict(change)} for lab in labs for change in lab.repairs]
    write_csv(folder / REPAIRS_CSV, ["student", "lab", "cell", "action"], repairs)


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Rows as a CSV file with a header (fields with commas or quotes are quoted, text fields made inert)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: inert(value) for key, value in row.items()} for row in rows)


def inert(value: object) -> object:
    """A text field a spreadsheet shows as text, never runs as a formula: one that starts with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading ``'`` (OWASP's advice on CSV injection). Numbers are left alone."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
