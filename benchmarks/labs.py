"""Wall time and peak memory of every lab's solution in the tiny profile (or another: ``--profile grade``).

    python benchmarks/labs.py            # all labs
    python benchmarks/labs.py lab1_instruction_tuning
    python benchmarks/labs.py --profile grade

Targets, on a 2-core machine: under 60 s per lab in tiny and under 30 s in grade; Lab 5 (SFT, three GRPO runs and expert
iteration) and the capstone, Lab 6 (two PPO runs, DPO and GRPO): under 120 s in tiny and under 45 s in grade.

Each lab runs in a fresh kernel started by a fresh Python process, so the peak resident memory printed is that of
the kernel alone (the largest child the process waited for).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
import json, resource, sys
from pathlib import Path
from course_utils.instructor.notebooks import execute_notebook
env = {"COURSE_PROFILE": sys.argv[3], "HF_HUB_OFFLINE": "1"}
seconds = execute_notebook(Path(sys.argv[1]), Path(sys.argv[2]), env=env)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux reports KiB
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))
"""


def measure(lab: str, profile: str) -> dict[str, float]:
    """Run one lab's solution in its own process and return its wall time and the kernel's peak memory."""
    source = ROOT / "solutions" / lab / f"{lab}.ipynb"
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, str(source), str(Path(scratch) / f"{lab}.ipynb"), profile],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    from results import save

    from course_utils.instructor.release import available_labs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=available_labs(ROOT))
    parser.add_argument("--profile", default="tiny", choices=("tiny", "grade"))
    args = parser.parse_args()
    print(f"{'lab':<28} {'wall time':>10} {'peak memory':>12}   ({args.profile} profile)")
    rows = []
    for lab in args.labs:
        figures = measure(lab, args.profile)
        rows.append([lab, f"{figures['seconds']:.1f} s", f"{figures['peak_mib']:.0f} MiB"])
        print(f"{lab:<28} {rows[-1][1]:>10} {rows[-1][2]:>12}", flush=True)
    if args.labs == available_labs(ROOT):
        save(f"labs_{args.profile}", ["lab", "wall time", "peak memory of the kernel"], rows)


if __name__ == "__main__":
    main()
