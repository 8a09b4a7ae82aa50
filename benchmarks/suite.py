"""Where `make test`'s time goes: each test file run alone, its wall time and the CPU-seconds the machine spent.

    python benchmarks/suite.py                          # every test file, the costliest first (about 17 minutes)
    python benchmarks/suite.py tests/runtime/test_full_profile.py tests/instructor/grading/test_pipeline.py

`make test` must take under 8 minutes on 2 cores, and the suite under 800 CPU-seconds. The suite is CPU-bound (two
pytest workers, each running notebooks two kernels at a time: vmstat shows no idle time for most of a run), so what a
file costs is its CPU time.
Each file run alone also pays pytest's start-up (the conftest imports PyTorch and the package: 8 to 13 CPU-s,
measured), which the suite pays once per worker: it is measured once, printed, and taken off every file's CPU time in
the last column (not below 0: the start-up itself varies by a few seconds, and the smallest files are nothing else).
The last line estimates the suite's wall time: those figures plus one start-up per core, divided by the cores. It is
an estimate, not a bound: files run together cost no more than alone.

CPU time is read for the whole machine from /proc/stat (Linux), not from the child processes' accounting: the
grader's sandboxed kernels are forked by a server, and no process this script waits for is their parent. So keep the
machine otherwise idle while it runs; its speed also varies from day to day, so compare files measured together.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from results import save

ROOT = Path(__file__).resolve().parents[1]
# The fields of /proc/stat's "cpu" line that are work: user, nice, system, irq, softirq (not idle, iowait or steal).
BUSY_FIELDS = (0, 1, 2, 5, 6)
START_UP = ["--collect-only", "tests/conftest.py"]  # loads the conftest, collects nothing


def busy_seconds(stat: str) -> float:
    """The CPU-seconds all cores have spent working since boot, from the text of /proc/stat.

    >>> busy_seconds("cpu  100 0 50 1000 7 3 2 0 0 0\\ncpu0 50 0 25 500 3 1 1 0 0 0\\n") * os.sysconf("SC_CLK_TCK")
    155.0
    """
    ticks = [int(field) for field in stat.splitlines()[0].split()[1:]]
    return sum(ticks[i] for i in BUSY_FIELDS) / os.sysconf("SC_CLK_TCK")


def measure(pytest_args: list[str]) -> tuple[float, float, int]:
    """Run pytest alone with these arguments: (wall seconds, busy CPU-seconds of the machine, pytest's exit status)."""
    busy_before, start = busy_seconds(Path("/proc/stat").read_text()), time.perf_counter()
    status = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args], cwd=ROOT, capture_output=True
    ).returncode
    return time.perf_counter() - start, busy_seconds(Path("/proc/stat").read_text()) - busy_before, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="test files (default: every tests/**/test_*.py)")
    args = parser.parse_args()
    files = args.files or sorted(ROOT.glob("tests/**/test_*.py"))
    start_up_wall, start_up, _ = min(measure(START_UP) for _ in range(2))  # the first may read cold caches
    rows = []
    for test_file in files:
        wall, cpu, status = measure([str(test_file)])
        rows.append((max(0.0, cpu - start_up), cpu, wall, status, test_file.resolve().relative_to(ROOT)))
        print(f"measured {rows[-1][4]}: {wall:.1f} s, {cpu:.1f} CPU-s", file=sys.stderr, flush=True)
    print(f"{'test file':<48} {'wall':>8} {'CPU':>10} {'CPU beyond start-up':>20}  pytest")
    print(f"{'start-up: conftest, no test':<48} {start_up_wall:>6.1f} s {start_up:>6.1f} CPU-s")
    table = []
    for beyond, cpu, wall, status, name in sorted(rows, reverse=True):
        outcome = "passed" if status == 0 else f"exit {status}"
        table.append([str(name), f"{wall:.1f} s", f"{cpu:.1f} CPU-s", f"{beyond:.1f} CPU-s", outcome])
        print(f"{str(name):<48} {wall:>6.1f} s {cpu:>6.1f} CPU-s {beyond:>14.1f} CPU-s  {outcome}")
    cores = os.cpu_count() or 1
    total = sum(row[0] for row in rows) + cores * start_up
    summary = f"all, a start-up per core: {total:.1f} CPU-s, about {total / cores:.0f} s of wall time"
    print(f"{'all, a start-up per core':<48} {'':>19} {total:>14.1f} CPU-s  about {total / cores:.0f} s of wall time")
    if not args.files:
        start = f"pytest's start-up (the conftest, no test): {start_up_wall:.1f} s, {start_up:.1f} CPU-s"
        save("suite", ["test file", "wall", "CPU", "CPU beyond start-up", "pytest"], table, [start, summary])


if __name__ == "__main__":
    main()
