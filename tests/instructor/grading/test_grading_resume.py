"""A class graded in pieces: stopped at any point and resumed, or split into shards and merged, it ends with the files
one uninterrupted run writes, and a resumed run grades only what was left.

The class hands in a small lab made for this file (one exercise, two points, half a second of sleep per notebook so
that the grader can be caught in the middle); the runs the test stops are `course grade` in a process of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.cli import main
from course_utils.instructor.grading.exports import NOT_GRADED_CSV, RESULTS
from course_utils.instructor.grading.grade import GradeConfig, grade_class
from course_utils.instructor.grading.gradebook import GRADEBOOK
from course_utils.instructor.grading.shards import Shard, differences, outcome
from course_utils.instructor.release import release

LAB = "mini"
ANSWER = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n"
TEST = 'total = add(2, 3)\n### CHECK\nassert total == 5, f"add(2, 3) should be 5, not {total}"\n'
WRONG = "def add(a, b):\n    return a - b\n"
STUDENTS = ["ann", "bob", "cy", "dee", "eve"]


def mini_lab() -> nbformat.NotebookNode:
    answer, test = new_code_cell(ANSWER), new_code_cell(TEST)
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "add"}
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "test_add", "points": 2}
    for cell in (answer, test):
        cell.metadata["nbgrader"]["schema_version"] = 3
    cells = [new_code_cell("import time\n\ntime.sleep(0.5)"), answer, test]
    notebook = new_notebook(cells=cells, metadata={"course": {"references": []}})
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def handed_in(release_notebook: nbformat.NotebookNode, answer: str) -> str:
    notebook = nbformat.from_dict(json.loads(json.dumps(release_notebook)))
    notebook.cells[1].source = answer
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course (a root with the small lab), its class's inbox, and the class graded by one uninterrupted run."""
    base = tmp_path_factory.mktemp("resume")
    root = base / "root"
    (root / "solutions" / LAB).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    nbformat.write(mini_lab(), root / "solutions" / LAB / f"{LAB}.ipynb")
    release(root, [LAB])
    released = nbformat.read(root / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    inbox = base / "inbox"
    inbox.mkdir()
    for student in STUDENTS:
        answer = WRONG if student == "bob" else ANSWER.replace("    ### BEGIN SOLUTION\n", "")
        (inbox / f"{student}_{LAB}.ipynb").write_text(handed_in(released, answer))
    (inbox / "notes.txt").write_text("not a notebook")
    whole = base / "whole"
    assert not grade_class(root, inbox, GradeConfig(whole), progress=False).broken
    return root, inbox, whole


def course_command(root: Path) -> list[str]:
    return [sys.executable, "-m", "course_utils.cli", "--root", str(root)]


def environment(marker: str) -> dict[str, str]:
    """The grader's environment, tagged with ``marker``: every process it starts inherits the tag."""
    return {**os.environ, "COURSE_TEST_MARKER": marker, "PYTHONUNBUFFERED": "1"}


def stop_when(root: Path, inbox: Path, course_dir: Path, ready, how: signal.Signals, *options: str) -> tuple[int, str]:
    """Start `course grade` in a process of its own, send it ``how`` as soon as ``ready()`` holds; its exit status
    and what it said."""
    marker = uuid.uuid4().hex
    command = [*course_command(root), "grade", str(inbox), "--course-dir", str(course_dir), "--workers", "1", *options]
    # A shell ignores Ctrl-C for what it runs in the background, and the ignoring is inherited: undo it in the grader.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(marker),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"the grader ended before the point to stop it at:\n{process.stdout.read()}"
    process.send_signal(how)
    said, _ = process.communicate(timeout=60)
    assert processes_tagged(marker) == [], "a process the stopped grader started is still running"
    return process.returncode, said


def processes_tagged(marker: str, patience: float = 10.0) -> list[int]:
    """The processes whose environment holds ``marker``, once those that are dying have had time to."""
    deadline = time.monotonic() + patience
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and f"COURSE_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def results(course_dir: Path) -> dict[Path, tuple[int, int]]:
    """Each graded lab's results file, with its inode and modification time (a lab graded again is a new file)."""
    found = sorted((course_dir / "autograded").glob(f"*/*/{RESULTS}"))
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in found}


def test_one_run_grades_the_class(course):
    _, _, whole = course
    totals = (whole / "exports" / "grades.csv").read_text().splitlines()
    assert totals == ["student,lab,points,max_points,run"] + [
        f"{student},{LAB},{0.0 if student == 'bob' else 2.0},2.0,ok" for student in STUDENTS
    ]
    assert (whole / "exports" / NOT_GRADED_CSV).read_text().splitlines()[1:] == [
        "notes.txt,,,the name does not match the pattern"
    ]
    assert len(outcome(whole)[GRADEBOOK]) == len(STUDENTS)


