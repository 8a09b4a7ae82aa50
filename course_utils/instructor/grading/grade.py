"""`course grade`: collect a class's notebooks, repair them, run each in its own sandbox in parallel, then score,
merge into nbgrader's gradebook, and write feedback and CSV exports.

Everything lands in the course folder in nbgrader's layout, so that formgrader and ``nbgrader export`` keep working::

    gradebook.db                                   the grades (nbgrader's SQLite gradebook)
    submitted/<student>/<lab>/<lab>.ipynb          the notebook as handed in
    autograded/<student>/<lab>/<lab>.ipynb         as graded: repaired and executed
    autograded/<student>/<lab>/results.json        each question's points and reason, and the repairs
    feedback/<student>/<lab>/<lab>.html            what the student gets back
    exports/grades_by_question.csv, grades.csv, repairs.csv, not_graded.csv

A class stopped half way (Ctrl-C, ``kill -9``, a reboot) resumes: every file is replaced whole or not at all
(``durable.py``), a lab's ``results.json`` is written after its notebook and page, and it records the fingerprint of
what was graded (the file handed in, the lab's release and source, the limits). The next run grades only the
notebooks without a ``results.json`` of the same fingerprint: the rest is read back, not run again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import nbformat
from nbformat import NotebookNode
from tqdm.auto import tqdm

import course_utils

from ..release import RELEASE_DIR, SOURCE_DIR, available_labs
from ..tables import text_table
from . import durable
from .cells import RunStatus, cell_key, clear_outputs, is_checked, is_test, references
from .exports import (
    NOT_GRADED_CSV,
    QUESTIONS_CSV,
    REPAIRS_CSV,
    RESULTS,
    TOTALS_CSV,
    not_graded,
    read_result,
    read_results,
    write_exports,
    write_not_graded,
    write_results,
)
from .feedback import feedback_notebook, write_html
from .forkserver import ForkServer
from .gradebook import GRADEBOOK, record_scores, register_labs
from .limits import Limits, default_workers
from .package_view import build_view
from .repair import repair
from .sandbox import Run, namespaces_available, run_sandboxed
from .schedule import LongestLabFirst
from .scoring import GradedLab, score
from .shards import STUDENT_FOLDERS, Shard
from .submissions import DEFAULT_PATTERN, Collection, Submission, collect

T = TypeVar("T")


@dataclass(frozen=True)
class GradeConfig:
    """How a class is graded."""

    course_dir: Path  # where the gradebook, the graded notebooks, the feedback and the exports go
    labs: tuple[str, ...] = ()  # the labs to grade (default: every lab of the course)
    pattern: str = DEFAULT_PATTERN  # how a file name gives the student and the lab
    workers: int = field(default_factory=default_workers)  # submissions run at once
    limits: Limits = field(default_factory=Limits)
    shard: Shard = Shard()  # the share of the class to grade (``shards.py``): all of it by default


@dataclass
class ClassGrades:
    """The outcome of ``course grade``."""

    collection: Collection
    graded: list[GradedLab]  # every submission of the class (of the shard), graded now or found graded
    isolated: bool
    # Wall seconds by phase, in order: "collect" (find the files), "register" (the labs in nbgrader's gradebook: once
    # per lab, whatever the class's size; the kernels' fork server imports meanwhile), "repair" (read and repair each
    # file), "run" (what is left of the server's start, then the sandboxed runs, each scored and saved as it ends),
    # "record" (the gradebook and the exports).
    phases: dict[str, float] = field(default_factory=dict)
    already_graded: int = 0  # of ``graded``, found graded by an earlier run and unchanged since: not run again

    @property
    def broken(self) -> list[GradedLab]:
        """Submissions the grader could not run (grading broke, not the student)."""
        return [lab for lab in self.graded if lab.status == RunStatus.CRASHED]


def grade_class(root: Path, source: Path, config: GradeConfig, progress: bool = True) -> ClassGrades:
    """Grade every notebook in ``source`` (a folder or an LMS zip) for the course in ``root``."""
    clock = Stopwatch()
    labs = list(config.labs) or available_labs(root)
    unknown = sorted(set(labs) - set(available_labs(root)))
    if unknown:
        raise ValueError(f"No such lab: {', '.join(unknown)}. Labs: {', '.join(available_labs(root))}.")
    releases = {lab: read_lab(root, RELEASE_DIR, lab) for lab in labs}
    sources = {lab: read_lab(root, SOURCE_DIR, lab) for lab in labs}
    if unchecked := [f"{lab}: {cell}" for lab in labs for cell in unchecked_tests(sources[lab])]:
        raise ValueError(
            "Every test cell must say where its check begins (a ### CHECK line): a verdict cannot come from the "
            f"student's kernel. Without one: {', '.join(unchecked)}."
        )
    course_dir = config.course_dir.resolve()
    for folder in (*STUDENT_FOLDERS, "exports"):
        durable.remove_leftovers(course_dir / folder)  # the temporary files of a run stopped mid-write
    collection = collect(source, labs, course_dir / "submitted", config.pattern, config.shard.holds)
    write_not_graded(not_graded(collection, config.shard.reports_unowned), course_dir / "exports")
    submissions = collection.submissions
    if not submissions:
        return ClassGrades(collection, [], namespaces_available())
    labs_seen = {lab: lab_fingerprint(root, lab, config.limits) for lab in {s.lab for s in submissions}}
    digests = {(s.student, s.lab): fingerprint(labs_seen[s.lab], s.path.read_bytes()) for s in submissions}
    finished = [lab for s in submissions if (lab := graded_before(course_dir, s, digests[(s.student, s.lab)]))]
    done = {(lab.student, lab.lab) for lab in finished}
    remaining = [s for s in submissions if (s.student, s.lab) not in done]
    clock.lap("collect")
    # The kernels' fork server imports the labs' libraries (about 10 s of one core) while the labs are registered.
    with start_kernels(config.workers) if remaining else nullcontext() as kernels, ExitStack() as stack:
        register_labs(root, course_dir / GRADEBOOK, sorted({s.lab for s in submissions}))
        clock.lap("register")
        graded, runnable = [], []
        for submission in remaining:
            digest = digests[(submission.student, submission.lab)]
            try:
                submitted = nbformat.read(submission.path, as_version=4)
            except Exception as error:  # not JSON, not a notebook: graded as nothing, with the reason
                graded.append(unreadable(submission, sources[submission.lab], error, digest))
                save(course_dir, graded[-1], nbformat.v4.new_notebook(), releases[submission.lab])
                continue
            repaired, repairs = repair(submitted, releases[submission.lab], sources[submission.lab])
            clear_outputs(*repaired.cells)  # outputs a student saved are no evidence of anything
            runnable.append((submission, repaired, repairs, digest))

        def finish(index: int, run: Run) -> GradedLab:
            """Score a run and save its notebook and feedback (in the pool, while other notebooks run)."""
            submission, repaired, repairs, digest = runnable[index]
            run_note = run.detail if run.status != RunStatus.OK else ""
            results = score(repaired, run.cells, submission.student, submission.lab, run_note)
            lab = GradedLab(
                submission.student,
                submission.lab,
                results,
                repairs,
                run.status,
                run.detail,
                run.seconds,
                run.check_seconds,
                submission.origin,
                digest,
            )
            save(course_dir, lab, run.notebook or repaired, releases[lab.lab])
            return lab

        clock.lap("repair")
        if runnable:
            views = lab_views({s.lab: sources[s.lab] for s, *_ in runnable}, stack.enter_context(scratch("views")))
            graded += run_in_parallel(
                [Job(notebook, s.lab, views[s.lab]) for s, notebook, *_ in runnable],
                workers=config.workers,
                kernels=kernels,
                limits=config.limits,
                progress=progress,
                then=finish,
            )
        clock.lap("run")

    graded += finished
    record_scores(course_dir / GRADEBOOK, [result for lab in graded for result in lab.results])
    # The exports cover every lab graded in this folder so far: grading a late submission keeps the others.
    write_exports(read_results(course_dir / "autograded"), course_dir / "exports")
    graded.sort(key=lambda lab: (lab.student, lab.lab))
    clock.lap("record")
    return ClassGrades(collection, graded, namespaces_available(), clock.phases, len(finished))


def fingerprint(*parts: bytes) -> str:
    """A SHA-256 of ``parts``, each length-prefixed so that no two different sequences of parts collide."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def lab_fingerprint(root: Path, lab: str, limits: Limits) -> bytes:
    """What a lab's grades depend on besides the file handed in: its release, its source (the hidden tests) and the
    limits a notebook ran under. A change to any of them grades the lab's submissions again."""
    notebooks = [(root / folder / lab / f"{lab}.ipynb").read_bytes() for folder in (RELEASE_DIR, SOURCE_DIR)]
    return fingerprint(*notebooks, repr(limits).encode()).encode()


