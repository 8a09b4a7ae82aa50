"""Does every graded cell of every lab's solution pass whatever the seed, in the grade profile?

    python benchmarks/training_targets.py                  # every lab, seeds 0 to 9
    python benchmarks/training_targets.py lab3_ppo_sentiment --seeds 20

A learner's points must not depend on how a training run went: each lab runs its solution under the grader's profile
with ``COURSE_SEED`` set to each seed, and every test cell, the training targets included, must pass on every seed.
Prints, per lab, the cells that failed on some seed (with the seeds) and the wall time of the runs; exits with 1 if any
cell failed. Two runs at a time, one torch thread each (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from results import save

from course_utils.instructor.grading.cells import cell_key, is_test
from course_utils.instructor.notebooks import execute_notebook
from course_utils.instructor.release import available_labs

ROOT = Path(__file__).resolve().parents[1]


def run(lab: str, seed: int) -> tuple[float, list[str]]:
    """One run of the lab's solution in the grade profile: its wall time and the test cells that failed."""
    source = ROOT / "solutions" / lab / f"{lab}.ipynb"
    with tempfile.TemporaryDirectory() as scratch:
        executed = Path(scratch) / f"{lab}.ipynb"
        env = {"COURSE_PROFILE": "grade", "COURSE_SEED": str(seed), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        seconds = execute_notebook(source, executed, env=env, allow_errors=True)
        notebook = nbformat.read(executed, as_version=4)
    failed = [
        cell_key(cell)
        for cell in notebook.cells
        if is_test(cell) and any(output.output_type == "error" for output in cell.outputs)
    ]
    return seconds, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=available_labs(ROOT))
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 to N-1 (default 10)")
    args = parser.parse_args()
    jobs = [(lab, seed) for lab in args.labs for seed in range(args.seeds)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(lambda job: run(*job), jobs), strict=True))
    print(f"{'lab':<26} {'seeds passed':>12} {'grade run (s)':>14}  cells that failed (seeds)")
    failures, table = 0, []
    for lab in args.labs:
        runs = [results[(lab, seed)] for seed in range(args.seeds)]
        by_cell: dict[str, list[int]] = {}
        for seed, (_, failed) in enumerate(runs):
            for key in failed:
                by_cell.setdefault(key, []).append(seed)
        passed = sum(not failed for _, failed in runs)
        seconds = [time for time, _ in runs]
        timing = f"{statistics.median(seconds):.1f} (max {max(seconds):.1f})"
        detail = "; ".join(f"{key} ({', '.join(map(str, seeds))})" for key, seeds in by_cell.items()) or "none"
        print(f"{lab:<26} {passed:>5} of {args.seeds:<4} {timing:>14}  {detail}")
        table.append([lab, f"{passed} of {args.seeds}", timing, detail])
        failures += len(by_cell)
    if args.labs == available_labs(ROOT):
        save("training_targets", ["lab", "seeds passed", "grade run (s)", "cells that failed (seeds)"], table)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
