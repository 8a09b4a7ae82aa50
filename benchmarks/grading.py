"""`course grade` against nbgrader's serial `autograde`, on the same simulated class, in the same run.

    python benchmarks/grading.py                    # 8 students x every lab, the accidents
    python benchmarks/grading.py --kinds tampering  # 7 students x every lab: a student who wants the points
    python benchmarks/grading.py --students 4 --labs lab3_ppo_sentiment --skip-nbgrader
    python benchmarks/grading.py --students 10 --skip-nbgrader     # a class at reduced size, projected to 500 x 5
    python benchmarks/grading.py --students 2 --skip-nbgrader --project 10000 5 16 --nodes 20   # and to a cluster

Each student hands in every lab, in one of these states (in turn). The accidents: correct, correct as Colab saves it,
correct with its nbgrader metadata stripped, one question left unanswered, untouched, correct with 100k lines printed,
correct but the kernel dies half way, correct with an extra cell that never ends. The tampering (``simulate``):
untouched with an IPython exception handler, untouched with ``showtraceback`` replaced, untouched with a process that
rewrites the grader's files, correct but the exercises that have a reference in the package are wrappers around it,
correct with a cell that prints the tests it can find, correct with the numeric helpers tests compare with patched
to agree with anything, correct but printing "All tests passed." and exiting after the first test. Both graders get
the same files and the same per-cell time limit. Prints both wall times, their ratio, seconds per submission, and
each kind's points from each grader.

Where ``course grade``'s time goes: its phases (`ClassGrades.phases`), and per lab the seconds
per submission, split into the notebook's cells (from the timings nbclient records in each graded notebook: test
cells, of which the checks run apart from the kernel, and the rest) and the overhead around them (forking the
kernel, handing values to the checks, saving), and the checks' share of it all. While it grades,
a thread samples every five seconds the memory of the grader and everything it started (the sum of proportional set
sizes: pages the forked kernels share are counted once), the largest single process, and the grader's open file
descriptors. Sampling is not free: the kernel walks a process's page tables to sum its proportional set size (7 ms of
CPU for a 260 MiB process). Sampling every half second made the capstone's class grade 8% slower on 2 cores (205 s
against 190 s unwatched), and every two seconds still took some 20 CPU-s of a class's 900: so the watch samples every
five seconds, and reports the CPU time it used itself. From these it projects a class
of ``--project`` students x labs on a machine with that many cores: the time if each core grades at the rate
measured here, the memory of as many kernels at once as ``course grade`` runs there (two more than the cores); and
beside it, the time on ``--nodes`` such machines, each grading a shard, then merged.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import nbformat
from results import save

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


class Watch:
    """Samples the grader's process tree every ``interval`` seconds while it runs: the peaks of its total memory (the
    sum of proportional set sizes), of its largest process, of its open file descriptors, and of its process count."""

    def __init__(self, interval: float = 5.0):
        self.interval, self.stop = interval, threading.Event()
        self.cpu_seconds = 0.0  # what sampling cost: CPU time of the sampling thread
        self.peak_total = self.peak_process = 0  # bytes
        self.peak_files = self.peak_processes = 0
        self.files_at_start = len(os.listdir("/proc/self/fd"))
        self.thread = threading.Thread(target=self.sample_until_stopped, daemon=True)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self.files_at_end = len(os.listdir("/proc/self/fd"))  # more than at the start: something leaks

    def sample_until_stopped(self) -> None:
        while not self.stop.wait(self.interval):
            sizes = [proportional_set_size(pid) for pid in descendants(os.getpid())]
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_process = max(self.peak_process, *sizes)
            self.peak_processes = max(self.peak_processes, len(sizes))
            self.peak_files = max(self.peak_files, len(os.listdir("/proc/self/fd")))
        self.cpu_seconds = time.thread_time()


def descendants(root: int) -> list[int]:
    """``root`` and every process under it (from each process's parent in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # the process ended while we looked
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack += children.get(pid, [])
    return found


def proportional_set_size(pid: int) -> int:
    """A process's proportional set size in bytes (each shared page divided among its sharers); 0 once it ended."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cell_seconds(notebook_path: Path) -> tuple[float, float]:
    """The seconds a graded notebook's test cells and its other cells ran, from nbclient's timestamps."""
    from course_utils.instructor.grading.cells import is_test

    tests = others = 0.0
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            began, ended = (
                datetime.fromisoformat(timing[key]) for key in ("iopub.execute_input", "shell.execute_reply")
            )
            seconds = (ended - began).total_seconds()
            if is_test(cell):
                tests += seconds
            else:
                others += seconds
    return tests, others


def where_the_time_goes(graded: list, course_dir: Path) -> dict[str, list[float]]:
    """Per lab, the mean seconds per submission: in all, in test cells (of which in the checks apart from the kernel),
    in other cells, and around the cells."""
    by_lab: dict[str, list[tuple[float, float, float, float]]] = {}
    for lab in graded:
        path = course_dir / "autograded" / lab.student / lab.lab / f"{lab.lab}.ipynb"
        if path.exists():
            tests, others = cell_seconds(path)
            by_lab.setdefault(lab.lab, []).append((lab.seconds, tests, lab.check_seconds, others))
    return {
        name: [sum(values) / len(rows) for values in zip(*rows, strict=True)] + [len(rows)]
        for name, rows in sorted(by_lab.items())
    }


def projection(per_lab: dict[str, list[float]], phases: dict[str, float], count: int, watch: Watch, args) -> str:
    """The time and memory of grading ``students x labs`` on one machine of ``cores`` cores, and on a cluster of
    ``--nodes`` such machines, from this run's measurements.

    Time: each core grades at the rate measured here (``workers`` submissions at a time on this machine's cores, each
    of a lab drawn at random); collecting, repairing and recording run in one process and grow with the class
    (registering the labs does not). On a cluster each node grades its shard (``course grade --shard K/N``: a hash of
    the student, so shards are equal to within a few percent at these sizes) and registers the labs itself; then
    ``course merge`` records the whole class in one process, at the rate this run recorded (copying the shards'
    files, a few kB per submission, is left out). Memory: an upper bound per machine, everything but the grader
    itself scaled from ``workers`` running submissions to as many as ``course grade`` runs there by default (the
    fork server's share included).
    """
    from course_utils.instructor.grading.limits import default_workers

    students, labs, cores = args.project
    mean = sum(row[0] for row in per_lab.values()) / len(per_lab)
    per_core = mean * (os.cpu_count() or 1) / args.workers  # seconds of one core per submission, as graded here
    submissions = students * labs
    reading = (phases["collect"] + phases["repair"] + phases["record"]) / count  # per submission, in one process

    def hours(share: float) -> float:  # one machine grading ``share`` submissions
        return (share * per_core / cores + reading * share + phases["register"]) / 3600

    merge = (phases["record"] / count * submissions + phases["register"]) / 3600
    cluster = hours(submissions / args.nodes) + merge
    at_once = default_workers(cores)
    grader = proportional_set_size(os.getpid())
    memory = (grader + (watch.peak_total - grader) * at_once / max(1, args.workers)) / 2**30
    return (
        f"Projected for {students} students x {labs} labs on {cores} cores ({at_once} at a time): about "
        f"{hours(submissions):.1f} h ({per_core:.1f} s per submission per core, and {reading * submissions / 60:.1f} "
        f"min of reading and recording in one process); peak memory at most {memory:.1f} GiB. On {args.nodes} such "
        f"nodes ({args.nodes * cores} cores, a shard each, then the merge): about {cluster:.2f} h "
        f"({merge * 60:.1f} min of it merging)."
    )


def main() -> None:
    from course_utils.instructor.grading.grade import GradeConfig, grade_class
    from course_utils.instructor.grading.limits import Limits, default_workers
    from course_utils.instructor.grading.simulate import REWRITER_MARKER
    from course_utils.instructor.release import available_labs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, help="default: one per state")
    parser.add_argument("--kinds", choices=sorted(KINDS), default="accidents", help="the states students hand in")
    parser.add_argument("--labs", nargs="+", default=available_labs(ROOT))
    parser.add_argument("--workers", type=int, default=default_workers(), help="default: course grade's")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time course grade alone")
    parser.add_argument(
        "--project",
        nargs=3,
        type=int,
        default=[500, 5, 16],
        metavar=("STUDENTS", "LABS", "CORES"),
        help="the class and machine to project to (default: 500 students x 5 labs on 16 cores)",
    )
    parser.add_argument("--nodes", type=int, default=20, help="the cluster to project to: this many such machines")
    args = parser.parse_args()
    states = KINDS[args.kinds]

    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as scratch:
        inbox = Path(scratch) / "inbox"
        kinds = build_class(inbox, args.labs, args.students or len(states), states)
        count = len(kinds) * len(args.labs)
        print(f"{count} submissions ({len(kinds)} students x {len(args.labs)} labs), {args.workers} workers")

        start = time.perf_counter()
        config = GradeConfig(Path(scratch) / "ours", workers=args.workers, limits=Limits(cell_seconds=CELL_SECONDS))
        with Watch() as watch:
            grades = grade_class(ROOT, inbox, config)
        graded = grades.graded
        per_lab = where_the_time_goes(graded, config.course_dir)
        ours = {(lab.student, lab.lab): lab.points for lab in graded}
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
    figures = []  # what a full run keeps (benchmarks/results.py)
    for name, seconds in timings.items():
        print(f"{name + ':':<36}{seconds:7.1f} s  {seconds / count:5.1f} s per submission")
        figures.append([name, f"{seconds:.1f} s ({seconds / count:.1f} s per submission)"])
    if len(timings) == 2:
        ours_seconds, theirs_seconds = timings.values()
        print(f"ratio nbgrader / course grade:      {theirs_seconds / ours_seconds:7.2f}x")
        figures.append(["ratio nbgrader / course grade", f"{theirs_seconds / ours_seconds:.2f}x"])
    print()
    phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in grades.phases.items())
    print(f"course grade, by phase: {phases}")
    figures.append(["course grade, by phase", phases])
    header = f"{'lab':<26}{'submissions':>12}{'s each':>8}{'test cells':>12}{'(checks)':>10}{'other cells':>13}"
    print(header + f"{'around cells':>14}")
    for name, (seconds, tests, checks, others, runs) in per_lab.items():
        row = f"{name:<26}{runs:>12.0f}{seconds:>8.1f}{tests:>12.1f}{checks:>10.1f}{others:>13.1f}"
        print(row + f"{seconds - tests - others:>14.1f}")
        split = f"test cells {tests:.1f} (checks {checks:.1f}), other cells {others:.1f}"
        figures.append([f"{name}, s per submission", f"{seconds:.1f}: {split}, around {seconds - tests - others:.1f}"])
    check_share = sum(lab.check_seconds for lab in graded) / max(sum(lab.seconds for lab in graded), 1e-9)
    print(f"The checks apart from the kernel took {check_share:.1%} of the submissions' run time.")
    figures.append(["the checks' share of the run time", f"{check_share:.1%}"])
    peaks = (
        f"{watch.peak_total / 2**30:.2f} GiB in all ({watch.peak_processes} processes), "
        f"{watch.peak_process / 2**30:.2f} GiB in one process; open files in the grader: {watch.files_at_start} "
        f"before, {watch.peak_files} at most, {watch.files_at_end} after"
    )
    print(
        f"Peaks while grading: {peaks} (its limit: {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}); sampling them "
        f"every {watch.interval:g} s took {watch.cpu_seconds:.1f} CPU-s"
    )
    figures.append(["peaks while grading", peaks])
    projected = projection(per_lab, grades.phases, count, watch, args)
    print(projected)
    print()
    print(f"{'state':<12} {'course grade':>14} {'nbgrader':>10}   total points over the class")
    for kind in states:
        keys = [key for key in ours if kinds[key[0]] == kind]
        if keys:
            missing = sum(theirs.get(key) is None for key in keys)
            their_total = "-" if args.skip_nbgrader else f"{sum(theirs.get(key) or 0 for key in keys):g}"
            note = f"   ({missing} not graded by nbgrader)" if missing and not args.skip_nbgrader else ""
            print(f"{kind:<12} {sum(ours[key] for key in keys):>14g} {their_total:>10}{note}")
            points = f"course grade {sum(ours[key] for key in keys):g}, nbgrader {their_total}{note}"
            figures.append([f"points, {kind}", points])
    defaults = parser.parse_args([])
    whole_class = (args.students, args.labs, args.workers) == (defaults.students, defaults.labs, defaults.workers)
    if len(timings) == 2 and whole_class:
        save(f"grading_{args.kinds}", ["measure", "figure"], figures, [projected])


if __name__ == "__main__":
    main()
