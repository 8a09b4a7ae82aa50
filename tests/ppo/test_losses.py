"""PPO's math on tiny tensors, each against values worked out by hand (in the comments)."""

import math

import pytest
import torch

from course_utils.lm import entropy_from_logits, masked_mean
from course_utils.ppo.kl_control import AdaptiveKLController, FixedKLController
from course_utils.ppo.length_sampler import LengthSampler
from course_utils.ppo.losses import (
    clipped_policy_loss,
    clipped_value_loss,
    gae_advantages,
    kl_penalised_rewards,
    kl_penalty,
    last_response_index,
    masked_var,
    masked_whiten,
    policy_stats,
    value_clipfrac,
)

# Two-token vocabulary with logits (0, ln 3): probabilities (1/4, 3/4).
LOGITS = torch.tensor([[[0.0, math.log(3.0)]]])


def close(actual: torch.Tensor, expected, atol: float = 1e-6) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), atol=atol, rtol=0)


def test_entropy_from_logits():
    # -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.5623351
    close(entropy_from_logits(LOGITS), [[0.5623351]])


def test_masked_mean_all_and_per_row():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    close(masked_mean(values, mask), 8.0 / 3.0)  # (1 + 2 + 5) / 3
    close(masked_mean(values, mask, dim=1), [1.5, 5.0])


def test_masked_var_is_unbiased_and_ignores_masked_values():
    # Values 1, 2, 3 (100 is masked): mean 2, squared deviations 1 + 0 + 1 over n - 1 = 2.
    close(masked_var(torch.tensor([1.0, 2.0, 3.0, 100.0]), torch.tensor([1.0, 1.0, 1.0, 0.0])), 1.0)
    with pytest.raises(ValueError, match="at least two"):
        masked_var(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]))


def test_masked_whiten_standardises_inside_and_zeroes_outside():
    whitened = masked_whiten(torch.tensor([1.0, 2.0, 3.0, 100.0]), torch.tensor([1.0, 1.0, 1.0, 0.0]))
    close(whitened, [-1.0, 0.0, 1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("kl", [0.5, -1.0]), ("abs", [0.5, 1.0]), ("mse", [0.125, 0.5])],
)
def test_kl_penalty_per_token_estimates(kind, expected):
    close(kl_penalty(torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0]), kind), expected)


def test_kl_penalty_full_is_the_exact_kl_between_distributions():
    # p = (1/4, 3/4), q = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2) = 0.1308121
    unused = torch.zeros(1, 1)
    full = kl_penalty(unused, unused, "full", logits=LOGITS, ref_logits=torch.zeros(1, 1, 2))
    close(full, [[0.1308121]])
    with pytest.raises(ValueError, match="needs the logits"):
        kl_penalty(unused, unused, "full")
    with pytest.raises(ValueError, match="Unknown KL penalty 'l2'"):
        kl_penalty(unused, unused, "l2")


def test_last_response_index():
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    assert last_response_index(mask).tolist() == [2, 3, 2]
    with pytest.raises(ValueError, match="at least one response token"):
        last_response_index(torch.tensor([[0.0, 0.0]]))


def test_kl_penalised_rewards_add_the_score_on_the_last_response_token():
    kl = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    rewards = kl_penalised_rewards(torch.tensor([2.0, -1.0]), kl, mask, kl_coef=0.5)
    # Row 0: -0.5 * (0.2, 0.3) on its response, + 2 on the last; row 1: -0.5 * kl, - 1 on the last.
    close(rewards, [[0.0, -0.1, 1.85, 0.0], [-0.25, -0.3, -0.35, -1.4]])


