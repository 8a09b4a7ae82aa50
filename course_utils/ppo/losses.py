"""The math of PPO for language models (Ziegler et al. 2019), as small functions on padded tensors.

Every per-token tensor has shape ``(batch, positions)`` and is aligned on the *predicted* token: position ``t``
holds the log-probability of token ``t + 1`` of the sequence and the value of the state that predicts it.
``mask`` is 1 where the predicted token is a response token and 0 on the query and on padding; nothing outside
the mask may influence a loss or a statistic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..lm import masked_mean

KL_PENALTIES = ("kl", "abs", "mse", "full")


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The unbiased variance of ``values`` where ``mask`` is 1."""
    count = mask.sum()
    if count < 2:
        raise ValueError("The variance needs at least two masked-in values.")
    centered = values - masked_mean(values, mask)
    return masked_mean(centered**2, mask) * count / (count - 1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values`` shifted to mean 0 and scaled to variance 1 over the mask; 0 outside it."""
    whitened = (values - masked_mean(values, mask)) * torch.rsqrt(masked_var(values, mask) + 1e-8)
    return whitened * mask


def last_response_index(mask: torch.Tensor) -> torch.Tensor:
    """For each row, the position of its last response token; raises if a row has none."""
    if not (mask.sum(dim=1) > 0).all():
        raise ValueError("Every row needs at least one response token in its mask.")
    return mask.shape[1] - 1 - mask.flip(1).long().argmax(dim=1)


def kl_penalty(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    kind: str = "kl",
    logits: torch.Tensor | None = None,
    ref_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """A per-token estimate of how far the policy has moved from the reference.

    - ``kl``: ``log pi - log pi_ref`` of the sampled token (an unbiased estimate of the KL, can be negative);
    - ``abs``: its absolute value; ``mse``: half its square;
    - ``full``: the exact KL between the two next-token distributions (needs both models' logits).
    """
    diff = logprobs - ref_logprobs
    if kind == "kl":
        return diff
    if kind == "abs":
        return diff.abs()
    if kind == "mse":
        return 0.5 * diff.square()
    if kind == "full":
        if logits is None or ref_logits is None:
            raise ValueError("kind='full' needs the logits of the policy and of the reference.")
        log_p, log_q = F.log_softmax(logits.float(), dim=-1), F.log_softmax(ref_logits.float(), dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(-1)
    raise ValueError(f"Unknown KL penalty {kind!r}; choose one of {', '.join(KL_PENALTIES)}.")


def kl_penalised_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """Per-token rewards: ``-kl_coef * kl`` on every response token, plus the score on the last one.

    ``scores`` is ``(batch,)``, one reward-model score per response. Outside the mask the reward is 0.
    """
    rewards = -kl_coef * kl * mask
    rows = torch.arange(len(scores), device=scores.device)
    rewards[rows, last_response_index(mask)] += scores.to(rewards.dtype)
    return rewards


def gae_advantages(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns over the response tokens.

    ``delta_t = r_t + gamma V_{t+1} - V_t`` (``V`` is 0 after the last response token) and
    ``A_t = delta_t + gamma lam A_{t+1}``; returns are ``A_t + V_t``. Both are 0 outside the mask.
    """
    positions = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(positions)):
        next_value = values[:, t + 1] * mask[:, t + 1] if t + 1 < positions else torch.zeros_like(next_advantage)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_advantage) * mask[:, t]
        next_advantage = advantages[:, t]
    return advantages, (advantages + values) * mask


def clipped_policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, cliprange: float
) -> torch.Tensor:
    """PPO's clipped surrogate loss, averaged over response tokens.

    With ``ratio = exp(log pi - log pi_old)``: ``max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps))``. Taking the
    larger (more pessimistic) loss removes any gain from moving the ratio beyond the clip range.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return masked_mean(torch.maximum(unclipped, clipped), mask)


def policy_stats(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, cliprange: float
) -> dict[str, torch.Tensor]:
    """How far an update moved the policy: the fraction of tokens whose loss was clipped, approx-KL, the mean ratio.

    approx-KL is the "k2" estimator of KL(pi_old || pi) from samples of pi_old: with log r = logp - old_logp,
    k2 = (log r)^2 / 2, low-variance and biased, but close to the true KL while the policies are close
    (J. Schulman, "Approximating KL Divergence", 2020, http://joschu.net/blog/kl-approx.html). It is what classic
    TRL logged as ``ppo/policy/approxkl``; CleanRL's ppo.py logs k3 = (r - 1) - log r, unbiased, beside it.
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return {
        "clipfrac": masked_mean((clipped > -advantages * ratio).float(), mask),
        "approxkl": masked_mean(0.5 * log_ratio.square(), mask),  # k2
        "ratio": masked_mean(ratio, mask),
    }


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float
) -> torch.Tensor:
    """The value head's clipped squared error, halved and averaged over response tokens.

    The new value may move at most ``cliprange_value`` from the value at rollout time before the error stops
    rewarding the move: ``0.5 max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)``, the same pessimism as
    the policy's clipped loss, applied to the critic.
    """
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    return 0.5 * masked_mean(torch.maximum((values - returns).square(), (clipped - returns).square()), mask)


def value_clipfrac(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float
) -> torch.Tensor:
    """The fraction of response tokens whose value loss the clipping decided (``ppo/val/clipfrac``)."""
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    return masked_mean(((clipped - returns).square() > (values - returns).square()).float(), mask)
