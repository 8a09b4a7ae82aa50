"""Which signals of the reward-hacking monitor warn before the gold reward peaks, and how often they warn on a run
that cannot over-optimise: the measurement behind `course_utils.ppo.MonitorThresholds`.

    python benchmarks/monitor.py FOLDER SEED    # the runs of one seed, in a folder where Lab 6's solution ran
    python benchmarks/monitor.py --analyse build/monitor_runs.json    # the analysis again, from the kept runs

`benchmarks/overoptimization.py` calls it for each seed after the lab (which leaves its SFT policy and proxy reward
model in the folder), keeps every run's evaluations in `build/monitor_runs.json` and prints and saves the analysis
(`results/monitor.json`). Per seed, two PPO runs with the lab's `tiny` settings (LoRA, KL
coefficient 0.01, 24 steps of 32 answers), evaluated at *every* step on 128 held-out questions, the discordance on
the first 32 of their answers:

- against the normalised **proxy**, as the lab's main run: the run the monitor must warn about in time;
- against the normalised **gold** reward: the control. It optimises the judge itself, so it cannot over-optimise
  the judge; any warning on it is a false alarm.

A signal warns *in time* on a proxy run when it has moved past its threshold at or before the evaluation where the
gold reward peaks. On a gold run it *false-alarms* when it moves past its threshold before that run's gold peak: it
would have stopped a run that was still improving the true reward. (At the lab's learning rate a run against the gold
drifts too, and its gold reward falls late in the run; a warning after its peak is no false alarm.)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

STEPS, BATCH, EVAL_QUESTIONS, AUDIT = 24, 32, 128, 32


def runs(folder: Path, seed: int) -> dict[str, list[dict[str, float]]]:
    """PPO against the normalised proxy and against the normalised gold reward, from the SFT policy of ``folder``."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    from course_utils import capstone
    from course_utils.ppo import PPOConfig, PPOTrainer, lora_policy
    from course_utils.runtime.loaders import load_saved_reward_model, load_tokenizer
    from course_utils.runtime.profiles import Profile

    profile = Profile("tiny", "cpu")
    sft_dir = str(folder / "lab6-sft-model")
    world, tokenizer = capstone.load_world(profile), load_tokenizer(sft_dir)
    proxy_model, proxy_tokenizer = load_saved_reward_model(folder / "lab6-proxy-model", "cpu")
    proxy = capstone.proxy_rewards(proxy_model, proxy_tokenizer, world)
    rewards = {"proxy": proxy, "gold": capstone.load_gold_reward(profile)}
    sample = capstone.sampler(tokenizer, world, max_new_tokens=40)
    draw = random.Random(seed)
    sft = AutoModelForCausalLM.from_pretrained(sft_dir).eval()
    reference = sample(sft, [draw.choice(world.questions) for _ in range(256)], seed + 4)
    eval_questions = draw.sample(world.questions, EVAL_QUESTIONS)
    lora = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules=["c_attn", "c_proj", "c_fc"],
        fan_in_fan_out=True,
    )  # fmt: skip
    histories = {}
    for name, score in rewards.items():
        scores = score(reference.questions, reference.answers)
        mean, std = statistics.mean(scores), statistics.stdev(scores)

        def reward(questions: Sequence[str], answers: Sequence[str], score=score, mean=mean, std=std) -> list[float]:
            return [(value - mean) / std for value in score(questions, answers)]

        torch.manual_seed(seed)
        config = PPOConfig(
            learning_rate=1e-3, batch_size=BATCH, mini_batch_size=16, init_kl_coef=0.01, adap_kl_ctrl=False, seed=seed
        )
        trainer = PPOTrainer(config, lora_policy(sft_dir, lora, "cpu"), tokenizer)
        run = capstone.PPORun(sample, eval_questions, rewards["proxy"], rewards["gold"], seed=seed)
        capstone.rlhf_loop(trainer, run, sample, reward, world.questions, STEPS, eval_every=1, seed=seed)
        run.audit(AUDIT)
        histories[name] = run.history
    return histories


def largest_moves(history: Sequence[Mapping[str, float]], before_peak: bool) -> dict[str, float]:
    """For each signal, the largest move from the first evaluation, in the units of its threshold, over the
    evaluations up to the gold reward's peak: that one included, or (``before_peak``) not."""
    from course_utils.ppo.monitor import SIGNALS, moved

    start = {name: history[0][name] for name in SIGNALS}
    peak = max(history, key=lambda row: row["gold"])["step"]
    rows = [row for row in history[1:] if row["step"] < peak or (row["step"] == peak and not before_peak)]
    moves = [moved(start, row) for row in rows]
    return {name: max((move[name] for move in moves), default=float("-inf")) for name in SIGNALS}


