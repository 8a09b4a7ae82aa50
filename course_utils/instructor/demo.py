"""`course demo`: run every lab as a student would (the tiny profile, or the grader's), grade the results, and print
one table."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..notebook.results import REPORT_DIR_VARIABLE, result_figures
from .grading.grade import GradeConfig, grade_class, read_lab
from .grading.simulate import solved
from .notebooks import execute_notebook
from .release import RELEASE_DIR, SOURCE_DIR, available_labs
from .tables import text_table

DEMO_STUDENT = "demo"


@dataclass(frozen=True)
class LabRun:
    """One lab executed: how long it took, what it learned, how it was graded."""

    lab: str
    seconds: float
    result: str
    score: float | None  # None when the lab was run but not graded
    max_score: float | None


def run_lab(
    root: Path, lab: str, build_dir: Path, threads: int | None = None, profile: str = "tiny"
) -> tuple[Path, float, str]:
    """Execute a lab, its answers filled in from the solution, in ``profile`` (``tiny``, or ``grade``: fewer steps).

    ``threads`` limits the kernel's torch threads (labs that run side by side must not fight over the cores).
    Returns the executed notebook, its wall time and the result the lab reported.
    """
    out_dir = build_dir / lab
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    handed_in = out_dir / f"{lab}.ipynb"
    nbformat.write(solved(read_lab(root, RELEASE_DIR, lab), read_lab(root, SOURCE_DIR, lab)), handed_in)
    env = {"COURSE_PROFILE": profile, "HF_HUB_OFFLINE": "1", REPORT_DIR_VARIABLE: str(out_dir)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    seconds = execute_notebook(handed_in, handed_in, env=env)
    report = out_dir / f"{lab}.json"
    if report.exists():
        record = json.loads(report.read_text())
        result = f"{record['metric']} {result_figures(record)}"
    else:
        result = "(no result reported)"
    return handed_in, seconds, result


def run_demo(
    root: Path, build_dir: Path, jobs: int = 1, graded: Sequence[str] = (), profile: str = "tiny"
) -> list[LabRun]:
    """Run every lab in ``profile`` (``jobs`` at a time), then grade the executed notebooks (``graded`` only, if given).

    Everything stays under ``build_dir``.
    """
    labs = available_labs(root)
    inbox = build_dir / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None

    def run(lab: str) -> tuple[float, str]:
        print(f"Running {lab} in the {profile} profile ...", flush=True)
        executed, seconds, result = run_lab(root, lab, build_dir, threads, profile)
        shutil.copy(executed, inbox / f"{DEMO_STUDENT}_{lab}.ipynb")
        return seconds, result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        timings = dict(zip(labs, pool.map(run, labs), strict=True))
    print("Grading the executed notebooks with `course grade` ...", flush=True)
    grading_dir = build_dir / "grading"
    shutil.rmtree(grading_dir, ignore_errors=True)
    grades = grade_class(root, inbox, GradeConfig(grading_dir, labs=tuple(graded or labs)))
    scores = {lab.lab: (lab.points, lab.max_points) for lab in grades.graded}
    return [LabRun(lab, *timings[lab], *scores.get(lab, (None, None))) for lab in labs]


def format_table(runs: list[LabRun]) -> str:
    """The demo's summary as a plain-text table."""
    rows = [
        [r.lab, f"{r.seconds:.1f} s", r.result, "not graded" if r.score is None else f"{r.score:g} / {r.max_score:g}"]
        for r in runs
    ]
    return text_table(["lab", "wall time", "learning metric before -> after", "score / max"], rows)
