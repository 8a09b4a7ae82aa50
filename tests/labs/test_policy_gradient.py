import pytest
import torch

from course_utils.labs.policy_gradient import (
    TOY_REWARDS,
    exact_gradient,
    expected_reward,
    gradient_spread,
    reinforce_gradient,
    train_toy_policy,
)


def test_reinforce_gradient_by_hand():
    # pi = (1/3, 1/3, 1/3); rows (r_i - b)(onehot - pi): (2/3, -1/3, -1/3), the same, -2 * (-1/3, -1/3, 2/3)
    # sum (2, 0, -2), mean over 3 samples (2/3, 0, -2/3)
    gradient = reinforce_gradient(torch.zeros(3), torch.tensor([0, 0, 2]), torch.tensor([1.0, 1.0, -2.0]))
    torch.testing.assert_close(gradient, torch.tensor([2 / 3, 0.0, -2 / 3]))


def test_reinforce_gradient_is_autograd_of_the_surrogate():
    """mean((r - b) log pi(a)) has the REINFORCE estimate as its gradient."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, generator=generator, requires_grad=True)
    tokens, rewards = torch.randint(5, (12,), generator=generator), torch.randn(12, generator=generator)
    ((rewards - 0.3) * torch.log_softmax(logits, -1)[tokens]).mean().backward()
    torch.testing.assert_close(reinforce_gradient(logits.detach(), tokens, rewards, baseline=0.3), logits.grad)


def test_exact_gradient_is_autograd_of_the_expected_reward():
    logits = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.1], requires_grad=True)
    (torch.softmax(logits, -1) @ TOY_REWARDS).backward()
    torch.testing.assert_close(exact_gradient(logits.detach(), TOY_REWARDS), logits.grad)


def test_a_positive_reward_raises_what_was_sampled_and_a_negative_one_lowers_it():
    logits = torch.zeros(4)
    for reward, direction in ((1.0, 1), (-1.0, -1)):
        stepped = logits + reinforce_gradient(logits, torch.tensor([2]), torch.tensor([reward]))
        change = torch.softmax(stepped, -1)[2] - torch.softmax(logits, -1)[2]
        assert torch.sign(change).item() == direction


@pytest.mark.parametrize("use_baseline", [False, True])
def test_the_estimate_is_unbiased_with_or_without_the_baseline(use_baseline):
    logits = torch.tensor([0.2, -0.4, 0.0, 0.3, -0.1])
    mean, _ = gradient_spread(reinforce_gradient, logits, TOY_REWARDS, use_baseline, repeats=4000)
    torch.testing.assert_close(mean, exact_gradient(logits, TOY_REWARDS), atol=0.02, rtol=0)


def test_the_baseline_cuts_the_variance_several_fold():
    logits = torch.zeros(5)
    _, without = gradient_spread(reinforce_gradient, logits, TOY_REWARDS, use_baseline=False)
    _, with_baseline = gradient_spread(reinforce_gradient, logits, TOY_REWARDS, use_baseline=True)
    assert with_baseline < without / 3, (without, with_baseline)


def test_the_toy_policy_learns_and_is_repeatable():
    history = train_toy_policy(reinforce_gradient, seed=1)
    assert expected_reward(torch.zeros(5), TOY_REWARDS) == pytest.approx(2.0)  # the uniform policy
    assert history[-1] > 2.8, history[-1]  # the best token's reward is 3
    assert train_toy_policy(reinforce_gradient, seed=1) == history
