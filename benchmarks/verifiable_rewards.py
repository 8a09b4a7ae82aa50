"""Does Lab 5's GRPO run lift held-out accuracy whatever the seed? Its solution in the tiny profile, seeds 0 to 9.

    python benchmarks/verifiable_rewards.py             # seeds 0 to 9 (about 8 minutes on 2 cores)
    python benchmarks/verifiable_rewards.py --seeds 3

The lab's target, on every seed: GRPO with the learner's verifier, advantages and loss raises the held-out accuracy
(sampled answers, temperature 1) by at least `TARGET` over the SFT policy it starts from; exits with 1 if a seed
misses it. Prints, per seed, what the lab's text states as measurements: expert iteration's accuracy on the same
number of sampled answers, greedy accuracy on the tool problems without and with the calculator, and what the lax
verifier's run learned (its reward, its real accuracy, the share of answers only the lax verifier pays).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results import save

from course_utils.instructor.notebooks import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab5_verifiable_rewards"
TARGET = 0.25  # accuracy points GRPO must add, on every seed
ACCURACY = "strict reward (accuracy)"  # the lab's audit table's column


def run(seed: int) -> tuple[float, dict]:
    """Lab 5's solution in the tiny profile with ``seed``: its wall time and the result it reported."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {"COURSE_PROFILE": "tiny", "COURSE_SEED": str(seed), "COURSE_REPORT_DIR": scratch, "OMP_NUM_THREADS": "1"}
        seconds = execute_notebook(ROOT / "solutions" / LAB / f"{LAB}.ipynb", Path(scratch) / f"{LAB}.ipynb", env=env)
        return seconds, json.loads((Path(scratch) / f"{LAB}.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 to N-1 (default 10)")
    args = parser.parse_args()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(args.seeds)))
    table, reached, hacked_more, expert_close = [], 0, 0, 0
    for seed, (seconds, record) in enumerate(results):
        gain = record["after"] - record["before"]
        expert = record["expert_iteration_curve"][-1][1]
        sft, strict, lax = (record["audits"][name] for name in ("SFT", "GRPO, strict verifier", "GRPO, lax verifier"))
        reached += gain >= TARGET
        hacked_more += lax["hack rate"] > sft["hack rate"]
        expert_close += abs(expert - record["after"]) <= 0.1
        row = [
            str(seed),
            f"{record['before']:.2f} -> {record['after']:.2f} ({gain:+.2f})",
            f"{expert:.2f}",
            f"{record['tool_without']:.2f} / {record['tool_with']:.2f} / {record['tool_after_grpo']:.2f}",
            f"{lax['lax reward']:.2f} / {lax[ACCURACY]:.2f} (strict run {strict[ACCURACY]:.2f})",
            f"{sft['hack rate']:.2f} -> {lax['hack rate']:.2f}",
            f"{record['clip_fraction']:.3f}",
            f"{seconds:.0f} s",
        ]
        print("  ".join(row))
        table.append(row)
    summary = [
        f"{reached} of {args.seeds} seeds: GRPO adds at least {TARGET:.2f} held-out accuracy to the SFT policy.",
        f"{expert_close} of {args.seeds} seeds: expert iteration ends within 0.10 of GRPO on the same sampled answers.",
        f"{hacked_more} of {args.seeds} seeds: the lax verifier's run has a higher hack rate than the SFT policy.",
    ]
    print("\n".join(summary))
    columns = [
        "seed",
        "held-out accuracy SFT -> GRPO",
        "expert iteration, same answers",
        "tool problems, greedy: without / with tool / after GRPO with it",
        "lax run: lax reward / accuracy",
        "hack rate SFT -> lax run",
        "clip fraction",
        "lab",
    ]
    save("verifiable_rewards", columns, table, summary)
    return 0 if reached == args.seeds else 1


if __name__ == "__main__":
    sys.exit(main())
