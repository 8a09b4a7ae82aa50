"""Training curves from a Trainer's ``state.log_history``, distributions of a reward model's scores, and rewards
against the KL from the starting policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def history_series(log_history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """The (steps, values) at which ``key`` was logged, in order."""
    points = [(entry["step"], float(entry[key])) for entry in log_history if key in entry and "step" in entry]
    return [step for step, _ in points], [value for _, value in points]


def plot_history(
    log_history: Sequence[dict[str, Any]],
    panels: Mapping[str, Sequence[str]],
    title: str,
    xlabel: str = "optimizer step",
) -> Figure:
    """Logged values against the step (``xlabel`` names it): one panel per y-axis label of ``panels`` (label ->
    logged keys).

    Training keys are drawn as lines labelled "train"; ``eval_`` keys, logged less often, as dashed markers
    labelled "eval".
    """
    figure, axes_row = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.5), squeeze=False)
    for axes, (ylabel, keys) in zip(axes_row[0], panels.items(), strict=True):
        for key in keys:
            steps, values = history_series(log_history, key)
            if steps:
                evaluation = key.startswith("eval_")
                axes.plot(steps, values, "o--" if evaluation else "-", label="eval" if evaluation else "train")
        if not axes.lines:
            plt.close(figure)
            names = " or ".join(repr(key) for key in keys)
            raise ValueError(f"log_history has no {names} entries: was the trainer trained and logging?")
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
    if len(panels) == 1:
        axes_row[0][0].set_title(title)
    else:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_loss(log_history: Sequence[dict[str, Any]], title: str = "Training loss") -> Figure:
    """Training loss (and evaluation loss, when it was logged) against the optimizer step."""
    return plot_history(log_history, {"cross-entropy loss (nats per token)": ("loss", "eval_loss")}, title)


def plot_logps(log_history: Sequence[dict[str, Any]], title: str = "Log-probabilities of the answers") -> Figure:
    """The policy's mean log-probability of the chosen and of the rejected answers during DPO, against the step.

    TRL logs them as ``logps/chosen`` and ``logps/rejected`` (``eval_`` for the held-out pairs, dashed). The margin
    grows when the gap between the two grows, which can happen while *both* fall: likelihood displacement.
    """
    figure, axes = plt.subplots(figsize=(7, 4))
    for key, colour in (("chosen", "tab:green"), ("rejected", "tab:red")):
        for prefix, style, where in (("", "-", "train"), ("eval_", "o--", "eval")):
            steps, values = history_series(log_history, f"{prefix}logps/{key}")
            if steps:
                axes.plot(steps, values, style, color=colour, label=f"{key} ({where})")
    if not axes.lines:
        plt.close(figure)
        raise ValueError("log_history has no 'logps/chosen' or 'logps/rejected' entries: was a DPOTrainer trained?")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("mean log-probability of the answer")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def plot_reward_distributions(
    chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, title: str = "Rewards on held-out pairs"
) -> Figure:
    """Histograms of a reward model's scores on pairs: chosen vs rejected rewards, and the margins between them.

    Left, the two distributions overlaid: the better the model, the less they overlap. Right, the margin
    ``r_chosen - r_rejected`` of each pair: pairs left of the line at 0 are the ones the model gets wrong.
    """
    chosen, rejected = chosen_rewards.float().cpu(), rejected_rewards.float().cpu()
    if chosen.shape != rejected.shape or chosen.ndim != 1 or len(chosen) == 0:
        shapes = f"{tuple(chosen.shape)} and {tuple(rejected.shape)}"
        raise ValueError(f"Expected two 1-D tensors of the same non-zero length, got shapes {shapes}.")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    low, high = min(chosen.min(), rejected.min()).item(), max(chosen.max(), rejected.max()).item()
    bins = torch.linspace(low, high + 1e-6, 26).tolist()
    left.hist(rejected.tolist(), bins=bins, alpha=0.6, color="tab:red", label="rejected")
    left.hist(chosen.tolist(), bins=bins, alpha=0.6, color="tab:green", label="chosen")
    left.set_xlabel("reward")
    left.set_ylabel("pairs")
    left.legend()
    margins = chosen - rejected
    right.hist(margins.tolist(), bins=25, color="tab:blue")
    right.axvline(0.0, color="black", linestyle="--", linewidth=1)
    right.set_xlabel("margin  r(chosen) - r(rejected)")
    right.set_ylabel("pairs")
    right.set_title(f"{(margins > 0).float().mean().item():.0%} of pairs ranked correctly")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_ppo_history(history: Sequence[dict[str, float]], title: str = "PPO training") -> Figure:
    """Mean reward, KL to the reference and the KL coefficient at each PPO step (``PPOTrainer.step`` statistics)."""
    if not history:
        raise ValueError("history is empty: run at least one PPO step.")
    panels = (
        ("env/reward_mean", "mean reward"),
        ("objective/kl", "KL to the reference (per response)"),
        ("objective/kl_coef", "KL coefficient"),
    )
    figure, axes_row = plt.subplots(1, len(panels), figsize=(15, 3.5))
    steps = list(range(1, len(history) + 1))
    for axes, (key, label) in zip(axes_row, panels, strict=True):
        axes.plot(steps, [stats[key] for stats in history], "-o", markersize=3)
        axes.set_xlabel("PPO step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _labelled(figure: Figure, axes: Axes, xlabel: str, ylabel: str, title: str) -> Figure:
    """One panel's figure, finished: axis labels, title, grid and legend."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def plot_curves(
    curves: Mapping[str, Sequence[Sequence[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    reference: float | None = None,
) -> Figure:
    """Curves against the step, one colour per label; a label with several runs (seeds) shows each run thin and
    their mean thick, so that the spread between runs is visible. ``reference`` draws a dashed horizontal line
    (a target, or the best value possible)."""
    if not curves or any(not runs or not all(runs) for runs in curves.values()):
        raise ValueError("Give every label at least one run with at least one value.")
    figure, axes = plt.subplots(figsize=(7, 4))
    for (label, runs), colour in zip(curves.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False):
        values = torch.tensor([list(run) for run in runs], dtype=torch.float)  # (runs, steps)
        steps = list(range(1, values.shape[1] + 1))
        if len(runs) > 1:
            for run in values:
                axes.plot(steps, run.tolist(), color=colour, alpha=0.25, linewidth=0.8)
        axes.plot(steps, values.mean(dim=0).tolist(), color=colour, linewidth=2, label=label)
    if reference is not None:
        axes.axhline(reference, color="black", linestyle="--", linewidth=1)
    return _labelled(figure, axes, xlabel, ylabel, title)


def plot_points(curves: Mapping[str, Sequence[tuple[float, float]]], xlabel: str, ylabel: str, title: str) -> Figure:
    """Curves of (x, y) points, one line with markers per label: a measure against a budget (answers sampled), or
    against a setting (a question's solve rate)."""
    if not curves or not all(curves.values()):
        raise ValueError("Give every label at least one (x, y) point.")
    figure, axes = plt.subplots(figsize=(7, 4))
    for label, points in curves.items():
        axes.plot([x for x, _ in points], [y for _, y in points], "o-", label=label)
    return _labelled(figure, axes, xlabel, ylabel, title)


def plot_reward_against_kl(
    curves: Mapping[str, Sequence[Mapping[str, float]]], title: str = "Optimising a proxy reward"
) -> Figure:
    """Proxy and gold reward against the KL distance from the SFT policy, one line per method: the figure of Gao,
    Schulman & Hilton (2022). Each row of a curve has ``"kl"``, ``"proxy"`` and ``"gold"``.

    Left, the proxy: what the optimiser sees, and drives up. Right, the gold: what we wanted, which rises, peaks and
    falls once the policy exploits the proxy's mistakes.
    """
    if not curves or not all(curves.values()):
        raise ValueError("Give at least one curve, each with at least one row of kl, proxy and gold.")
    figure, (proxy_axes, gold_axes) = plt.subplots(1, 2, figsize=(12, 4))
    for label, rows in curves.items():
        kl = [row["kl"] for row in rows]
        for axes, key in ((proxy_axes, "proxy"), (gold_axes, "gold")):
            axes.plot(kl, [row[key] for row in rows], "o-", label=label)
    for axes, ylabel in ((proxy_axes, "proxy reward (what is optimised)"), (gold_axes, "gold reward (what we want)")):
        axes.set_xlabel("KL from the SFT policy (nats per answer)")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_fitted_gains(
    fits: Mapping[str, Mapping[str, Mapping[str, Any]]], title: str = "Gao et al.'s forms, fitted"
) -> Figure:
    """Reward gained since the start against d = sqrt(KL), proxy on the left and gold on the right: each curve's
    evaluations as points, and the form fitted to them as a line of the same colour.

    ``fits[label][reward]`` (``reward`` is ``"proxy"`` or ``"gold"``) has ``"d"`` and ``"gain"``, the points, and
    ``"line"``, the fitted gain as a function of a tensor of d.
    """
    if not fits:
        raise ValueError("Give at least one curve's fits.")
    figure, axes_of = plt.subplots(1, 2, figsize=(12, 4))
    for axes, reward in zip(axes_of, ("proxy", "gold"), strict=True):
        for label, by_reward in fits.items():
            fit = by_reward[reward]
            points = axes.plot(fit["d"], fit["gain"], "o", label=label)[0]
            d = torch.linspace(1e-3, max(fit["d"]), 100)
            axes.plot(d.tolist(), fit["line"](d).tolist(), "-", color=points.get_color())
        axes.axhline(0.0, color="grey", linewidth=0.8)
        axes.set_xlabel("d = sqrt(KL from the SFT policy)")
        axes.set_ylabel(f"{reward} reward gained since the start")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


MONITOR_PANELS = {
    "gold": "gold reward (what we want)",
    "kl": "KL from the SFT policy (nats)",
    "entropy": "entropy (nats per token)",
    "length": "answer length (tokens)",
    "discordance": "proxy-gold discordance (audit)",
}


def plot_monitor(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    warnings: Mapping[str, Mapping[str, int | None]],
    title: str = "A reward-hacking monitor",
) -> Figure:
    """The gold reward and each signal of the monitor against the training step, one line per run; on each signal's
    panel a run's first warning is a cross, and on every panel its gold peak a dotted vertical line: a warning to the
    left of the line came in time.

    ``histories[run]`` are its evaluations (``step``, ``gold`` and the signals); ``warnings[run][signal]`` the step
    of the first warning, or ``None``.
    """
    if not histories:
        raise ValueError("Give at least one run's history.")
    figure, axes_of = plt.subplots(1, len(MONITOR_PANELS), figsize=(3.2 * len(MONITOR_PANELS), 3.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]  # a run's colour on every panel
    for color, (label, rows) in zip(colors, histories.items(), strict=False):
        steps = [row["step"] for row in rows]
        peak = max(rows, key=lambda row: row["gold"])["step"]
        for axes, key in zip(axes_of, MONITOR_PANELS, strict=True):
            if key not in rows[0]:
                continue
            values = [row[key] for row in rows]
            axes.plot(steps, values, "o-", color=color, label=label, markersize=3)
            axes.axvline(peak, color=color, linestyle=":")
            warned = warnings.get(label, {}).get(key)
            if warned is not None:
                axes.plot([warned], [values[steps.index(warned)]], "x", color=color, markersize=12, mew=3)
    for axes, ylabel in zip(axes_of, MONITOR_PANELS.values(), strict=True):
        axes.set_xlabel("PPO step")
        axes.set_title(ylabel, fontsize=10)
        axes.grid(alpha=0.3)
    axes_of[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
