import math

import pytest
import torch

from course_utils.capstone.measures import (
    best_of_n,
    best_of_n_kl,
    fit_gao,
    gao_reward,
    gold_pairs,
    measured_best_of_n_kl,
    prefer_by,
    win_rate,
)


def test_best_of_n_picks_each_prompts_highest_reward_and_the_first_of_a_tie():
    rewards = torch.tensor([[0.1, 0.7, 0.7], [2.0, -1.0, 0.0], [-3.0, -2.0, -1.0]])
    assert best_of_n(rewards).tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="prompts, n"):
        best_of_n(torch.zeros(3))


def test_best_of_n_kl_by_hand():
    assert best_of_n_kl(1) == 0.0  # one sample: the policy itself
    assert best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)  # 0.6931 - 0.5 = 0.1931
    assert best_of_n_kl(64) == pytest.approx(math.log(64) - 63 / 64)  # 4.1589 - 0.9844 = 3.1745
    with pytest.raises(ValueError):
        best_of_n_kl(0)


@pytest.mark.parametrize("n", [2, 4, 16])
def test_best_of_n_kl_is_the_exact_kl_when_answers_are_never_drawn_twice(n):
    # N equally likely answers with distinct rewards: best-of-n keeps the answer of rank i (1 = worst) with
    # probability p_i = (i / N)^n - ((i - 1) / N)^n, and KL(p || uniform) = sum_i p_i log(N p_i) -> log n - (n - 1) / n
    answers = 100_000
    ranks = torch.arange(1, answers + 1, dtype=torch.float64)
    kept = (ranks / answers) ** n - ((ranks - 1) / answers) ** n
    exact = float((kept * torch.log(answers * kept)).sum())
    assert exact == pytest.approx(best_of_n_kl(n), abs=1e-3)


def test_gold_pairs_put_the_better_answer_first_and_drop_ties():
    longer = lambda prompt, answer: float(len(answer))  # noqa: E731 -- a toy gold reward: the longer, the better
    pairs = gold_pairs(longer, ["p1", "p2", "p3"], ["ab", "a", "abc"], ["a", "ab", "xyz"])
    assert pairs == [
        {"prompt": "p1", "chosen": "ab", "rejected": "a"},
        {"prompt": "p2", "chosen": "ab", "rejected": "a"},
    ]  # p3's answers are equally long: no label
    with pytest.raises(ValueError, match="two answers per prompt"):
        gold_pairs(longer, ["p1"], ["a"], [])


def test_win_rate_counts_ties_as_half_and_cancels_a_judges_first_answer_bias():
    by_length = prefer_by(lambda prompt, answer: float(len(answer)))
    # ours longer twice (1 + 1), a tie (0.5), shorter once (0): (1 + 1 + 0.5 + 0) / 4
    assert win_rate(by_length, ["p"] * 4, ["aa", "aaa", "a", "a"], ["a", "a", "b", "aa"]) == 0.625
    biased = lambda prompt, a, b: 0.9  # noqa: E731 -- always prefers whichever answer it reads first
    assert win_rate(biased, ["p", "q"], ["x", "y"], ["z", "w"]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        win_rate(by_length, [], [], [])


def test_measured_best_of_n_kl_by_hand_and_against_the_analytic_bound():
    # two levels of 1/2: b = 1/4, 3/4 -> 0.25 log 0.5 + 0.75 log 1.5 = 0.130812
    assert measured_best_of_n_kl(torch.tensor([[1.0, 2.0, 1.0, 2.0]]), 2) == pytest.approx(0.130812, abs=1e-6)
    assert measured_best_of_n_kl(torch.tensor([[3.0, 3.0, 3.0]]), 16) == 0.0  # one answer: best-of-n is the policy
    distinct = torch.arange(4000, dtype=torch.float64)[None].flip(1)  # many distinct rewards, in any order
    assert measured_best_of_n_kl(distinct, 8) < best_of_n_kl(8)
    assert measured_best_of_n_kl(distinct, 8) == pytest.approx(best_of_n_kl(8), abs=1e-2)


def test_fit_gao_recovers_the_rl_form_and_needs_two_points_past_the_start():
    d = torch.tensor([1.0, 2.0, 4.0])
    gains = gao_reward(d, alpha=0.8, beta=0.3, form="rl")
    alpha, beta = fit_gao([0.0, *(d**2).tolist()], [1.0, *(1.0 + gains).tolist()], "rl")
    assert (alpha, beta) == (pytest.approx(0.8), pytest.approx(0.3))
    with pytest.raises(ValueError, match="at least two points"):
        fit_gao([0.0, -0.1, 1.0], [0.0, 0.1, 0.2], "bon")
    with pytest.raises(ValueError, match="form"):
        fit_gao([0.0, 1.0, 4.0], [0.0, 0.1, 0.2], "ppo")
