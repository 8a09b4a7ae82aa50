"""`course demo`: run every lab in the tiny profile, autograde the results, and print one table."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .notebooks import execute_notebook
from .release import SOURCE_DIR, autograde, available_labs
from .report import REPORT_DIR_VARIABLE

DEMO_STUDENT = "demo"


@dataclass(frozen=True)
class LabRun:
    """One lab executed in the tiny profile: how long it took, what it learned, how it was graded."""

    lab: str
    seconds: float
    result: str
    score: float
    max_score: float


def run_lab(root: Path, lab: str, build_dir: Path) -> tuple[Path, float, str]:
    """Execute a lab's solution in the tiny profile; return the executed notebook, its wall time and its result."""
    out_dir = build_dir / lab
    shutil.rmtree(out_dir, ignore_errors=True)
    executed = out_dir / f"{lab}.ipynb"
    env = {"COURSE_PROFILE": "tiny", "HF_HUB_OFFLINE": "1", REPORT_DIR_VARIABLE: str(out_dir)}
    seconds = execute_notebook(root / SOURCE_DIR / lab / f"{lab}.ipynb", executed, env=env)
    report = out_dir / f"{lab}.json"
    if report.exists():
        record = json.loads(report.read_text())
        result = f"{record['metric']} {record['before']:.2f} -> {record['after']:.2f}"
    else:
        result = "(no result reported)"
    return executed, seconds, result


def run_demo(root: Path, build_dir: Path) -> list[LabRun]:
    """Run, then autograde, every lab; the executed notebooks and plots stay under ``build_dir``."""
    labs = available_labs(root)
    executed: dict[str, Path] = {}
    timings: dict[str, tuple[float, str]] = {}
    for lab in labs:
        print(f"Running {lab} in the tiny profile ...", flush=True)
        executed[lab], seconds, result = run_lab(root, lab, build_dir)
        timings[lab] = (seconds, result)
    print("Autograding the executed notebooks with nbgrader ...", flush=True)
    grading_dir = build_dir / "grading"
    shutil.rmtree(grading_dir, ignore_errors=True)
    grades = autograde(root, {DEMO_STUDENT: executed}, grading_dir)
    runs = []
    for lab in labs:
        cells = [grade for grade in grades if grade.lab == lab]
        score, max_score = sum(g.score for g in cells), sum(g.max_score for g in cells)
        runs.append(LabRun(lab, timings[lab][0], timings[lab][1], score, max_score))
    return runs


def format_table(runs: list[LabRun]) -> str:
    """The demo's summary as a plain-text table."""
    header = ("lab", "wall time", "learning metric before -> after", "score / max")
    rows = [(r.lab, f"{r.seconds:.1f} s", r.result, f"{r.score:g} / {r.max_score:g}") for r in runs]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)