def graded_before(course_dir: Path, submission: Submission, digest: str) -> GradedLab | None:
    """The submission's graded lab when an earlier run finished it (its results, notebook and page are on disk) and
    nothing it depends on changed since; else None."""
    graded_dir = course_dir / "autograded" / submission.student / submission.lab
    page = course_dir / "feedback" / submission.student / submission.lab / f"{submission.lab}.html"
    if not (graded_dir / RESULTS).is_file() or not page.is_file():
        return None
    try:
        lab = read_result(graded_dir / RESULTS)
    except (ValueError, TypeError, KeyError):  # written by another version of the grader: grade it again
        return None
    return lab if lab.fingerprint == digest else None


class Stopwatch:
    """Wall seconds by phase, each phase timed from the end of the one before."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        """End ``phase`` now."""
        now = time.perf_counter()
        self.phases[phase], self.last = now - self.last, now


def read_lab(root: Path, folder: str, lab: str) -> NotebookNode:
    """A lab's notebook from ``labs/`` (the release) or ``solutions/`` (the source)."""
    return nbformat.read(root / folder / lab / f"{lab}.ipynb", as_version=4)


def unreadable(submission: Submission, source: NotebookNode, error: Exception, digest: str) -> GradedLab:
    """Zero on every question of a file that could not be read as a notebook."""
    reason = f"the file is not a readable notebook ({type(error).__name__})"
    results = score(source, {}, submission.student, submission.lab, reason)
    status, origin = RunStatus.UNREADABLE, submission.origin
    return GradedLab(submission.student, submission.lab, results, [], status, reason, origin=origin, fingerprint=digest)


