"""Grades and feedback back into the LMS the submissions came from: Canvas or Moodle.

Each LMS names a student's downloaded file after them, and ``course grade --lms NAME`` reads the student from that
name: Canvas's user id, Moodle's participant id (``SUBMISSION_PATTERNS``). ``course export --lms NAME --roster FILE``
then writes, from a class's graded labs and the roster file the LMS itself exports,

- the LMS's grade-import CSV: Canvas's gradebook file (its student columns as exported, then one column per lab,
  ``Title (assignment id)`` when the lab has an assignment there; a lab without one becomes a new assignment on
  import, with the points of the ``Points Possible`` row); Moodle's import file (one column with the user field the
  import is keyed by, then one column per lab, mapped to grade items in Moodle's import form);
- for each lab, a zip of the students' feedback pages in the layout of the LMS's bulk feedback upload: Canvas's
  "Re-Upload Submissions" reads the user id from each file's downloaded name, Moodle's "Upload multiple feedback files
  in a zip" the participant id from each folder's.

A graded student absent from the roster, a roster student who handed nothing in (a 0 or a blank, as chosen), a name
two roster students share (Moodle's downloads name students, not users) and a file whose name did not come from
the LMS are reported, never guessed. The formats, from each LMS's code: Canvas's ``lib/gradebook_importer.rb``,
``lib/gradebook_exporter.rb``, ``lib/content_zipper.rb`` and ``Assignment#generate_comments_from_files``; Moodle's
``grade/import/csv``, ``grade/export/txt`` and ``mod/assign/feedback/file/importziplib.php``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import durable
from .exports import write_csv
from .scoring import GradedLab

LABS = "{labs}"  # the course's labs, filled in by ``submissions.compile_pattern``
# How each LMS names a downloaded submission, as patterns for ``course grade --lms``. Canvas: ``doejane_123_456_<the
# uploaded name>``, ``LATE`` before the user id for late work, a ``-1`` before the extension for a resubmission. Moodle:
# ``Jane Doe_789_assignsubmission_file/<the uploaded name>`` (or the folder's name and ``_`` before the file's).
SUBMISSION_PATTERNS = {
    "canvas": rf"^[^/]*?_(?:LATE_)?(?P<student>\d+)_\d+_(?:.*_)?(?P<lab>{LABS})(?:-\d+)?(?: ?\(\d+\))?\.ipynb$",
    "moodle": rf"^(?:.*/)?[^/_]+_(?P<student>\d+)_assignsubmission_file_?[/_](?:.*[/_])?(?P<lab>{LABS})"
    r"(?:-\d+)?(?: ?\(\d+\))?\.ipynb$",
}
CANVAS_POINTS_ROW = (
    "    Points Possible"  # four spaces: Canvas's own export writes it so, and its import looks for the words
)
CANVAS_ASSIGNMENT = re.compile(r"\A(.*)\s\((\d+)\)\Z")  # "Title (assignment id)", Canvas's title_with_id
MOODLE_FOLDER = re.compile(r"\A(?P<name>[^_/]+)_(?P<participant>\d+)_assign(?:submission|feedback)_file")


@dataclass
class LmsExport:
    """What ``course export`` wrote, and what it could not place."""

    grades: Path  # the grade-import CSV
    feedback: list[Path] = field(default_factory=list)  # a zip per lab
    not_in_roster: list[str] = field(default_factory=list)  # graded students the roster does not have
    without_submission: dict[str, list[str]] = field(default_factory=dict)  # lab -> roster students, 0 or blank
    ambiguous: list[str] = field(default_factory=list)  # names two roster students share: neither gets a grade
    unnamed: list[str] = field(default_factory=list)  # graded files whose name did not come from the LMS

    def report(self, missing: str) -> list[str]:
        """One line per problem found."""
        lines = [f"Graded but not in the roster (left out): {', '.join(self.not_in_roster)}"] * bool(self.not_in_roster)
        lines += [f"A name several roster students share (not graded there): {name}" for name in self.ambiguous]
        lines += [f"Not named as the LMS names downloads (no feedback file): {name}" for name in self.unnamed]
        lines += [
            f"{lab}: {len(students)} roster students handed nothing in ({missing}): {', '.join(students)}"
            for lab, students in self.without_submission.items()
            if students
        ]
        return lines


def read_roster(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of an LMS's CSV export (a UTF-8 byte-order mark, as Excel leaves one, is skipped)."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise ValueError(f"{path} is empty: export the gradebook from the LMS as CSV.")
    return list(reader.fieldnames), list(reader)


def canvas_user(origin: str) -> str | None:
    """The Canvas user id in a downloaded file's name, read as Canvas's re-upload reads it: the name split on ``_``,
    ``LATE`` dropped, the first all-digit part (the second is the file's id)."""
    parts = [part for part in PurePosixPath(origin).name.split("_") if part != "LATE"]
    digits = [part for part in parts[1:] if part.isdigit()]
    return digits[0] if len(digits) >= 2 else None


def moodle_folder(origin: str) -> re.Match[str] | None:
    """The ``<Full name>_<participant id>_assignsubmission_file`` part of a Moodle download's path."""
    return next(filter(None, (MOODLE_FOLDER.match(part) for part in PurePosixPath(origin).parts)), None)


def lab_columns(labs: list[str], headers: list[str], chosen: dict[str, str]) -> dict[str, str]:
    """The column each lab's grades go in: the one chosen (``--column LAB=TITLE``), else a roster column of the lab's
    name (with or without an assignment id), else a new column named after the lab."""
    unknown = sorted(set(chosen) - set(labs))
    if unknown:
        raise ValueError(f"--column names a lab that was not graded: {', '.join(unknown)}. Graded: {', '.join(labs)}.")
    by_title = {(CANVAS_ASSIGNMENT.match(header) or [None, header])[1]: header for header in headers}
    return {lab: chosen.get(lab) or by_title.get(lab, lab) for lab in labs}


def cell(points: dict[tuple[str, str], float], student: str, lab: str, missing: str) -> str:
    """A grade as the import file writes it: the points, or for no submission ``0`` or nothing."""
    if (student, lab) in points:
        return f"{points[(student, lab)]:g}"
    return "0" if missing == "zero" else ""


def export_canvas(
    course_dir: Path,
    graded: list[GradedLab],
    roster: Path,
    missing: str = "blank",
    columns: dict[str, str] | None = None,
) -> LmsExport:
    """Canvas's gradebook import CSV and feedback re-upload zips, in ``course_dir/exports``, for the students of
    ``roster`` (a gradebook export); a graded lab's student is the Canvas user id in its file's downloaded name."""
    headers, rows = read_roster(roster)
    if not headers[:2] == ["Student", "ID"] or "Section" not in headers:
        raise ValueError(f"{roster} is not a Canvas gradebook export (its columns start Student, ID, ..., Section).")
    students = headers[: headers.index("Section") + 1]  # Student, ID, SIS User ID, SIS Login ID, ..., Section
    people = [row for row in rows if row["Student"].strip() not in ("Points Possible", "")]
    by_user, unnamed = {}, []
    for lab in graded:
        user = canvas_user(lab.origin)
        if user is None:
            unnamed.append(lab.origin or f"{lab.student}/{lab.lab}")
        else:
            by_user[(user, lab.lab)] = lab
    labs = sorted({lab.lab for lab in graded})
    titles = lab_columns(labs, headers, columns or {})
    points = {key: lab.points for key, lab in by_user.items()}
    maxima = {lab.lab: f"{lab.max_points:g}" for lab in graded}
    table = [{**dict.fromkeys(students, ""), "Student": CANVAS_POINTS_ROW} | {titles[lab]: maxima[lab] for lab in labs}]
    for row in people:
        grades = {titles[lab]: cell(points, row["ID"], lab, missing) for lab in labs}
        table.append({column: row[column] for column in students} | grades)
    result = LmsExport(course_dir / "exports" / "canvas_grades.csv", unnamed=sorted(unnamed))
    write_csv(result.grades, students + [titles[lab] for lab in labs], table)
    ids = {row["ID"] for row in people}
    result.not_in_roster = sorted({user for user, _ in by_user} - ids)
    result.without_submission = {
        lab: [row["Student"] for row in people if (row["ID"], lab) not in by_user] for lab in labs
    }
    for lab in labs:
        pages = {
            PurePosixPath(found.origin).with_suffix(".html").name: page(course_dir, found)
            for (user, name), found in sorted(by_user.items())
            if name == lab and user in ids
        }
        result.feedback.append(write_zip(course_dir / "exports" / f"canvas_feedback_{lab}.zip", pages))
    return result


def export_moodle(
    course_dir: Path,
    graded: list[GradedLab],
    roster: Path,
    key: str = "Email address",
    missing: str = "blank",
    columns: dict[str, str] | None = None,
) -> LmsExport:
    """Moodle's grade import CSV (keyed by the roster's column ``key``) and feedback zips, in ``course_dir/exports``,
    for the students of
    ``roster`` (a gradebook export, plain text); a graded lab is matched to a roster student by the full name in its
    downloaded folder's name, which Moodle writes as "First name Last name"."""
    headers, people = read_roster(roster)
    if not {"First name", "Last name", key} <= set(headers):
        raise ValueError(f"{roster} is not a Moodle grade export with the column {key!r} (First name, Last name, ...).")
    names = Counter(full_name(row) for row in people)
    by_name = {full_name(row): row for row in people}
    unique = [row for row in people if names[full_name(row)] == 1]
    shared = [row for row in people if names[full_name(row)] > 1]
    result = LmsExport(course_dir / "exports" / "moodle_grades.csv")
    result.ambiguous = sorted({f"{row['First name']} {row['Last name']}" for row in shared})
    found: dict[tuple[str, str], GradedLab] = {}
    for lab in graded:
        match = moodle_folder(lab.origin)
        if match is None:
            result.unnamed.append(lab.origin or f"{lab.student}/{lab.lab}")
        elif spoken(match["name"]) not in by_name:
            result.not_in_roster.append(match["name"])
        elif names[spoken(match["name"])] == 1:  # a shared name is reported above, and graded for nobody
            found[(by_name[spoken(match["name"])][key], lab.lab)] = lab
    labs = sorted({lab.lab for lab in graded})
    titles = lab_columns(labs, headers, columns or {})
    points = {(user, lab): graded_lab.points for (user, lab), graded_lab in found.items()}
    table = [{key: row[key], **{titles[lab]: cell(points, row[key], lab, missing) for lab in labs}} for row in unique]
    write_csv(result.grades, [key] + [titles[lab] for lab in labs], table)
    result.unnamed.sort()
    result.not_in_roster = sorted(set(result.not_in_roster))
    result.without_submission = {
        lab: [f"{row['First name']} {row['Last name']}" for row in unique if (row[key], lab) not in found]
        for lab in labs
    }
    for lab in labs:
        pages = {
            f"{moodle_folder(graded_lab.origin)[0]}/{lab}.html": page(course_dir, graded_lab)
            for (_, name), graded_lab in sorted(found.items())
            if name == lab
        }
        result.feedback.append(write_zip(course_dir / "exports" / f"moodle_feedback_{lab}.zip", pages))
    return result


def full_name(row: dict[str, str]) -> str:
    return spoken(f"{row['First name']} {row['Last name']}")


def spoken(name: str) -> str:
    """A name compared as a person reads it: case and runs of spaces ignored."""
    return " ".join(name.split()).casefold()


def page(course_dir: Path, lab: GradedLab) -> bytes:
    """A graded lab's feedback page."""
    return (course_dir / "feedback" / lab.student / lab.lab / f"{lab.lab}.html").read_bytes()


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    """A zip of ``files`` (name -> content), written whole or not at all."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    durable.write_bytes(path, buffer.getvalue())
    return path
