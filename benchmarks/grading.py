"""`course grade` against nbgrader's serial `autograde`, on the same simulated class, in the same run.

    python benchmarks/grading.py                    # 8 students x every lab, the accidents
    python benchmarks/grading.py --kinds tampering  # 7 students x every lab: a student who wants the points
    python benchmarks/grading.py --students 4 --labs lab3_ppo_sentiment --skip-nbgrader

Each student hands in every lab, in one of these states (in turn). The accidents: correct, correct as Colab saves it,
correct with its nbgrader metadata stripped, one question left unanswered, untouched, correct with 100k lines printed,
correct but the kernel dies half way, correct with an extra cell that never ends. The tampering (``simulate``):
untouched with an IPython exception handler, untouched with ``showtraceback`` replaced, untouched with a process that
rewrites the grader's files, correct but the exercises that have a reference in the package are wrappers around it,
correct with a cell that prints the tests it can find, correct with the numeric helpers tests compare with patched
to agree with anything, correct but printing "All tests passed." and exiting after the first test. Both graders get
the same files and the same per-cell time limit. Prints both wall times, their ratio, seconds per submission, and
each kind's points from each grader (and how many of them ``course grade`` flagged for tampering).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CELL_SECONDS = 60
ACCIDENTS = ["correct", "colab", "stripped", "unanswered", "untouched", "flood", "crash", "loop"]
TAMPERING = ["handler", "traceback", "rewriter", "wrappers", "printer", "helpers", "exit"]
KINDS = {"accidents": ACCIDENTS, "tampering": TAMPERING, "all": ACCIDENTS + TAMPERING}


def handed_in(kind: str, release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> str:
    """The file a student in this state hands in, as text."""
    from course_utils.instructor.grading import simulate
    from course_utils.instructor.grading.cells import grading_info, is_answer, is_test, references

    good = simulate.solved(release, source)
    tests = [grading_info(cell)["grade_id"] for cell in release.cells if is_test(cell)]
    first_answer = next(cell for cell in release.cells if is_answer(cell))
    if kind in simulate.TAMPERING:
        return nbformat.writes(simulate.with_first_answer(release, simulate.TAMPERING[kind]))
    notebook = {
        "correct": good,
        "colab": good,
        "stripped": simulate.stripped(good),
        "unanswered": simulate.with_source(good, grading_info(first_answer)["grade_id"], first_answer.source),
        "untouched": release,
        "flood": simulate.with_cell_after(good, tests[0], "for i in range(100_000):\n    print(i)"),
        "crash": simulate.with_cell_after(good, tests[len(tests) // 2], "import os\n\nos._exit(1)"),
        "loop": simulate.with_cell_after(good, tests[0], "while True:\n    pass"),
        "wrappers": simulate.wrapping(good, references(source)),
        "printer": simulate.with_cell_after(good, tests[-1], simulate.PRINT_TESTS),
        "helpers": simulate.with_first_answer(good, simulate.LYING_HELPERS),
        "exit": simulate.with_cell_after(good, tests[0], simulate.FAKE_PASS),
    }[kind]
    return simulate.as_colab_saves_it(notebook) if kind == "colab" else nbformat.writes(notebook)


def build_class(inbox: Path, labs: list[str], students: int, states: list[str]) -> dict[str, str]:
    """Write every student's notebook for every lab, in the given states in turn; return each student's state."""
    from course_utils.instructor.grading.grade import read_lab

    kinds = {f"s{index:02d}": states[index % len(states)] for index in range(students)}
    inbox.mkdir(parents=True)
    for lab in labs:
        release, source = read_lab(ROOT, "labs", lab), read_lab(ROOT, "solutions", lab)
        for student, kind in kinds.items():
            (inbox / f"{student}_{lab}.ipynb").write_text(handed_in(kind, release, source))
    return kinds


def nbgrader_autograde(inbox: Path, course: Path, labs: list[str]) -> dict[tuple[str, str], float | None]:
    """nbgrader's own path: a course folder, the labs in its gradebook, then `nbgrader autograde`, one lab at a time."""
    from nbgrader.api import Gradebook, MissingEntry

    from course_utils.instructor.grading.submissions import collect

    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    collection = collect(inbox, labs, course / "submitted")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for lab in labs:
        for step in ("generate_assignment", "autograde"):
            command = [sys.executable, "-m", "nbgrader", step, lab, "--force", f"--Execute.timeout={CELL_SECONDS}"]
            subprocess.run(command, cwd=course, env=env, capture_output=True)
    scores: dict[tuple[str, str], float | None] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        for submission in collection.submissions:
            key = (submission.student, submission.lab)
            try:
                scores[key] = book.find_submission(submission.lab, submission.student).score
            except MissingEntry:  # nbgrader gave up on this notebook
                scores[key] = None
    return scores