@dataclass(frozen=True)
class Kernels:
    """What each graded notebook's kernel gets: its environment, and the server that forks it."""

    env: dict[str, str]
    server: ForkServer | None  # None where there are no namespaces: a plain kernel per notebook


@contextmanager
def start_kernels(workers: int) -> Iterator[Kernels]:
    """Start the fork server for ``workers`` kernels at a time (it imports in the background; see `ForkServer`)."""
    home = Path(tempfile.mkdtemp(prefix="course-home-")).resolve()  # where each kernel sees its own folder mounted
    # Torch's threads would fight over the cores: share them out between the workers.
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    env = {
        "NBGRADER_EXECUTION": "autograde",  # the labs pick the grade profile
        "COURSE_PROFILE": "",  # ... unless the grader's own environment forces another one
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    try:
        # One process imports the labs' libraries; every kernel is forked from it, imports done (forkserver.py).
        with ForkServer({**os.environ, **env}, home) if namespaces_available() else nullcontext() as server:
            yield Kernels(env, server)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class Job:
    """One notebook to run, its lab, and the view of the package its kernel sees (``package_view.py``)."""

    notebook: NotebookNode
    lab: str
    view: Path


def lab_views(sources: dict[str, NotebookNode], folder: Path) -> dict[str, Path]:
    """For each lab, the package as its kernels see it: without the lab's references."""
    package = Path(course_utils.__file__).parent
    return {lab: build_view(package, references(source), folder / lab) for lab, source in sources.items()}


def unchecked_tests(notebook: NotebookNode) -> list[str]:
    """The test cells of a lab's source that do not say where their checks begin."""
    return [cell_key(cell) for cell in notebook.cells if is_test(cell) and not is_checked(cell)]


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A temporary folder, removed on leaving."""
    folder = Path(tempfile.mkdtemp(prefix=f"course-{name}-")).resolve()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_in_parallel(
    jobs: list[Job],
    workers: int,
    kernels: Kernels,
    limits: Limits,
    progress: bool,
    then: Callable[[int, Run], T],
) -> list[T]:
    """Run each job's notebook in its own sandbox, ``workers`` at a time, the heaviest labs first (``schedule.py``).

    ``then(index, run)`` is called on each run as soon as it ends; returns what it returned, in the order of ``jobs``.
    """
    if kernels.server is not None:
        kernels.server.ready()  # a server that failed to start stops the class here, once, with its reason

    def run(index: int) -> Run:
        folder = work_root / f"{index:04d}"  # short: the kernel's socket paths are in it
        try:
            job = jobs[index]
            return run_sandboxed(job.notebook, folder, limits, kernels.env, kernels.server, view=job.view)
        except Exception as error:  # the grader's fault, not the notebook's: record it and go on with the class
            return Run(None, RunStatus.CRASHED, f"{type(error).__name__}: {error}", False, 0.0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    order = LongestLabFirst([job.lab for job in jobs])
    runs: list[T | None] = [None] * len(jobs)
    stopping = threading.Event()  # set when the grader is stopped: what runs then is cut short, never saved

    def run_until_none_left() -> None:  # one worker: the next job in ``order`` until there are none
        while not stopping.is_set() and (index := order.next()) is not None:
            began = time.perf_counter()
            ran = run(index)
            if stopping.is_set():
                return
            runs[index] = then(index, ran)
            order.done(index, time.perf_counter() - began)
            bar.update()

    bar = tqdm(total=len(jobs), desc="Grading", unit="notebook", disable=not progress)
    with scratch("grade") as work_root, bar:
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            for worker in [pool.submit(run_until_none_left) for _ in range(max(1, workers))]:
                worker.result()
        except BaseException:  # Ctrl-C: the kernels die with their server (``start_kernels``), nothing more is saved
            stopping.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return runs  # type: ignore[return-value]


def save(course_dir: Path, lab: GradedLab, executed: NotebookNode, release: NotebookNode) -> None:
    """The graded notebook and the student's feedback page, then the results (written last: they say the rest is
    there), in nbgrader's ``autograded/`` and ``feedback/`` folders."""
    graded_dir = course_dir / "autograded" / lab.student / lab.lab
    durable.write_text(graded_dir / f"{lab.lab}.ipynb", nbformat.writes(executed))
    feedback = feedback_notebook(
        executed, release, lab.results, lab.repairs, lab.detail if lab.status != RunStatus.OK else ""
    )
    write_html(feedback, course_dir / "feedback" / lab.student / lab.lab / f"{lab.lab}.html")
    write_results(lab, graded_dir)


