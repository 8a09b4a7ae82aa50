"""The capstone's measuring tools: best-of-n sampling and its KL, preference labels from a gold reward, and the win
rate of one policy's answers against another's.

Gao, Schulman & Hilton (2022, "Scaling laws for reward model overoptimization") optimise a *proxy* reward model and
watch a *gold* one: by best-of-n sampling, whose KL to the policy it samples from is known in closed form, and by
RL. These functions are the parts of that experiment that do not train anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

GoldFn = Callable[[str, str], float]  # (prompt, answer) -> reward


def best_of_n(rewards: torch.Tensor) -> torch.Tensor:
    """For each prompt, the index of its best of n candidates: ``rewards`` is (prompts, n), the result (prompts,).

    The first of equal rewards wins (``argmax``'s rule).

    >>> best_of_n(torch.tensor([[0.1, 0.7, 0.7], [2.0, -1.0, 0.0]])).tolist()
    [1, 0]
    """
    if rewards.ndim != 2 or rewards.shape[1] == 0:
        raise ValueError(f"rewards must be (prompts, n) with n >= 1, got shape {tuple(rewards.shape)}.")
    return rewards.argmax(dim=1)


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || the policy it samples from) = log n - (n - 1) / n, in nats (Stiennon et al. 2020; the x-axis
    of Gao et al. 2022's best-of-n curves).

    Best-of-n keeps the answer whose reward ranks first of n draws: an answer at quantile q of the reward is kept with
    density n q^(n-1), and the KL is the mean of its log, log n - (n - 1) / n. It grows like log n: 64 samples buy
    about 3.2 nats. Exact when no answer is likely to be drawn twice; otherwise an upper bound (Beirami et al. 2024).

    >>> round(best_of_n_kl(2), 4)  # log 2 - 1/2
    0.1931
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    return math.log(n) - (n - 1) / n


def gold_pairs(
    gold: GoldFn, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]
) -> list[dict[str, str]]:
    """Preference pairs labelled by ``gold``: for each prompt, its two answers as chosen and rejected.

    Pairs the gold reward cannot tell apart (equal rewards) are left out: they teach a reward model nothing.
    """
    if not len(prompts) == len(first) == len(second):
        raise ValueError(f"Give two answers per prompt: {len(prompts)} prompts, {len(first)} and {len(second)}.")
    pairs = []
    for prompt, a, b in zip(prompts, first, second, strict=True):
        reward_a, reward_b = gold(prompt, a), gold(prompt, b)
        if reward_a != reward_b:
            chosen, rejected = (a, b) if reward_a > reward_b else (b, a)
            pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return pairs


def win_rate(
    prefer: Callable[[str, str, str], float], prompts: Sequence[str], ours: Sequence[str], theirs: Sequence[str]
) -> float:
    """How often ``ours`` beats ``theirs``, each pair judged in both orders, a tie counting half.

    ``prefer(prompt, a, b)`` is the judge's probability that ``a`` is the better answer (a pairwise judge may favour
    the first answer it reads; asking in both orders cancels that). For a judge that is a reward, see `prefer_by`.
    """
    if not len(prompts) == len(ours) == len(theirs) or not prompts:
        raise ValueError(
            f"Give one answer of each per prompt, at least one: {len(prompts)}, {len(ours)}, {len(theirs)}."
        )
    wins = [
        (prefer(prompt, a, b) + 1.0 - prefer(prompt, b, a)) / 2
        for prompt, a, b in zip(prompts, ours, theirs, strict=True)
    ]
    return sum(wins) / len(wins)


def prefer_by(reward: GoldFn) -> Callable[[str, str, str], float]:
    """A pairwise judge from a reward: 1 when the first answer's reward is higher, 0 when lower, 0.5 on a tie."""

    def prefer(prompt: str, a: str, b: str) -> float:
        reward_a, reward_b = reward(prompt, a), reward(prompt, b)
        return 1.0 if reward_a > reward_b else 0.0 if reward_a < reward_b else 0.5

    return prefer