def main() -> None:
    from course_utils.instructor.grading.grade import GradeConfig, grade_class
    from course_utils.instructor.grading.sandbox import Limits
    from course_utils.instructor.grading.simulate import REWRITER_MARKER
    from course_utils.instructor.release import available_labs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, help="default: one per state")
    parser.add_argument("--kinds", choices=sorted(KINDS), default="accidents", help="the states students hand in")
    parser.add_argument("--labs", nargs="+", default=available_labs(ROOT))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-nbgrader", action="store_true", help="time course grade alone")
    args = parser.parse_args()
    states = KINDS[args.kinds]

    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as scratch:
        inbox = Path(scratch) / "inbox"
        kinds = build_class(inbox, args.labs, args.students or len(states), states)
        count = len(kinds) * len(args.labs)
        print(f"{count} submissions ({len(kinds)} students x {len(args.labs)} labs), {args.workers} workers")

        start = time.perf_counter()
        config = GradeConfig(Path(scratch) / "ours", workers=args.workers, limits=Limits(cell_seconds=CELL_SECONDS))
        graded = grade_class(ROOT, inbox, config).graded
        ours = {(lab.student, lab.lab): lab.points for lab in graded}
        flagged = {(lab.student, lab.lab) for lab in graded if lab.flags}
        timings = {"course grade (parallel, sandboxed)": time.perf_counter() - start}

        theirs: dict[tuple[str, str], float | None] = {}
        if not args.skip_nbgrader:
            start = time.perf_counter()
            theirs = nbgrader_autograde(inbox, Path(scratch) / "nbgrader", args.labs)
            timings["nbgrader autograde (serial)"] = time.perf_counter() - start
            leftover = subprocess.run(["pgrep", "-f", REWRITER_MARKER], capture_output=True, text=True).stdout.split()
            if leftover:
                print(f"nbgrader left {len(leftover)} student process(es) running: killing them")
                subprocess.run(["pkill", "-f", REWRITER_MARKER])

    print()
    for name, seconds in timings.items():
        print(f"{name + ':':<36}{seconds:7.1f} s  {seconds / count:5.1f} s per submission")
    if len(timings) == 2:
        ours_seconds, theirs_seconds = timings.values()
        print(f"ratio nbgrader / course grade:      {theirs_seconds / ours_seconds:7.2f}x")
    print()
    print(f"{'state':<12} {'course grade':>14} {'nbgrader':>10} {'flagged':>8}   total points over the class")
    for kind in states:
        keys = [key for key in ours if kinds[key[0]] == kind]
        if keys:
            missing = sum(theirs.get(key) is None for key in keys)
            their_total = "-" if args.skip_nbgrader else f"{sum(theirs.get(key) or 0 for key in keys):g}"
            note = f"   ({missing} not graded by nbgrader)" if missing and not args.skip_nbgrader else ""
            marked = sum(key in flagged for key in keys)
            print(f"{kind:<12} {sum(ours[key] for key in keys):>14g} {their_total:>10} {marked:>8}{note}")


if __name__ == "__main__":
    main()