def format_summary(grades: ClassGrades, course_dir: Path) -> str:
    """What ``course grade`` digests at the end: a row per graded lab, then what was not graded and where things are."""
    rows = [
        [
            lab.student,
            lab.lab,
            f"{lab.points:g} / {lab.max_points:g}",
            lab.status,
            f"{lab.seconds:.0f} s",
            str(len(lab.repairs)),
        ]
        for lab in grades.graded
    ]
    lines = [text_table(["student", "lab", "score", "run", "time", "repairs"], rows), ""]
    collection = grades.collection
    if collection.unknown:
        lines.append(f"Not graded, the file name does not match the pattern: {', '.join(collection.unknown)}")
    for (student, lab), files in collection.duplicates.items():
        lines.append(f"Not graded, several files for {student} and {lab}: {', '.join(files)}")
    for name, why in collection.refused.items():
        lines.append(f"Not graded, refused: {name} ({why})")
    if grades.already_graded:
        lines.append(f"Graded by an earlier run and unchanged since (not run again): {grades.already_graded} notebooks")
    if not grades.isolated:
        lines.append("Warning: no user namespaces here; submissions ran with resource limits only, not isolated.")
    for lab in grades.broken:
        lines.append(f"The grader could not run {lab.student}'s {lab.lab}: {lab.detail}")
    if grades.phases:
        lines.append("Time: " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in grades.phases.items()))
    lines.append(f"Gradebook: {course_dir / GRADEBOOK}")
    lines.append(f"Feedback:  {course_dir / 'feedback'}/<student>/<lab>/<lab>.html")
    exports = ", ".join((QUESTIONS_CSV, TOTALS_CSV, REPAIRS_CSV, NOT_GRADED_CSV))
    lines.append(f"Exports:   {course_dir / 'exports'}/{exports}")
    return "\n".join(lines)
