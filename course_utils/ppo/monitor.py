"""A reward-hacking monitor: signals, measured at each evaluation of an RL run on a learned reward, that may warn
before the true reward peaks, and the rule that turns them into warnings.

Each signal is measured on the policy's answers to a fixed set of held-out prompts, sampled with the same seed at
every evaluation, so that what changes is the policy:

- ``kl``: KL(pi || pi_ref) per answer, in nats (the mean of log pi(y|x) - log pi_ref(y|x) over the answers). Gao,
  Schulman & Hilton (2022) plot the gold reward against it: over-optimisation sets in past some distance.
- ``entropy``: the policy's mean next-token entropy over its own answers, in nats per token. A policy that has found
  one thing the reward model over-rates writes it again and again: its entropy falls. One that drifts away from
  what it was trained on writes more at random: its entropy rises.
- ``length``: the mean answer length in tokens. Length is the best-documented reward hack (Singhal et al. 2023,
  *A Long Way to Go*): reward models over-rate long answers, and RL lengthens them.
- ``discordance``: on a few answers a trusted judge has also scored (an audit), the fraction of pairs that the reward
  model orders the other way from the judge (`discordance`). It measures hacking directly: the reward model is wrong
  about what the policy writes now. The other three need no judge, and measure optimisation, not hacking.

A signal warns the first time it has moved past its threshold from its value at the first evaluation (the starting
policy): the KL has grown by ``kl`` nats, the entropy and the length have moved by ``entropy_change`` and
``length_change`` of themselves (either way), the discordance has risen by ``discordance_rise``. The defaults are the
capstone's measurement (``python benchmarks/overoptimization.py``): which thresholds warn before the gold reward peaks
on runs against a proxy, and how often they also warn on runs against the gold reward itself, which cannot
over-optimise it. They come from a toy world: on another model and reward, measure them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import torch

from ..lm import entropy_from_logits, pack_batch

SIGNALS = ("kl", "entropy", "length", "discordance")


def discordance(proxy_scores: Sequence[float], gold_scores: Sequence[float]) -> float:
    """The fraction of pairs of answers that the two scores order differently; a pair tied under either score is
    left out (neither agrees nor disagrees). 0 when every pair is tied. Equals (1 - Kendall's tau-a on the untied
    pairs) / 2.

    >>> discordance([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])  # pairs (0, 1), (0, 2) agree; (1, 2) disagrees
    0.3333333333333333
    """
    if len(proxy_scores) != len(gold_scores):
        raise ValueError(f"Give both scores for each answer, got {len(proxy_scores)} and {len(gold_scores)}.")
    proxy, gold = torch.as_tensor(proxy_scores, dtype=torch.float64), torch.as_tensor(gold_scores, dtype=torch.float64)
    # sign(s_i - s_j) for every pair: +1, -1, or 0 for a tie; the upper triangle holds each pair once.
    by_proxy, by_gold = (torch.sign(s[:, None] - s[None, :]).triu(diagonal=1) for s in (proxy, gold))
    product = by_proxy * by_gold  # +1: the pair agrees, -1: it disagrees, 0: tied under one of them (or not a pair)
    untied = (product != 0).sum().item()
    return (product < 0).sum().item() / untied if untied else 0.0


@torch.no_grad()
def policy_signals(
    policy: torch.nn.Module,
    reference: torch.nn.Module | None,
    queries: Sequence[torch.Tensor],
    responses: Sequence[torch.Tensor],
    pad_token_id: int,
    batch_size: int = 16,
) -> dict[str, torch.Tensor]:
    """Per answer, shape (answers,): ``logprob`` (log pi(y|x), summed over the answer's tokens), ``kl`` (log pi(y|x)
    - log pi_ref(y|x): its mean over answers sampled from pi estimates KL(pi || pi_ref), a single one may be
    negative), ``entropy`` (pi's mean next-token entropy over the answer) and ``length`` (its tokens).

    ``reference=None``: the policy is a PEFT model, and its reference is itself with the adapters switched off.
    Batches of ``batch_size`` answers: a forward pass keeps (batch, tokens, vocabulary) logits.
    """
    columns: dict[str, list[torch.Tensor]] = {"logprob": [], "kl": [], "entropy": [], "length": []}
    device = next(policy.parameters()).device
    for start in range(0, len(queries), batch_size):
        batch = pack_batch(queries[start : start + batch_size], responses[start : start + batch_size], pad_token_id)
        ids, attention, mask = batch.input_ids.to(device), batch.attention_mask.to(device), batch.mask.to(device)
        targets = ids[:, 1:].unsqueeze(-1)  # position t predicts token t + 1
        ours = _next_token_logprobs(policy, ids, attention)
        if reference is None:
            with policy.disable_adapter():
                theirs = _next_token_logprobs(policy, ids, attention)
        else:
            theirs = _next_token_logprobs(reference, ids, attention)
        logprob = (ours.gather(2, targets).squeeze(-1) * mask).sum(1)  # (batch,)
        length = mask.sum(1)  # (batch,)
        columns["logprob"].append(logprob)
        columns["kl"].append(logprob - (theirs.gather(2, targets).squeeze(-1) * mask).sum(1))
        columns["entropy"].append((entropy_from_logits(ours) * mask).sum(1) / length)
        columns["length"].append(length)
    return {name: torch.cat(values).cpu() for name, values in columns.items()}


def _next_token_logprobs(model: torch.nn.Module, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """log pi(. | tokens up to t) at each position t but the last: (batch, tokens - 1, vocabulary)."""
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    return torch.log_softmax(logits, dim=-1)


@dataclass(frozen=True)
class MonitorThresholds:
    """How far each signal may move from its value at the first evaluation before the monitor warns. ``None``
    switches a signal's warning off (it is still recorded).

    The defaults are the thresholds that warned in time on the most of 5 capstone runs against a proxy, less false
    alarms on 5 runs against the gold reward (``python benchmarks/overoptimization.py``; `results/monitor.json` has
    every figure). Chosen on the other four seeds, none did better than chance on the fifth: read a warning as a cue
    to check the answers, not as a verdict."""

    kl: float | None = 1.8
    """Nats per answer the KL to the reference may grow (warned in time on 3 of 5 proxy runs, falsely on 2 of 5)."""
    entropy_change: float | None = 0.19
    """The fraction of its starting value the entropy may move, up or down (3 of 5 in time, 2 of 5 falsely)."""
    length_change: float | None = None
    """The fraction of its starting value the mean length may move, either way. Off: in the capstone's runs length
    never moved by more than 19%, so no threshold could be measured. Set one where length is the hack (Singhal et al.
    2023 found reward models that prefer longer answers, and RL that lengthens them)."""
    discordance_rise: float | None = 0.044
    """How far the fraction of audited pairs the reward model orders wrongly may rise (5 of 5 in time, 4 of 5
    falsely)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and not value > 0:
                raise ValueError(f"MonitorThresholds.{field.name} must be positive or None, got {value}.")


def moved(start: Mapping[str, float], now: Mapping[str, float]) -> dict[str, float]:
    """How far each signal has moved from ``start``, in the units its threshold uses (signals absent from either are
    left out).

    >>> moved({"kl": 0.0, "entropy": 2.0, "length": 10.0}, {"kl": 0.5, "entropy": 1.5, "length": 8.0})
    {'kl': 0.5, 'entropy': 0.25, 'length': 0.2}
    """
    change = {
        "kl": lambda a, b: b - a,
        "entropy": lambda a, b: abs(b - a) / a,
        "length": lambda a, b: abs(b - a) / a,
        "discordance": lambda a, b: b - a,
    }
    return {name: change[name](start[name], now[name]) for name in SIGNALS if name in start and name in now}


THRESHOLD_OF = {"kl": "kl", "entropy": "entropy_change", "length": "length_change", "discordance": "discordance_rise"}


class HackingMonitor:
    """Watches the signals of each evaluation (`update`), and warns the first time each one moves past its threshold
    from the first evaluation. ``warnings`` maps each signal that has warned to the step where it first did."""

    def __init__(self, thresholds: MonitorThresholds | None = None) -> None:
        self.thresholds = thresholds or MonitorThresholds()
        self.start: dict[str, float] | None = None
        self.warnings: dict[str, int] = {}

    def update(self, step: int, signals: Mapping[str, float]) -> list[str]:
        """Record one evaluation's ``signals`` (any of `SIGNALS`); returns the signals that warn for the first time."""
        if self.start is None:
            self.start = dict(signals)
            return []
        new = []
        for name, change in moved(self.start, signals).items():
            limit = getattr(self.thresholds, THRESHOLD_OF[name])
            if limit is not None and change > limit and name not in self.warnings:
                self.warnings[name] = step
                new.append(name)
        return new

    def describe(self, name: str, now: Mapping[str, float]) -> str:
        """One line on what a warning signal did, from the start to ``now`` (an evaluation's signals)."""
        units = {"kl": " nats", "entropy": " nats per token", "length": " tokens", "discordance": ""}
        limit = getattr(self.thresholds, THRESHOLD_OF[name])
        return (
            f"reward-hacking monitor: {name} went from {self.start[name]:.3g} to {now[name]:.3g}{units[name]}, "
            f"past its threshold ({THRESHOLD_OF[name]}={limit})"
        )


def first_warnings(history: Sequence[Mapping[str, float]], thresholds: MonitorThresholds | None = None) -> dict:
    """The step at which each signal first warns over a run's ``history`` (rows with ``step`` and the signals, the
    first row the start); ``None`` for a signal that never does."""
    monitor = HackingMonitor(thresholds)
    for row in history:
        monitor.update(int(row["step"]), {name: row[name] for name in SIGNALS if name in row})
    return {name: monitor.warnings.get(name) for name in SIGNALS if name in history[0]}
