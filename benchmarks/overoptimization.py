"""Is Lab 5's over-optimisation curve real whatever the seed? Its solution in the tiny profile, seeds 0 to 4.

    python benchmarks/overoptimization.py             # seeds 0 to 4 (about 4 minutes on 2 cores)
    python benchmarks/overoptimization.py --seeds 10

The capstone's targets, on every seed: over the PPO run the proxy reward rises, and the gold reward peaks before the
last evaluation and ends clearly below its peak (`course_utils.capstone.peak_then_fall`, a drop of at least 0.5); and
PPO's best checkpoint (the run with the tighter KL leash, stopped at its best evaluation) beats the SFT policy on gold
win rate on new questions. Prints, per seed, the gold and proxy rewards at each evaluation, the win rates of every route
and the lab's wall time; exits with 1 if a seed misses a target.

It also measures what the tighter KL leash did, as Gao, Schulman & Hilton (2022) ask it: not "is its gold peak
higher" but "is its gold reward higher *at the same KL*", the frontier. For each evaluation of the leashed run, the
loose run's gold reward at that KL (interpolated between its evaluations; points outside its range are skipped), and
the difference. Gao et al. found no gain on the frontier: the penalty acts like early stopping.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
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


def frontier_gains(loose_kl: list[float], loose_gold: list[float], kl: list[float], gold: list[float]) -> list[float]:
    """For each point (``kl``, ``gold``) of a run past its start, its gold reward less the other run's at the same KL
    (linear interpolation between the other run's evaluations, sorted by KL); points outside its KL range are skipped.

    >>> frontier_gains([0.0, 1.0, 3.0], [0.0, 1.0, 0.0], [0.0, 2.0, 4.0], [0.0, 1.0, 1.0])
    [0.5]
    """
    order = np.argsort(loose_kl)
    xs, ys = np.asarray(loose_kl)[order], np.asarray(loose_gold)[order]
    return [float(g - np.interp(k, xs, ys)) for k, g in zip(kl[1:], gold[1:], strict=True) if xs[0] <= k <= xs[-1]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 to N-1 (default 5)")
    args = parser.parse_args()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(args.seeds)))
    shown = beaten = higher_peaks = frontier = 0
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
        leashed_kl, leashed_gold = record["leashed_kl_curve"], record["leashed_gold_curve"]
        leashed_peak = max(range(len(leashed_gold)), key=leashed_gold.__getitem__)
        gains = frontier_gains(record["kl_curve"], gold, leashed_kl, leashed_gold)
        leash = (
            f"peak {leashed_gold[leashed_peak]:+.2f} at KL {leashed_kl[leashed_peak]:.2f} "
            f"(loose: {gold[peak]:+.2f} at KL {record['kl_curve'][peak]:.2f}); at equal KL, gold "
            + (f"{statistics.mean(gains):+.2f} on average over {len(gains)} points" if gains else "not comparable")
        )
        print(f"    KL 0.1 against KL 0.01: {leash}")
        higher_peaks += leashed_gold[leashed_peak] > gold[peak]
        frontier += bool(gains) and statistics.mean(gains) > 0
        shown += record["overoptimised"] == 1.0
        beaten += record["best_win_rate"] > 0.5
        table.append(
            [
                str(seed),
                verdict,
                f"{gold[0]:+.2f} -> {gold[peak]:+.2f} (step {record['steps'][peak]}) -> {gold[-1]:+.2f}",
                f"{proxy[0]:+.2f} -> {proxy[-1]:+.2f}",
                f"{record['best_win_rate']:.2f} / {record['dpo_win_rate']:.2f} / {record['grpo_win_rate']:.2f}",
                leash,
                f"{seconds:.0f} s",
            ]
        )
    summary = [
        f"{shown} of {args.seeds} seeds show the proxy rising while the gold peaks and falls.",
        f"{beaten} of {args.seeds} seeds: PPO's best checkpoint beats the SFT policy on gold win rate.",
        f"{higher_peaks} of {args.seeds} seeds: the leashed run's gold peak is higher than the loose run's.",
        f"{frontier} of {args.seeds} seeds: at equal KL, the leashed run's gold is higher on average (the frontier).",
    ]
    print("\n".join(summary))
    columns = [
        "seed",
        "verdict",
        "gold: start -> peak -> end",
        "proxy",
        "gold win rate vs SFT: PPO / DPO / GRPO",
        "KL 0.1 against KL 0.01",
        "lab",
    ]
    save("overoptimization", columns, table, summary)
    return 0 if shown == beaten == args.seeds else 1


if __name__ == "__main__":
    sys.exit(main())