def test_gae_by_hand_with_a_query_token_and_padding():
    # Position 0 is the query, position 3 padding: their garbage values (9, 7) must not matter.
    rewards = torch.tensor([[0.0, 0.5, 1.0, 0.0]])
    values = torch.tensor([[9.0, 0.5, 0.25, 7.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    # gamma 1, lam 0.5: delta_2 = 1 + 0 - 0.25 = 0.75 = A_2;  delta_1 = 0.5 + 0.25 - 0.5 = 0.25,
    # A_1 = 0.25 + 0.5 * 0.75 = 0.625; returns = A + V.
    advantages, returns = gae_advantages(rewards, values, mask, gamma=1.0, lam=0.5)
    close(advantages, [[0.0, 0.625, 0.75, 0.0]])
    close(returns, [[0.0, 1.125, 1.0, 0.0]])
    # lam = 1: returns are discounted rewards-to-go, whatever the values: 0.5 + 0.9 * 1.0 = 1.4, then 1.0.
    _, returns = gae_advantages(rewards, values, mask, gamma=0.9, lam=1.0)
    close(returns, [[0.0, 1.4, 1.0, 0.0]])


def test_gae_ignores_everything_outside_the_mask():
    generator = torch.Generator().manual_seed(0)
    mask = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    rewards, values = torch.randn(2, 6, generator=generator) * mask, torch.randn(2, 6, generator=generator)
    noisy_values = values + torch.randn(2, 6, generator=generator) * 100 * (1 - mask)
    expected = gae_advantages(rewards, values, mask, 1.0, 0.95)
    actual = gae_advantages(rewards, noisy_values, mask, 1.0, 0.95)
    close(actual[0], expected[0])
    close(actual[1], expected[1])
    assert (expected[0][mask == 0] == 0).all()


LOGPROBS = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))  # ratios 1.5, 0.5, 1.1 against old log-probs of 0
ZEROS = torch.zeros(1, 3)
ADVANTAGES = torch.tensor([[1.0, 1.0, -1.0]])
ALL = torch.ones(1, 3)


def test_clipped_policy_loss_by_hand():
    # Token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(-0.5, -0.8) = -0.5; token 2: max(1.1, 1.1) = 1.1.
    close(clipped_policy_loss(LOGPROBS, ZEROS, ADVANTAGES, ALL, 0.2), (-1.2 - 0.5 + 1.1) / 3)
    # Masking token 2 out leaves the mean of the first two.
    close(clipped_policy_loss(LOGPROBS, ZEROS, ADVANTAGES, torch.tensor([[1.0, 1.0, 0.0]]), 0.2), -0.85)


def test_policy_stats_by_hand():
    stats = policy_stats(LOGPROBS, ZEROS, ADVANTAGES, ALL, 0.2)
    close(stats["clipfrac"], 1.0 / 3.0)  # only token 0 is decided by the clip
    close(stats["approxkl"], 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2 + math.log(1.1) ** 2) / 3)
    close(stats["ratio"], (1.5 + 0.5 + 1.1) / 3)


def test_policy_loss_and_stats_when_nothing_moved():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5]])
    stats = policy_stats(logprobs, logprobs, ADVANTAGES, ALL, 0.2)
    assert stats["clipfrac"].item() == 0.0 and stats["approxkl"].item() == 0.0 and stats["ratio"].item() == 1.0
    close(clipped_policy_loss(logprobs, logprobs, ADVANTAGES, ALL, 0.2), -1.0 / 3.0)  # -mean(A)


def test_clipped_value_loss_by_hand():
    # Value 0 moved from 0 to 1 (clipped to 0.2): max((1-2)^2, (0.2-2)^2) = 3.24; value 1: (0+1)^2 = 1.
    args = (torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), torch.tensor([[2.0, -1.0]]), torch.ones(1, 2), 0.2)
    close(clipped_value_loss(*args), 0.5 * (3.24 + 1.0) / 2)
    close(value_clipfrac(*args), 0.5)  # only value 0's loss was decided by the clipping


def test_clipped_value_loss_gives_no_gradient_past_the_clip_towards_the_return():
    # Value 0 moved from 0 to 0.5 towards its return 2: the clipped error (0.2 - 2)^2 is larger and flat in V.
    # Value 1 moved from 0 to -0.5 away from its return 1: the unclipped error (-0.5 - 1)^2 is larger, gradient flows.
    values = torch.tensor([[0.5, -0.5]], requires_grad=True)
    returns = torch.tensor([[2.0, 1.0]])
    clipped_value_loss(values, torch.zeros(1, 2), returns, torch.ones(1, 2), 0.2).backward()
    close(values.grad, torch.tensor([[0.0, 0.5 * (-0.5 - 1.0)]]))  # d/dV of 0.5 * (V - R)^2 / 2 tokens


def test_adaptive_kl_controller_moves_towards_the_target():
    controller = AdaptiveKLController(init_kl_coef=0.2, target=6.0, horizon=10000)
    controller.update(current_kl=12.0, n_steps=128)  # error clipped to +0.2: x (1 + 0.2 * 128 / 10000)
    assert controller.value == pytest.approx(0.2 * 1.00256)
    before = controller.value
    controller.update(current_kl=3.0, n_steps=128)  # error -0.5, clipped to -0.2
    assert controller.value == pytest.approx(before * (1 - 0.00256))
    before = controller.value
    controller.update(current_kl=6.0, n_steps=128)
    assert controller.value == pytest.approx(before)
    with pytest.raises(ValueError, match="positive"):
        AdaptiveKLController(0.2, target=0.0, horizon=10000)


def test_fixed_kl_controller_stays():
    controller = FixedKLController(0.1)
    controller.update(100.0, 128)
    assert controller.value == 0.1


def test_length_sampler_excludes_max_like_the_classic_one():
    sampler = LengthSampler(2, 8, seed=0)
    draws = [sampler() for _ in range(2000)]
    assert set(draws) == set(range(2, 8))
    assert repr(sampler) == "LengthSampler(2, 8)"
    again = LengthSampler(2, 8, seed=0)
    assert [again() for _ in range(20)] == draws[:20]


@pytest.mark.parametrize(("low", "high"), [(5, 5), (0, 3), (8, 2)])
def test_length_sampler_rejects_empty_ranges(low, high):
    with pytest.raises(ValueError, match="max is excluded"):
        LengthSampler(low, high)


def test_length_sampler_rejects_non_integers():
    with pytest.raises(TypeError, match="integers"):
        LengthSampler(2.0, 8)
