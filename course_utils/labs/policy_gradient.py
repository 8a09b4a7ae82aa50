"""Lab 3, Part A: the policy gradient from scratch, on a toy policy before any language model.

The toy policy writes one "token" out of a handful, with probabilities ``pi = softmax(theta)``, and each token has a
known reward. The objective is the expected reward, ``J(theta) = sum_a pi(a) r(a)``. The log-derivative trick
(Williams 1992, REINFORCE) turns its gradient into an expectation we can estimate from samples alone:

    grad J = sum_a r(a) grad pi(a) = sum_a pi(a) r(a) grad log pi(a) = E_{a ~ pi}[ r(a) grad log pi(a) ]

and for a softmax policy ``grad_theta log pi(a) = onehot(a) - pi``. Subtracting a baseline ``b`` that does not
depend on the sampled tokens leaves the expectation unchanged, since ``E[grad log pi(a)] = sum_a grad pi(a) = 0``,
and can shrink the variance a lot.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# A toy vocabulary and its rewards. The rewards are all positive, as a reward model's scores may well be: without a
# baseline every sampled token is pushed up, and only the size of the push says which tokens are better.
TOY_TOKENS = ("superb", "good", "fine", "dull", "awful")
TOY_REWARDS = torch.tensor([3.0, 2.5, 2.0, 1.5, 1.0])

# (logits (vocab,), sampled tokens (n,), their rewards (n,), baseline) -> the gradient estimate (vocab,)
GradientFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


def reinforce_gradient(
    logits: torch.Tensor, tokens: torch.Tensor, rewards: torch.Tensor, baseline: float = 0.0
) -> torch.Tensor:
    """The REINFORCE estimate of ``grad J``: ``mean_i (r_i - b) (onehot(a_i) - pi)``, of shape (vocab,)."""
    probs = torch.softmax(logits, dim=-1)  # (vocab,)
    grad_log_pi = torch.nn.functional.one_hot(tokens, len(logits)).float() - probs  # (n, vocab): one row per sample
    return ((rewards - baseline).unsqueeze(-1) * grad_log_pi).mean(dim=0)


def exact_gradient(logits: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """The true ``grad J`` of the toy policy: ``pi * (r - J)``, computable here because the vocabulary is tiny."""
    probs = torch.softmax(logits, dim=-1)
    return probs * (rewards - probs @ rewards)


def expected_reward(logits: torch.Tensor, rewards: torch.Tensor) -> float:
    """``J(theta) = sum_a pi(a) r(a)``."""
    return (torch.softmax(logits, dim=-1) @ rewards).item()


def sample_tokens(logits: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` tokens drawn from ``softmax(logits)``, with replacement."""
    return torch.multinomial(torch.softmax(logits, dim=-1), n, replacement=True, generator=generator)


def train_toy_policy(
    gradient_fn: GradientFn,
    rewards: torch.Tensor = TOY_REWARDS,
    steps: int = 60,
    batch_size: int = 16,
    learning_rate: float = 0.5,
    use_baseline: bool = True,
    seed: int = 0,
) -> list[float]:
    """Gradient *ascent* on ``J`` with ``gradient_fn``'s estimates, from the uniform policy; ``J`` after each step.

    With ``use_baseline`` the baseline is the current policy's expected reward ``J(theta)``: it depends on the
    policy, not on the samples, so the estimate stays unbiased (in a language model a learned value plays this part).
    """
    generator = torch.Generator().manual_seed(seed)
    logits = torch.zeros(len(rewards))
    history = []
    for _ in range(steps):
        tokens = sample_tokens(logits, batch_size, generator)  # (batch,)
        baseline = expected_reward(logits, rewards) if use_baseline else 0.0
        logits = logits + learning_rate * gradient_fn(logits, tokens, rewards[tokens], baseline)
        history.append(expected_reward(logits, rewards))
    return history


def gradient_spread(
    gradient_fn: GradientFn,
    logits: torch.Tensor,
    rewards: torch.Tensor,
    use_baseline: bool,
    batch_size: int = 16,
    repeats: int = 500,
    seed: int = 0,
) -> tuple[torch.Tensor, float]:
    """The mean of ``repeats`` gradient estimates from independent batches, and their total variance.

    The total variance is the sum over the vocabulary of each component's variance: the mean squared distance of an
    estimate from the mean estimate. Unbiased estimators differ only in this number.
    """
    generator = torch.Generator().manual_seed(seed)
    baseline = expected_reward(logits, rewards) if use_baseline else 0.0
    estimates = torch.stack(
        [
            gradient_fn(logits, tokens, rewards[tokens], baseline)
            for tokens in (sample_tokens(logits, batch_size, generator) for _ in range(repeats))
        ]
    )  # (repeats, vocab)
    return estimates.mean(dim=0), estimates.var(dim=0).sum().item()
