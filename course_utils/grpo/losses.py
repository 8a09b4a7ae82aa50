"""The math of GRPO and its family, as small functions on padded tensors.

GRPO (Shao et al. 2024, "DeepSeekMath", section 4.1) samples a *group* of G answers to each question and replaces
PPO's learned value with the group itself: an answer's advantage is how much better its reward is than its
siblings'. Its descendants change two things, and this module has each choice as a function:

- **the advantage** of answer i in a group with rewards r_1..r_G:
  GRPO ``(r_i - mean(r)) / std(r)``; Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training", section 3.1)
  drops the std, ``r_i - mean(r)``; RLOO (Ahmadian et al. 2024, after Kool et al. 2019) subtracts the mean of the
  *other* answers, ``r_i - mean_{j != i} r_j``, which is ``G / (G - 1)`` times Dr. GRPO's;
- **the aggregation** of the per-token losses into one number: GRPO's mean over each answer's tokens, then over
  answers; DAPO's (Yu et al. 2025, section 3.3; TRL's default) sum over every token of the batch divided by their
  count; Dr. GRPO's sum divided by a constant (answers x the longest allowed answer).

The per-token loss is PPO's clipped surrogate on the ratio to the policy that sampled, plus ``beta`` times the k3
estimate of KL(pi || pi_ref) (Schulman 2020, http://joschu.net/blog/kl-approx.html): with
``log rho = log pi_ref - log pi`` of the sampled token, ``k3 = rho - log rho - 1 >= 0``. The tokens were sampled
from pi_old, not pi, so k3 is weighted by the ratio ``pi / pi_old`` as TRL does by default
(``use_bias_correction_kl``, after DeepSeek-V3.2): ``E_old[ratio k3] = E_pi[k3] = KL(pi || pi_ref)``, and its
gradient is the true KL's. DeepSeekMath's GRPO added k3 unweighted.

Per-token tensors are ``(answers, positions)`` and ``mask`` is 1 on the tokens the loss may read (the answer's
tokens, less any a tool wrote); rewards and advantages are ``(answers,)``, each group's G answers side by side.
"""

from __future__ import annotations

import torch

from ..lm import masked_mean

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
# Added to the std before dividing, as TRL does: a group whose rewards are all equal gets advantage 0, not nan.
STD_EPSILON = 1e-4


def grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``(answers,)`` rewards as ``(groups, group_size)``, one row per question; one clear line if they do not fit."""
    if group_size < 2 or rewards.ndim != 1 or len(rewards) % group_size:
        raise ValueError(
            f"Rewards must be one row of whole groups of at least 2 answers: got shape {tuple(rewards.shape)} "
            f"for group_size={group_size}."
        )
    return rewards.float().view(-1, group_size)


def grpo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """GRPO's advantage: ``(r_i - mean(r)) / (std(r) + 1e-4)`` within each group (std with Bessel's correction,
    as TRL's ``scale_rewards="group"``)."""
    groups = grouped(rewards, group_size)  # (questions, G)
    centred = groups - groups.mean(dim=1, keepdim=True)
    return (centred / (groups.std(dim=1, keepdim=True) + STD_EPSILON)).view(-1)


def dr_grpo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Dr. GRPO's advantage: ``r_i - mean(r)`` within each group (TRL's ``scale_rewards="none"``)."""
    groups = grouped(rewards, group_size)
    return (groups - groups.mean(dim=1, keepdim=True)).view(-1)


def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO's advantage: ``r_i`` minus the mean of the group's *other* rewards, ``(sum(r) - r_i) / (G - 1)``.

    The baseline does not depend on answer i, so the gradient estimate stays unbiased (Dr. GRPO's mean includes
    r_i itself, which shrinks every advantage by ``(G - 1) / G``).
    """
    groups = grouped(rewards, group_size)
    others = (groups.sum(dim=1, keepdim=True) - groups) / (group_size - 1)
    return (groups - others).view(-1)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """The k3 estimate of KL(pi || pi_ref) at each sampled token: ``rho - log rho - 1`` with
    ``log rho = log pi_ref - log pi``. Never negative, and unbiased for tokens sampled from pi."""
    log_rho = ref_logprobs - logprobs
    return torch.exp(log_rho) - log_rho - 1


def clipped_token_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, epsilon: float
) -> torch.Tensor:
    """PPO's clipped surrogate at each token, with one advantage per answer:
    ``-min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)``, ``ratio = pi / pi_old``. Shape ``(answers, positions)``."""
    ratio = torch.exp(logprobs - old_logprobs)
    advantages = advantages.unsqueeze(1)  # (answers, 1): every token of an answer shares its advantage
    return -torch.minimum(ratio * advantages, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantages)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: str, max_completion_length: int) -> torch.Tensor:
    """The per-token losses as one number, the way ``loss_type`` weighs answers of different lengths.

    - ``grpo``: each answer's mean, then the mean over answers: a token of a short answer weighs more than one of a
      long answer, so short right answers are pushed up hardest and long wrong ones pushed down least;
    - ``dapo``: the sum over every token of the batch over their count: every token weighs the same;
    - ``dr_grpo``: the sum over ``answers x max_completion_length``, a constant: every token weighs the same, and the
      loss's scale does not depend on how long this batch's answers happen to be.
    """
    if loss_type == "grpo":
        per_answer = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (answers,)
        return per_answer.mean()
    if loss_type == "dapo":
        return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (per_token.shape[0] * max_completion_length)
    raise ValueError(f"Unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}.")


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logprobs: torch.Tensor | None,
    epsilon: float,
    beta: float,
    loss_type: str,
    max_completion_length: int,
) -> torch.Tensor:
    """GRPO's loss on a batch of answers: the clipped surrogate plus ``beta`` x ratio x k3 at each token, aggregated
    as ``loss_type`` says. With ``beta = 0`` no reference is needed (``ref_logprobs=None``), TRL's default."""
    per_token = clipped_token_loss(logprobs, old_logprobs, advantages, epsilon)
    if beta:
        if ref_logprobs is None:
            raise ValueError(f"beta={beta} needs the reference's log-probabilities (ref_logprobs).")
        ratio = torch.exp(logprobs - old_logprobs)  # the tokens came from pi_old: weigh k3 back to pi
        per_token = per_token + beta * ratio * k3_kl(logprobs, ref_logprobs)
    return aggregate(per_token, mask, loss_type, max_completion_length)


def clip_fractions(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, epsilon: float
) -> dict[str, torch.Tensor]:
    """The fraction of tokens whose gradient the clip removed, as TRL logs it (``clip_ratio/*``): below
    ``1 - eps`` with a negative advantage (``low``), above ``1 + eps`` with a positive one (``high``), either
    (``region``). With one optimiser update per batch the ratio is exactly 1 and all three are 0."""
    ratio = torch.exp(logprobs - old_logprobs)
    advantages = advantages.unsqueeze(1)
    low = (ratio < 1 - epsilon) & (advantages < 0)
    high = (ratio > 1 + epsilon) & (advantages > 0)
    return {
        "low": masked_mean(low.float(), mask),
        "high": masked_mean(high.float(), mask),
        "region": masked_mean((low | high).float(), mask),
    }
