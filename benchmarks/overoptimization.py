"""Is Lab 6's over-optimisation curve real whatever the seed? Its solution in the tiny profile, seeds 0 to 4.

    python benchmarks/overoptimization.py             # seeds 0 to 4 (about 15 minutes on 2 cores)
    python benchmarks/overoptimization.py --seeds 10

The capstone's target, on every seed: over the PPO run the proxy reward rises, and the gold reward rises to a peak
before the last evaluation and then gives back at least half of its gain (`course_utils.capstone.peak_then_fall`);
exits with 1 if a seed misses it. Prints, per seed, the gold and proxy rewards at each evaluation, the lab's wall
time, and the gold win rate against the SFT policy on new questions of every route (PPO's best checkpoint being the
leashed run stopped at its best evaluation): a measurement of what the routes did, not a target the lab promises.

It also measures what the tighter KL leash did, as Gao, Schulman & Hilton (2022) ask it: not "is its gold peak
higher" but "is its gold reward higher *at the same KL*", the frontier. For each evaluation of the leashed run, the
loose run's gold reward at that KL (interpolated between its evaluations; points outside its range are skipped), and
the difference. Gao et al. found no gain on the frontier: the penalty acts like early stopping.

And it measures the reward-hacking monitor (`benchmarks/monitor.py`): per seed, from the lab's SFT policy and proxy,
a PPO run against the proxy and one against the gold reward, both evaluated at every step; which signals warn before
the gold reward peaks on the first, and which raise a false alarm on the second. Kept in `results/monitor.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from monitor import report
from results import save

from course_utils.instructor.notebooks import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab6_rlhf_capstone"


def run(seed: int) -> tuple[float, dict, dict]:
    """Lab 6's solution in the tiny profile with ``seed``: its wall time, the result it reported, and the monitor's
    runs from its SFT policy and proxy (`monitor.runs`)."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {"COURSE_PROFILE": "tiny", "COURSE_SEED": str(seed), "COURSE_REPORT_DIR": scratch, "OMP_NUM_THREADS": "1"}
        seconds = execute_notebook(ROOT / "solutions" / LAB / f"{LAB}.ipynb", Path(scratch) / f"{LAB}.ipynb", env=env)
        command = [sys.executable, str(ROOT / "benchmarks" / "monitor.py"), scratch, str(seed)]
        subprocess.run(command, check=True, env={**os.environ, **env}, capture_output=True)
        return (
            seconds,
            json.loads((Path(scratch) / f"{LAB}.json").read_text()),
            json.loads((Path(scratch) / "monitor.json").read_text()),
        )


# The routes of the lab's table, as the results table names them.
ROUTE_NAMES = {
    "PPO, last step (KL 0.01)": "PPO last",
    "PPO, best checkpoint (KL 0.01)": "PPO best",
    "PPO, best checkpoint (KL 0.1)": "leashed best",
    "GRPO against the proxy": "GRPO",
    "DPO on the gold-labelled pairs": "DPO",
}


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
    for seed, (seconds, record, _) in enumerate(results):
        gold, proxy = record["gold_curve"], record["proxy_curve"]
        peak = max(range(len(gold)), key=gold.__getitem__)
        verdict = "over-optimised" if record["overoptimised"] == 1.0 else "NOT over-optimised"
        print(
            f"seed {seed}: {verdict}; gold {gold[0]:+.2f} -> peak {gold[peak]:+.2f} (step {record['steps'][peak]}) "
            f"-> {gold[-1]:+.2f} (gave back {gold[peak] - gold[-1]:.2f} of {gold[peak] - gold[0]:.2f}); "
            f"proxy {proxy[0]:+.2f} -> {proxy[-1]:+.2f}; lab {seconds:.0f} s"
        )
        print(
            f"    gold win rate vs SFT: PPO best checkpoint {record['best_win_rate']:.2f}, "
            f"DPO {record['dpo_win_rate']:.2f}, GRPO {record['grpo_win_rate']:.2f}"
        )
        for route in record["routes"]:
            print(
                f"    {route['policy']}: KL {route['KL from SFT']:.2f}, gold {route['gold reward']:+.2f}, "
                f"proxy {route['proxy reward']:+.2f}, win rate {route['gold win rate vs SFT']:.2f}"
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
        sft = next(route for route in record["routes"] if route["policy"] == "SFT")
        travelled = "; ".join(
            f"{ROUTE_NAMES[route['policy']]} {route['KL from SFT']:.1f}, "
            f"{route['gold reward'] - sft['gold reward']:+.2f}"
            for route in record["routes"]
            if route["policy"] in ROUTE_NAMES
        )
        table.append(
            [
                str(seed),
                verdict,
                f"{gold[0]:+.2f} -> {gold[peak]:+.2f} (step {record['steps'][peak]}) -> {gold[-1]:+.2f}",
                f"{proxy[0]:+.2f} -> {proxy[-1]:+.2f}",
                f"{record['best_win_rate']:.2f} / {record['dpo_win_rate']:.2f} / {record['grpo_win_rate']:.2f}",
                leash,
                travelled,
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
        "on new questions: KL from SFT, gold minus SFT's",
        "lab",
    ]
    save("overoptimization", columns, table, summary)
    monitor_runs = {seed: histories for seed, (_, _, histories) in enumerate(results)}
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "monitor_runs.json").write_text(json.dumps(monitor_runs))
    report(monitor_runs)
    return 0 if shown == args.seeds else 1


if __name__ == "__main__":
    sys.exit(main())