def test_a_shard_stopped_three_times_resumes_and_merges_into_what_one_run_writes(course, tmp_path, capsys):
    """Shard 1 of 2 is killed while collecting, stopped with Ctrl-C after one notebook and killed after two, then run
    to its end, while a student hands in a new file (graded again); shard 2 runs without a stop. No step leaves a
    graded lab half-written or grades again what an earlier one finished, and the two shards merged are the
    uninterrupted run of the whole class, file by file."""
    root, inbox, whole = course
    first, second = Shard(1, 2), Shard(2, 2)
    ours, course_dir = tmp_path / "inbox", tmp_path / "shard-1"
    ours.mkdir()
    for path in inbox.iterdir():
        (ours / path.name).write_bytes(path.read_bytes())
    (ours / f"ann_{LAB}.ipynb").write_text(handed_in(nbformat.read(root / "labs" / LAB / f"{LAB}.ipynb", 4), WRONG))
    held = [student for student in STUDENTS if first.holds(student)]
    assert "ann" in held and len(held) == 3

    def graded_at_least(count: int):
        return lambda: len(results(course_dir)) >= count

    before: dict[Path, tuple[int, int]] = {}
    steps = [
        (lambda: (course_dir / "submitted").is_dir(), signal.SIGKILL, -signal.SIGKILL),
        (graded_at_least(1), signal.SIGINT, 128 + signal.SIGINT),
        (graded_at_least(2), signal.SIGKILL, -signal.SIGKILL),
    ]
    for ready, how, status in steps:
        code, said = stop_when(root, ours, course_dir, ready, how, "--shard", str(first))
        assert code == status, said
        if how == signal.SIGINT:
            assert "stopped. What was graded is saved; the same command grades the rest." in said
        now = results(course_dir)
        for path, seen in before.items():  # finished earlier: read back, never graded again
            assert now[path] == seen, path
        for path in now:  # whole: its notebook and page were written before it
            assert json.loads(path.read_text())["fingerprint"]
            assert (path.parent / f"{LAB}.ipynb").is_file()
            assert (
                course_dir / "feedback" / path.parent.relative_to(course_dir / "autograded") / f"{LAB}.html"
            ).is_file()
        before = now
    assert 2 <= len(before) < len(held)

    # ann hands in the right answer: her lab is graded again, with what the last stop left.
    (ours / f"ann_{LAB}.ipynb").write_bytes((inbox / f"ann_{LAB}.ipynb").read_bytes())
    capsys.readouterr()
    assert main(["--root", str(root), "grade", str(ours), "--shard", str(first), "--course-dir", str(course_dir)]) == 0
    regraded = {path.parent.parent.name for path, seen in results(course_dir).items() if seen != before.get(path)}
    assert regraded == {"ann"} | {
        student for student in held if not any(p.parent.parent.name == student for p in before)
    }
    unchanged = sum(path.parent.parent.name != "ann" for path in before)
    said = capsys.readouterr().out
    assert f"Graded by an earlier run and unchanged since (not run again): {unchanged} notebooks" in said
    assert not list(course_dir.rglob(".*.part")), "a temporary file of a stopped write was left behind"

    shard_2 = tmp_path / "shard-2"
    assert main(["--root", str(root), "grade", str(inbox), "--shard", str(second), "--course-dir", str(shard_2)]) == 0
    assert {path.parent.parent.name for path in results(shard_2)} == {s for s in STUDENTS if second.holds(s)}
    merged = tmp_path / "merged"
    capsys.readouterr()
    assert main(["--root", str(root), "merge", str(course_dir), str(shard_2), "--course-dir", str(merged)]) == 0
    assert capsys.readouterr().out.startswith(
        f"Merged 2 shards: {len(STUDENTS)} graded notebooks of {len(STUDENTS)} students."
    )
    assert differences(merged, whole) == []


def test_a_shard_nobody_falls_in_grades_nothing_and_merges_as_nothing(course, tmp_path, capsys):
    root, inbox, whole = course
    empty = next(Shard(index, 8) for index in range(2, 9) if not any(Shard(index, 8).holds(s) for s in STUDENTS))
    status = main(
        ["--root", str(root), "grade", str(inbox), "--shard", str(empty), "--course-dir", str(tmp_path / "e")]
    )
    assert status == 0
    assert capsys.readouterr().out.endswith(f"course grade: no student of this class falls in shard {empty}.\n")
    status = main(["--root", str(root), "merge", str(whole), str(tmp_path / "e"), "--course-dir", str(tmp_path / "m")])
    assert status == 0
    assert differences(tmp_path / "m", whole) == []


def test_merging_refuses_a_lab_graded_in_two_shards(course, tmp_path, capsys):
    root, _, whole = course
    status = main(["--root", str(root), "merge", str(whole), str(whole), "--course-dir", str(tmp_path / "merged")])
    assert status == 1
    assert capsys.readouterr().err == f"course merge: ann's {LAB} was graded in two shards: {whole} and {whole}.\n"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("0/2", "A shard is K/N with 1 <= K <= N, not 0/2."),
        ("3/2", "A shard is K/N with 1 <= K <= N, not 3/2."),
        ("half", "A shard is written K/N (e.g. 2/4), not 'half'."),
    ],
)
def test_a_shard_is_k_of_n(text, error):
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        Shard.parse(text)


def test_shards_share_a_class_out_whole_and_by_student():
    students = [f"student{i}" for i in range(1000)]
    shards = [Shard(k, 4) for k in range(1, 5)]
    owners = [[shard for shard in shards if shard.holds(student)] for student in students]
    assert all(len(owner) == 1 for owner in owners)  # each student in exactly one shard
    sizes = [sum(owner == [shard] for owner in owners) for shard in shards]
    assert min(sizes) > 200, sizes  # about a quarter each (SHA-256 spreads ids evenly)
    # The first shard of four: a fixed function of the id, the same on every machine and in every run.
    # The first 8 bytes of sha256(b"student0") (2e2e...) are 0 mod 4, those of student1 (509e...) 3 mod 4, and so on.
    assert [student for student in students[:12] if shards[0].holds(student)] == ["student0", "student2", "student5"]
