"""Grading one class on several machines: which students a shard grades, and the shards' folders merged into one.

``course grade --shard K/N`` grades the students whose id hashes to ``K`` of ``N`` (SHA-256, so every machine, Python
and run agrees, and a student stays in their shard when others hand in late), each shard in a course folder of its
own. ``course merge`` then copies the shards' graded notebooks and feedback into one folder and writes its gradebook
and exports from them: the files one machine grading the whole class would have written.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import durable
from .exports import RESULTS, read_not_graded, read_results, write_exports, write_not_graded
from .gradebook import GRADEBOOK, gradebook_url, record_scores, register_labs
from .scoring import GradedLab

# What a Hugging Face trainer prints of its own speed ('train_runtime': 3.9974, 'eval_samples_per_second': '243'):
# the only text of a graded notebook that two runs of it do not share.
TIMINGS = re.compile(rb"(\w*(?:runtime|_per_second)'?:\s*'?)[0-9.e+-]+")
# The folders of a course folder that hold one student's lab each: <folder>/<student>/<lab>/.
STUDENT_FOLDERS = ("submitted", "feedback", "autograded")  # autograded last: its results.json says the rest is there


@dataclass(frozen=True)
class Shard:
    """The ``index``-th of ``count`` shares of a class (1-based: ``--shard 1/4`` to ``--shard 4/4``)."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"A shard is K/N with 1 <= K <= N, not {self.index}/{self.count}.")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` -> ``Shard(2, 4)``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None:
            raise ValueError(f"A shard is written K/N (e.g. 2/4), not {text!r}.")
        return cls(int(match[1]), int(match[2]))

    def holds(self, student: str) -> bool:
        """Whether this shard grades ``student``."""
        digest = hashlib.sha256(student.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    @property
    def reports_unowned(self) -> bool:
        """Whether this shard lists the files that belong to no student (a name the pattern does not match): the
        first one does, so that merging lists each once."""
        return self.index == 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def merge_shards(root: Path, shards: list[Path], course_dir: Path) -> list[GradedLab]:
    """Merge the course folders ``shards`` (each graded with ``--shard``) into ``course_dir``; the labs merged.

    A student's lab found in two shards is an error (the shards were not of one class), never a choice.
    """
    course_dir = course_dir.resolve()
    if course_dir in {shard.resolve() for shard in shards}:
        raise ValueError(f"Merge into a new folder, not into one of the shards ({course_dir}).")
    owner: dict[tuple[str, str], Path] = {}
    for shard in shards:
        if not (shard / "exports").is_dir():  # every shard writes its exports, even one with nobody in it
            raise FileNotFoundError(f"{shard} is not the course folder of a shard graded with `course grade --shard`.")
        for lab in read_results(shard / "autograded"):
            key = (lab.student, lab.lab)
            if key in owner:
                raise ValueError(f"{lab.student}'s {lab.lab} was graded in two shards: {owner[key]} and {shard}.")
            owner[key] = shard
    for (student, lab), shard in sorted(owner.items()):
        for folder in STUDENT_FOLDERS:
            copy_files(shard / folder / student / lab, course_dir / folder / student / lab)
    merged = read_results(course_dir / "autograded")
    register_labs(root, course_dir / GRADEBOOK, sorted({lab.lab for lab in merged}))
    record_scores(course_dir / GRADEBOOK, [result for lab in merged for result in lab.results])
    write_exports(merged, course_dir / "exports")
    write_not_graded([row for shard in shards for row in read_not_graded(shard / "exports")], course_dir / "exports")
    return merged


def copy_files(source: Path, destination: Path) -> None:
    """Copy the files of ``source`` (one student's lab) into ``destination``, ``results.json`` last."""
    files = sorted(path for path in source.rglob("*") if path.is_file() and not path.name.startswith("."))
    for path in sorted(files, key=lambda path: path.name == RESULTS):
        durable.write_bytes(destination / path.relative_to(source), path.read_bytes())


def outcome(course_dir: Path) -> dict[str, object]:
    """What grading left in a course folder, the time things took aside: every export, feedback page (the speed a
    trainer printed in it masked) and handed-in copy as bytes, each ``results.json`` as data without its seconds, and
    the gradebook's scores (its ids are random)."""
    from nbgrader.api import Gradebook

    found: dict[str, object] = {}
    for folder in ("exports", "feedback", "submitted"):
        for path in sorted((course_dir / folder).rglob("*")):
            if path.is_file():
                found[str(path.relative_to(course_dir))] = TIMINGS.sub(rb"\1<timing>", path.read_bytes())
    for path in sorted((course_dir / "autograded").glob(f"*/*/{RESULTS}")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record.pop("seconds"), record.pop("check_seconds")
        found[str(path.relative_to(course_dir))] = record
    with Gradebook(gradebook_url(course_dir / GRADEBOOK)) as book:
        found[GRADEBOOK] = sorted(
            (submission.student_id, lab.name, grade.name, grade.auto_score, grade.needs_manual_grade)
            for lab in book.assignments
            for submission in lab.submissions
            for notebook in submission.notebooks
            for grade in notebook.grades
        )
    return found


def differences(one: Path, other: Path) -> list[str]:
    """The files (and the gradebook) in which two graded course folders differ, timings aside: none when a merged
    class equals one machine's run."""
    first, second = outcome(one), outcome(other)
    return sorted(name for name in first.keys() | second.keys() if first.get(name) != second.get(name))
