"""Is Lab 5's over-optimisation curve real whatever the seed? Its solution in the tiny profile, seeds 0 to 4.

    python benchmarks/overoptimization.py             # seeds 0 to 4 (about 4 minutes on 2 cores)
    python benchmarks/overoptimization.py --seeds 10

The capstone's targets, on every seed: over the PPO run the proxy reward rises, and the gold reward peaks before the
last evaluation and ends clearly below its peak (`course_utils.capstone.peak_then_fall`, a drop of at least 0.5); and
PPO's best checkpoint (the run with the tighter KL leash, stopped at its best evaluation) beats the SFT policy on gold
win rate on new questions. Prints, per seed, the gold and proxy rewards at each evaluation, the win rates of every route
and the lab's wall time; exits with 1 if a seed misses a target.
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
LAB = "lab5_rlhf_capstone"


def run(seed: int) -> tuple[float, dict]:
    """Lab 5's solution in the tiny profile with ``seed``: its wall time and the result it reported."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {"COURSE_PROFILE": "tiny", "COURSE_SEED": str(seed), "COURSE_REPORT_DIR": scratch, "OMP_NUM_THREADS": "1"}
        seconds = execute_notebook(ROOT / "solutions" / LAB / f"{LAB}.ipynb", Path(scratch) / f"{LAB}.ipynb", env=env)
        return seconds, json.loads((Path(scratch) / f"{LAB}.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 to N-1 (default 5)")
    args = parser.parse_args()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(args.seeds)))
    shown = beaten = 0
    table = []
    for seed, (seconds, record) in enumerate(results):
        gold, proxy = record["gold_curve"], record["proxy_curve"]
        peak = max(range(len(gold)), key=gold.__getitem__)
        verdict = "over-optimised" if record["overoptimised"] == 1.0 else "NOT over-optimised"
        print(
            f"seed {seed}: {verdict}; gold {gold[0]:+.2f} -> peak {gold[peak]:+.2f} (step {record['steps'][peak]}) "
            f"-> {gold[-1]:+.2f} (drop {gold[peak] - gold[-1]:.2f}); proxy {proxy[0]:+.2f} -> {proxy[-1]:+.2f}; "
            f"lab {seconds:.0f} s"
        )
        print(
            f"    gold win rate vs SFT: PPO best checkpoint {record['best_win_rate']:.2f}, "
            f"DPO {record['dpo_win_rate']:.2f}, GRPO {record['grpo_win_rate']:.2f}"
        )
        print("    gold  " + " ".join(f"{value:+.2f}" for value in gold))
        print("    proxy " + " ".join(f"{value:+.2f}" for value in proxy))
        shown += record["overoptimised"] == 1.0
        beaten += record["best_win_rate"] > 0.5
        table.append(
            [
                str(seed),
                verdict,
                f"{gold[0]:+.2f} -> {gold[peak]:+.2f} (step {record['steps'][peak]}) -> {gold[-1]:+.2f}",
                f"{proxy[0]:+.2f} -> {proxy[-1]:+.2f}",
                f"{record['best_win_rate']:.2f} / {record['dpo_win_rate']:.2f} / {record['grpo_win_rate']:.2f}",
                f"{seconds:.0f} s",
            ]
        )
    summary = [
        f"{shown} of {args.seeds} seeds show the proxy rising while the gold peaks and falls.",
        f"{beaten} of {args.seeds} seeds: PPO's best checkpoint beats the SFT policy on gold win rate.",
    ]
    print("\n".join(summary))
    columns = ["seed", "verdict", "gold: start -> peak -> end", "proxy", "gold win rate vs SFT: PPO / DPO / GRPO"]
    save("overoptimization", [*columns, "lab"], table, summary)
    return 0 if shown == beaten == args.seeds else 1


if __name__ == "__main__":
    sys.exit(main())
