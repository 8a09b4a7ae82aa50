"""Training curves from a Trainer's ``state.log_history``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def history_series(log_history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """The (steps, values) at which ``key`` was logged, in order."""
    points = [(entry["step"], float(entry[key])) for entry in log_history if key in entry and "step" in entry]
    return [step for step, _ in points], [value for _, value in points]


def plot_loss(log_history: Sequence[dict[str, Any]], title: str = "Training loss") -> Figure:
    """Training loss (and evaluation loss, when it was logged) against the optimizer step."""
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for key, label, style in (("loss", "train", "-"), ("eval_loss", "eval", "o--")):
        steps, values = history_series(log_history, key)
        if steps:
            axes.plot(steps, values, style, label=label)
    if not axes.lines:
        plt.close(figure)
        raise ValueError("log_history has no 'loss' or 'eval_loss' entries: was the trainer trained and logging?")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("cross-entropy loss (nats per token)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure
