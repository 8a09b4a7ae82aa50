"""The capstone's measures: best-of-n sampling and its KL, preference labels from a gold reward, the KL of a policy
to its reference, the win rate of one policy's answers against another's, and what a run over-optimised.

Gao, Schulman & Hilton (2022, "Scaling laws for reward model overoptimization") optimise a *proxy* reward model and
watch a *gold* one: by best-of-n sampling, whose KL to the policy it samples from is known in closed form, and by
RL. These functions are the parts of that experiment that do not train anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from ..ppo import policy_signals
from .rewards import GoldFn, RewardsFn, gold_judge, standardised
from .sampling import Samples, sample_answers
from .world import World


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


def measured_best_of_n_kl(rewards: torch.Tensor, n: int) -> float:
    """KL(best-of-n || pi) where pi is each row's N samples taken as the policy, averaged over rows, in nats.

    Each distinct reward level l has the probability p_l of its share of the samples; with F_l the cumulative
    probability up to l (levels sorted by reward), best-of-n lands on level l with b_l = F_l^n - F_(l-1)^n, and the
    KL is sum_l b_l log(b_l / p_l) (Beirami et al. 2024). Never above `best_of_n_kl`; 0 when a row repeats one answer.

    >>> round(measured_best_of_n_kl(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), 2), 4)  # b = 1/16, 3/16, 5/16, 7/16
    0.174
    """
    if rewards.ndim != 2 or rewards.shape[1] == 0 or n < 1:
        raise ValueError(f"rewards must be (questions, N) with N >= 1 and n >= 1, got {tuple(rewards.shape)}, {n}.")
    kls = []
    for row in rewards:
        _, counts = torch.unique(row, return_counts=True)  # the levels, sorted by reward
        p = counts.double() / len(row)
        cumulative = p.cumsum(0)
        below = torch.cat([torch.zeros(1, dtype=torch.float64), cumulative[:-1]])
        b = cumulative**n - below**n
        kls.append((b * (b / p).log()).sum().item())
    return sum(kls) / len(kls)


GAO_FORMS = ("bon", "rl")


def gao_reward(d: torch.Tensor, alpha: float, beta: float, form: str) -> torch.Tensor:
    """Gao, Schulman & Hilton's (2022) reward gain at distance ``d`` = sqrt(KL) from the starting policy:
    ``d (alpha - beta d)`` for best-of-n (``form="bon"``), ``d (alpha - beta log d)`` for RL (``"rl"``).

    >>> gao_reward(torch.tensor([1.0, 2.0]), alpha=1.0, beta=0.25, form="bon").tolist()  # d (1 - d / 4)
    [0.75, 1.0]
    """
    if form not in GAO_FORMS:
        raise ValueError(f"form must be one of {GAO_FORMS}, got {form!r}.")
    return d * (alpha - beta * (d if form == "bon" else d.log()))


def fit_gao(kl: Sequence[float], rewards: Sequence[float], form: str) -> tuple[float, float]:
    """Least-squares ``(alpha, beta)`` of `gao_reward` for the points (``kl``, ``rewards``), one per evaluation, the
    first the starting policy.

    The gains are the rewards less the first (Gao et al. define R(0) = 0), on d = sqrt(KL), at the points whose KL
    is above 0 (an estimate can fall at or below 0 near the start). Both forms are linear in (alpha, beta):
    gain = alpha d - beta g(d), with g(d) = d^2 (best-of-n) or d log d (RL), a two-column least-squares problem.

    >>> [round(x, 6) for x in fit_gao([0.0, 1.0, 4.0, 9.0], [-0.5, 0.25, 0.5, 0.25], "bon")]  # gains d (1 - d/4)
    [1.0, 0.25]
    """
    if form not in GAO_FORMS:
        raise ValueError(f"form must be one of {GAO_FORMS}, got {form!r}.")
    kl, rewards = torch.as_tensor(kl, dtype=torch.float64), torch.as_tensor(rewards, dtype=torch.float64)
    keep = kl > 0
    if keep.sum() < 2:
        raise ValueError(f"Fitting two parameters needs at least two points with a KL above 0, got {int(keep.sum())}.")
    d, gain = kl[keep].sqrt(), rewards[keep] - rewards[0]
    second = d**2 if form == "bon" else d * d.log()
    solution = torch.linalg.lstsq(torch.stack([d, -second], dim=1), gain[:, None]).solution  # (2, 1)
    alpha, beta = solution.flatten().tolist()
    return alpha, beta


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


def best_of_n_curve(
    proxy: torch.Tensor,
    gold: torch.Tensor,
    ns: Sequence[int],
    select: Callable[[torch.Tensor], torch.Tensor],
    kl: Callable[[int], float],
) -> list[dict[str, float]]:
    """Proxy and gold reward of best-of-n by the proxy, for each n in ``ns``, from N samples per question.

    ``proxy`` and ``gold`` are (questions, N). Each question's N samples are cut into N // n groups of n; ``select``
    picks the best of each group by the proxy (indices, one per group); the rows average the picked samples' rewards
    over groups and questions. Using every group, not one, gives the same expectation with N / n times the samples.
    """
    if proxy.shape != gold.shape or proxy.ndim != 2:
        raise ValueError(
            f"proxy and gold must both be (questions, N), got {tuple(proxy.shape)} and {tuple(gold.shape)}."
        )
    rows = []
    for n in ns:
        groups = proxy.shape[1] // n
        if groups == 0:
            raise ValueError(f"n = {n} needs at least {n} samples per question, there are {proxy.shape[1]}.")
        proxy_groups = proxy[:, : groups * n].reshape(-1, n)  # (questions * groups, n)
        gold_groups = gold[:, : groups * n].reshape(-1, n)
        picked = torch.as_tensor(select(proxy_groups)).long().reshape(-1, 1)
        rows.append(
            {
                "n": n,
                "kl": float(kl(n)),
                "proxy": proxy_groups.gather(1, picked).mean().item(),
                "gold": gold_groups.gather(1, picked).mean().item(),
            }
        )
    return rows


def peak_then_fall(gold: Sequence[float], proxy: Sequence[float], give_back: float = 0.5) -> bool:
    """Whether a run shows over-optimisation: the proxy ends above where it started, and the gold reward rises to a
    peak before the last evaluation, then gives back at least ``give_back`` of what it gained by then.

    The test is relative to the gain, not a fixed number of reward units: the tiny and full profiles' gold judges
    score on different scales.

    >>> peak_then_fall(gold=[0.2, 1.0, 0.6, 0.1], proxy=[0.0, 0.5, 0.9, 1.2])  # gained 0.8, gave back 0.9
    True
    >>> peak_then_fall(gold=[0.2, 1.0, 0.9, 0.8], proxy=[0.0, 0.5, 0.9, 1.2])  # gave back 0.2 of 0.8 only
    False
    >>> peak_then_fall(gold=[0.2, 0.5, 0.8, 1.0], proxy=[0.0, 0.5, 0.9, 1.2])  # gold still rising
    False
    """
    if len(gold) != len(proxy) or len(gold) < 3:
        raise ValueError(f"Give at least three evaluations of both rewards, got {len(gold)} and {len(proxy)}.")
    peak = max(range(len(gold)), key=gold.__getitem__)
    gain = gold[peak] - gold[0]
    return proxy[-1] > proxy[0] and 0 < peak < len(gold) - 1 and gold[peak] - gold[-1] >= give_back * gain


def exploits(samples: Samples, proxy: RewardsFn, gold: RewardsFn, k: int = 5) -> list[dict[str, float | str]]:
    """The ``k`` answers of ``samples`` that the proxy likes most compared with the gold judge: what the policy
    learned to exploit shows here."""
    proxy_scores, gold_scores = proxy(samples.questions, samples.answers), gold(samples.questions, samples.answers)
    # On a common scale (standard scores: the two rewards have different units), the proxy's excess over the gold.
    gap = standardised(proxy_scores) - standardised(gold_scores)
    picked = gap.argsort(descending=True)[:k].tolist()
    return [
        {
            "question": samples.questions[i],
            "answer": samples.answers[i],
            "proxy": proxy_scores[i],
            "gold": gold_scores[i],
        }
        for i in picked
    ]


def route_row(
    name: str,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    sft_side: Samples,
    gold: RewardsFn,
    proxy: RewardsFn,
    win_rate: Callable[[Callable[[str, str, str], float], list[str], list[str], list[str]], float],
    max_new_tokens: int,
    seed: int,
) -> dict[str, float | str]:
    """One row of the routes' table: a LoRA-tuned policy (``model``, a PEFT model on the SFT model) answers the
    questions of ``sft_side`` with the same seed as the SFT policy did, and is compared with it: the gold win rate
    (by ``win_rate``, each pair judged in both orders), the mean gold and proxy rewards, the KL from the SFT policy
    (the adapters switched off) and the mean answer length in words."""
    side = sample_answers(model, tokenizer, world, sft_side.questions, max_new_tokens, seed)
    prefer = prefer_by(gold_judge(gold))
    return {
        "policy": name,
        "gold win rate vs SFT": win_rate(prefer, side.questions, side.answers, sft_side.answers),
        "gold reward": statistics.mean(gold(side.questions, side.answers)),
        "proxy reward": statistics.mean(proxy(side.questions, side.answers)),
        "KL from SFT": policy_signals(model, None, side.query_ids, side.response_ids, tokenizer.pad_token_id)["kl"]
        .mean()
        .item(),
        "mean length (words)": statistics.mean(len(answer.split()) for answer in side.answers),
    }
