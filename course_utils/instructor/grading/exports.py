"""What grading leaves on disk besides the gradebook: each lab's results as JSON, and the class's CSV exports.

nbgrader's export has one total per student and assignment. These add a row per question with its status and the
reason for every lost point, how each run ended beside its total, and a row per repair made to a notebook before
grading.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, astuple, dataclass, fields
from pathlib import Path

from . import durable
from .cells import RunStatus
from .repair import Repair
from .scoring import GradedLab, QuestionResult
from .submissions import Collection

RESULTS = "results.json"
QUESTIONS_CSV, TOTALS_CSV, REPAIRS_CSV = "grades_by_question.csv", "grades.csv", "repairs.csv"
NOT_GRADED_CSV = "not_graded.csv"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_results(lab: GradedLab, folder: Path) -> None:
    """Save a graded lab as ``folder/results.json``."""
    durable.write_text(folder / RESULTS, json.dumps(asdict(lab), indent=1) + "\n")


def read_results(folder: Path) -> list[GradedLab]:
    """Every graded lab saved under ``folder`` (in ``<student>/<lab>/results.json``), sorted by student and lab."""
    return [read_result(path) for path in sorted(folder.glob(f"*/*/{RESULTS}"))]


def read_result(path: Path) -> GradedLab:
    """A graded lab from its ``results.json``."""
    record = json.loads(path.read_text(encoding="utf-8"))
    record["results"] = [QuestionResult(**result) for result in record["results"]]
    record["repairs"] = [Repair(**change) for change in record["repairs"]]
    record["status"] = RunStatus(record["status"])
    return GradedLab(**record)


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


@dataclass(frozen=True)
class NotGraded:
    """A file of the class that was not graded, and why."""

    file: str
    student: str
    lab: str
    why: str


def not_graded(collection: Collection, unowned: bool = True) -> list[NotGraded]:
    """What ``collect`` could not use: files with two candidates for one student and lab, and (with ``unowned``)
    those that belong to no student, a name the pattern does not match or a link."""
    rows = [
        NotGraded(file, student, lab, "several files for one student and lab")
        for (student, lab), files in collection.duplicates.items()
        for file in files
    ]
    if unowned:
        rows += [NotGraded(file, "", "", "the name does not match the pattern") for file in collection.unknown]
        rows += [NotGraded(file, "", "", f"refused: {why}") for file, why in collection.refused.items()]
    return rows


def write_not_graded(rows: Iterable[NotGraded], folder: Path) -> None:
    """``not_graded.csv``: a row per file not graded, by name."""
    columns = [field.name for field in fields(NotGraded)]
    write_csv(folder / NOT_GRADED_CSV, columns, [asdict(row) for row in sorted(rows, key=astuple)])


def read_not_graded(folder: Path) -> list[NotGraded]:
    """The rows of ``folder/not_graded.csv`` (none when there is no such file)."""
    path = folder / NOT_GRADED_CSV
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [NotGraded(**row) for row in csv.DictReader(handle)]


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Rows as a CSV file with a header (fields with commas or quotes are quoted, text fields made inert)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows({key: inert(value) for key, value in row.items()} for row in rows)
    durable.write_text(path, text.getvalue())


def inert(value: object) -> object:
    """A text field a spreadsheet shows as text, never runs as a formula: one that starts with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading ``'`` (OWASP's advice on CSV injection). Numbers are left alone."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
