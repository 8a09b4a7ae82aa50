import math

import pytest
import torch

from course_utils.grpo import (
    aggregate,
    clip_fractions,
    clipped_token_loss,
    dr_grpo_advantages,
    grpo_advantages,
    grpo_loss,
    k3_kl,
    rloo_advantages,
)

# Two questions, four answers each: the first solved once, the second three times.
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])


def test_grpo_advantages_divide_the_centred_rewards_by_the_group_std():
    # Group 1: mean 0.25, centred (0.75, -0.25, -0.25, -0.25); std with Bessel's correction
    # sqrt((0.5625 + 3 x 0.0625) / 3) = sqrt(0.25) = 0.5; so 0.75 / 0.5001 = 1.49970 and -0.25 / 0.5001 = -0.49990.
    # Group 2 mirrors it.
    expected = torch.tensor([1.49970, -0.49990, -0.49990, -0.49990, 0.49990, 0.49990, 0.49990, -1.49970])
    torch.testing.assert_close(grpo_advantages(REWARDS, 4), expected, atol=1e-5, rtol=0)


def test_dr_grpo_advantages_only_centre():
    expected = torch.tensor([0.75, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25, -0.75])
    torch.testing.assert_close(dr_grpo_advantages(REWARDS, 4), expected)


def test_rloo_advantages_subtract_the_mean_of_the_other_answers():
    # 1 - (0 + 0 + 0) / 3 = 1; 0 - (1 + 0 + 0) / 3 = -1/3; and G / (G - 1) = 4/3 times Dr. GRPO's.
    expected = torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3, 1 / 3, 1 / 3, 1 / 3, -1.0])
    torch.testing.assert_close(rloo_advantages(REWARDS, 4), expected)
    torch.testing.assert_close(rloo_advantages(REWARDS, 4), dr_grpo_advantages(REWARDS, 4) * 4 / 3)


def test_a_group_whose_answers_all_score_the_same_has_no_advantage():
    rewards = torch.ones(4)
    for advantages in (grpo_advantages, dr_grpo_advantages, rloo_advantages):
        assert advantages(rewards, 4).abs().max() == 0


def test_advantages_need_whole_groups():
    with pytest.raises(ValueError, match="whole groups"):
        grpo_advantages(torch.ones(6), 4)


def test_clipped_token_loss_takes_the_pessimistic_side_of_the_clip():
    # ratio 1.5 with A = +1: -min(1.5, 1.2) = -1.2; with A = -1: -min(-1.5, -1.2) = 1.5.
    # ratio 0.5 with A = +1: -min(0.5, 0.8) = -0.5; with A = -1: -min(-0.5, -0.8) = 0.8.
    logprobs = torch.log(torch.tensor([[1.5, 0.5], [1.5, 0.5]]))
    old = torch.zeros(2, 2)
    loss = clipped_token_loss(logprobs, old, torch.tensor([1.0, -1.0]), epsilon=0.2)
    torch.testing.assert_close(loss, torch.tensor([[-1.2, -0.5], [1.5, 0.8]]))


def test_k3_is_rho_minus_log_rho_minus_one():
    # log pi = log 0.5, log pi_ref = log 0.25: rho = 0.5, k3 = 0.5 - log 0.5 - 1 = 0.193147
    value = k3_kl(torch.log(torch.tensor([0.5])), torch.log(torch.tensor([0.25])))
    assert value.item() == pytest.approx(0.5 + math.log(2) - 1)
    assert k3_kl(torch.tensor([-1.0]), torch.tensor([-1.0])).item() == 0


def token_weights(loss_type: str) -> torch.Tensor:
    """d loss / d per-token loss, on answers of 1 and 3 tokens (max length 4): how much each token counts."""
    per_token = torch.ones(2, 4, requires_grad=True)
    mask = torch.tensor([[1.0, 0, 0, 0], [1.0, 1, 1, 0]])
    aggregate(per_token, mask, loss_type, max_completion_length=4).backward()
    return per_token.grad


def test_grpo_aggregation_weighs_a_short_answers_tokens_more():
    # each answer's mean, then the mean of two answers: 1/2 for the lone token, 1/(2 x 3) for each of the three
    torch.testing.assert_close(token_weights("grpo"), torch.tensor([[1 / 2, 0, 0, 0], [1 / 6, 1 / 6, 1 / 6, 0]]))


def test_dapo_aggregation_weighs_every_token_alike():
    torch.testing.assert_close(token_weights("dapo"), torch.tensor([[1 / 4, 0, 0, 0], [1 / 4, 1 / 4, 1 / 4, 0]]))


def test_dr_grpo_aggregation_divides_by_a_constant():
    # 2 answers x max length 4 = 8, whatever the answers' lengths
    torch.testing.assert_close(token_weights("dr_grpo"), torch.tensor([[1 / 8, 0, 0, 0], [1 / 8, 1 / 8, 1 / 8, 0]]))


def test_unknown_aggregation_is_refused():
    with pytest.raises(ValueError, match="loss_type"):
        aggregate(torch.ones(1, 1), torch.ones(1, 1), "token_mean", 1)


def test_grpo_loss_adds_beta_ratio_k3_and_needs_the_reference_for_it():
    logprobs, old = torch.log(torch.tensor([[0.5, 0.5]])), torch.log(torch.tensor([[0.5, 0.6]]))
    ref = torch.log(torch.tensor([[0.25, 0.5]]))
    mask, advantages = torch.ones(1, 2), torch.tensor([2.0])
    options = {"epsilon": 0.2, "loss_type": "dapo", "max_completion_length": 2}
    # token 1: ratio 1, -2 + 0.1 x 1 x 0.193147; token 2: ratio 0.5/0.6 = 0.8333 inside the clip, -2 x 0.8333 + 0 (its
    # k3 is 0: pi = pi_ref there); mean of the two
    loss = grpo_loss(logprobs, old, advantages, mask, ref_logprobs=ref, beta=0.1, **options)
    assert loss.item() == pytest.approx((-2 + 0.1 * (0.5 + math.log(2) - 1) - 2 * 0.5 / 0.6) / 2)
    no_kl = grpo_loss(logprobs, old, advantages, mask, ref_logprobs=None, beta=0.0, **options)
    assert no_kl.item() == pytest.approx((-2 - 2 * 0.5 / 0.6) / 2)
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(logprobs, old, advantages, mask, ref_logprobs=None, beta=0.1, **options)


def test_clip_fractions_count_only_tokens_whose_gradient_the_clip_removed():
    # ratios 1.5, 0.5, 1.5, 1.0: the first (A > 0, above 1.2) is clipped high; the second (A > 0, below 0.8) is not
    # clipped (the min keeps the unclipped side); the third (A < 0, above) is not; the fourth is inside the range.
    logprobs = torch.log(torch.tensor([[1.5, 0.5], [1.5, 1.0]]))
    fractions = clip_fractions(logprobs, torch.zeros(2, 2), torch.tensor([1.0, -1.0]), torch.ones(2, 2), epsilon=0.2)
    assert {name: value.item() for name, value in fractions.items()} == {"low": 0.0, "high": 0.25, "region": 0.25}