def analyse(seeds: Mapping[int, Mapping[str, Sequence[Mapping[str, float]]]]) -> tuple[list[list[str]], list[str]]:
    """Per signal: the move it had made by the gold peak on each proxy run, and before it on each gold run; with
    the shipped thresholds, how many proxy runs it warned in time and how many gold runs it false-alarmed on; then the
    same for the threshold `choose_threshold` picks on every seed, and for one picked on the other seeds (leave one
    seed out): the honest count, the threshold not having seen the run it is counted on."""
    from course_utils.ppo.monitor import SIGNALS, THRESHOLD_OF, MonitorThresholds

    shipped = MonitorThresholds()
    in_time: dict[str, dict[int, float]] = {name: {} for name in SIGNALS}  # the move by the peak, per proxy run
    alarms: dict[str, dict[int, float]] = {name: {} for name in SIGNALS}  # the move before the peak, per gold run
    for seed, histories in seeds.items():
        for name, move in largest_moves(histories["proxy"], before_peak=False).items():
            in_time[name][seed] = move
        for name, move in largest_moves(histories["gold"], before_peak=True).items():
            alarms[name][seed] = move
    rows, summary = [], []
    for name in SIGNALS:
        limit = getattr(shipped, THRESHOLD_OF[name])
        warned = sum(move > limit for move in in_time[name].values()) if limit is not None else 0
        false = sum(move > limit for move in alarms[name].values()) if limit is not None else 0
        everywhere = choose_threshold(list(in_time[name].values()), list(alarms[name].values()))
        chosen_warned = sum(move > everywhere for move in in_time[name].values())
        chosen_false = sum(move > everywhere for move in alarms[name].values())
        held_out_warned = held_out_false = 0
        for seed in seeds:
            chosen = choose_threshold(
                [move for other, move in in_time[name].items() if other != seed],
                [move for other, move in alarms[name].items() if other != seed],
            )
            held_out_warned += in_time[name][seed] > chosen
            held_out_false += alarms[name][seed] > chosen
        rows.append(
            [
                name,
                " ".join(f"{move:.3f}" for move in in_time[name].values()),
                " ".join(f"{move:.3f}" for move in alarms[name].values()),
                f"{limit}: {warned}/{len(seeds)} in time, {false}/{len(seeds)} false alarms",
                f"{everywhere:.3f}: {chosen_warned}/{len(seeds)} in time, {chosen_false}/{len(seeds)} false alarms",
                f"{held_out_warned}/{len(seeds)} in time, {held_out_false}/{len(seeds)} false alarms",
            ]
        )
        shipped_rule = f"{name} > {limit}" if limit is not None else f"{name} (off)"
        summary.append(
            f"monitor, {shipped_rule}: warned in time on {warned} of {len(seeds)} proxy runs, "
            f"false alarm on {false} of {len(seeds)} gold runs; chosen on the other seeds, {held_out_warned} in time "
            f"and {held_out_false} false"
        )
    return rows, summary


def choose_threshold(by_peak: Sequence[float], on_control: Sequence[float]) -> float:
    """The threshold that warns in time on the most proxy runs less false alarms on the gold runs, among the values
    seen (each, just below it); the largest such when several tie (fewer false alarms on new runs); infinity (never
    warn) when none does better than warning never.

    >>> round(choose_threshold([0.5, 0.8, 0.9], [0.2, 0.6]), 6)  # two in time, no false alarm
    0.8
    """
    best, best_score = float("inf"), 0  # never warning: no run warned, no false alarm
    for value in sorted({*by_peak, *on_control} - {float("-inf")}):
        threshold = value - 1e-9
        score = sum(move > threshold for move in by_peak) - sum(move > threshold for move in on_control)
        if score >= best_score and score > 0:
            best, best_score = threshold, score
    return best


COLUMNS = [
    "signal",
    "move by the gold peak, proxy runs",
    "move before the gold peak, gold runs",
    "shipped threshold",
    "threshold chosen on every seed",
    "threshold chosen on the other seeds",
]


def report(seeds: Mapping[int, Mapping[str, Sequence[Mapping[str, float]]]]) -> None:
    """Print the analysis of the runs of every seed, and keep it in ``results/monitor.json``."""
    from results import save

    rows, summary = analyse(seeds)
    for row in rows:
        print("    ".join(row))
    print("\n".join(summary))
    save("monitor", COLUMNS, rows, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="where Lab 6's solution ran (its SFT policy and proxy)")
    parser.add_argument("seed", nargs="?", type=int, help="the seed the lab ran with")
    parser.add_argument("--analyse", type=Path, metavar="RUNS", help="analyse the runs kept in this file instead")
    args = parser.parse_args()
    if args.analyse:
        report({int(seed): histories for seed, histories in json.loads(args.analyse.read_text()).items()})
    elif args.folder is not None and args.seed is not None:
        (args.folder / "monitor.json").write_text(json.dumps(runs(args.folder, args.seed)))
    else:
        parser.error("give FOLDER and SEED, or --analyse RUNS")


if __name__ == "__main__":
    main()
