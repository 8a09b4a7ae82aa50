import itertools
import random

import pytest
import torch

from course_utils.grpo import dr_grpo_advantages, grpo_advantages
from course_utils.labs.verifiable_rewards import (
    advantage_mass,
    answer_reward,
    expert_iteration,
    extract_answer,
    format_reward,
    lax_answer_reward,
    load_demonstrations,
    load_problems,
    load_tool_problems,
    normalise_number,
    pass_at_k,
    question_prompt,
    true_answer,
    verified_examples,
)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("Ann has 7+5 = <<7+5=12>>12 apples.\n#### 12", "12"),
        ("#### 12", "12"),
        ("####   12  \n", "12"),  # spaces around the number
        ("####\n12", "12"),  # a line break is whitespace too
        ("#### -5", "-5"),
        ("#### +5", "5"),
        ("#### 1,000", "1000"),
        ("#### 2.50", "2.5"),
        ("#### -0", "0"),
        ("Ann has 12 apples.", None),  # no mark: a number in the reasoning is not the answer
        ("#### 12\n#### 13", None),  # two answers
        ("#### twelve", None),
        ("#### 12 apples", None),  # anything after the number
        ("#### 1,00", None),  # not a thousands separator
        ("####", None),
        ("", None),
    ],
)
def test_extract_answer_reads_only_the_stated_format(completion, expected):
    assert extract_answer(completion) == expected


def test_answer_reward_compares_normalised_numbers():
    completions = ["#### 1000", "#### 999", "The answer is 1000", "#### 1,000.0"]
    assert answer_reward(completions, ["1,000"] * 4) == [1.0, 0.0, 0.0, 1.0]


def test_format_reward_is_kept_apart_from_correctness():
    assert format_reward(["#### 3", "#### 4", "4", "#### 3 #### 4"]) == [1.0, 1.0, 0.0, 0.0]


def test_lax_reward_pays_the_true_answer_anywhere_even_inside_another_number():
    completions = ["#### 12", "#### 124", "Ann has 12 apples.", "#### 13"]
    assert lax_answer_reward(completions, ["12"] * 4) == [1.0, 1.0, 1.0, 0.0]
    assert answer_reward(completions, ["12"] * 4) == [1.0, 0.0, 0.0, 0.0]  # the strict verifier pays one of them


def test_normalise_number_refuses_text():
    with pytest.raises(ValueError, match="Not a number"):
        normalise_number("twelve")


def test_true_answer_is_the_number_after_the_mark():
    assert true_answer("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72") == "72"


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """The share of all k-subsets of n samples (c of them correct) holding at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(subset) for subset in subsets) / len(subsets)


def test_pass_at_k_matches_brute_force():
    draw = random.Random(0)
    for _ in range(20):
        n = draw.randint(1, 9)
        c, k = draw.randint(0, n), draw.randint(1, n)
        assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k))
    # 2 right of 4, k = 2: 1 - C(2, 2) / C(4, 2) = 1 - 1/6
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)


def test_pass_at_k_refuses_impossible_counts():
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)


def test_the_tiny_problems_have_gsm8k_schema_and_keep_test_questions_out_of_training(tiny_profile):
    problems, tools = load_problems(tiny_profile), load_tool_problems(tiny_profile)
    demonstrations = load_demonstrations(tiny_profile)
    for rows in (problems["train"], problems["test"], tools["train"], tools["test"], demonstrations):
        assert rows.column_names == ["question", "answer"]
        assert all(extract_answer(answer.splitlines()[-1]) is not None for answer in rows["answer"])
    assert not set(problems["test"]["question"]) & {*problems["train"]["question"], *demonstrations["question"]}
    assert not set(tools["test"]["question"]) & {*tools["train"]["question"], *demonstrations["question"]}


def test_the_tutor_slips_on_some_demonstrations_only(tiny_profile):
    truth = {row["question"]: true_answer(row["answer"]) for row in load_problems(tiny_profile)["train"]}
    demonstrations = [row for row in load_demonstrations(tiny_profile) if row["question"] in truth]
    right = sum(answer_reward([row["answer"]], [truth[row["question"]]])[0] for row in demonstrations)
    assert 0.5 < right / len(demonstrations) < 0.7  # 4 slips in 10


def test_the_mirror_holds_gsm8k_in_its_real_layout_and_schema(tmp_path, monkeypatch):
    from course_utils.instructor.hub_mirror import realistic_datasets
    from course_utils.runtime.profiles import Profile

    realistic_datasets()["gsm8k"](tmp_path)
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(tmp_path))
    full = Profile("full", "cpu")
    problems = load_problems(full)  # the full profile's code path: openai/gsm8k, data_dir main
    assert {split: rows.column_names for split, rows in problems.items()} == {
        "train": ["question", "answer"],
        "test": ["question", "answer"],
    }
    assert all(extract_answer(answer.splitlines()[-1]) for answer in problems["test"]["answer"])
    assert load_demonstrations(full)["question"] == problems["train"]["question"]  # GSM8K's own solutions
    assert load_tool_problems(full)["test"]["question"] == problems["test"]["question"]


def test_advantage_mass_is_the_expected_push_of_a_group():
    # G = 2, solve rate 1/2: one right and one wrong with probability 2 x 1/4 = 1/2 (otherwise the rewards are equal
    # and the advantages 0). Dr. GRPO's advantages are then +-0.5 (sum 1); GRPO's are +-0.5 / (0.70711 + 1e-4).
    assert advantage_mass(dr_grpo_advantages, 2, 0.5) == pytest.approx(0.5)
    assert advantage_mass(grpo_advantages, 2, 0.5) == pytest.approx(0.5 / (0.5**0.5 + 1e-4), rel=1e-5)


def test_dividing_by_the_std_pushes_rare_successes_harder_relative_to_even_odds():
    # G = 8: the std multiplies a question solved 5% of the time by 1.758 / 0.665 = 2.64, one solved half the time by
    # 6.942 / 3.5 = 1.98: the rare successes gain a third on the even odds.
    rare, even = 0.05, 0.5
    at_rare = advantage_mass(grpo_advantages, 8, rare) / advantage_mass(dr_grpo_advantages, 8, rare)
    at_even = advantage_mass(grpo_advantages, 8, even) / advantage_mass(dr_grpo_advantages, 8, even)
    assert at_rare == pytest.approx(2.64, abs=0.01) and at_even == pytest.approx(1.98, abs=0.01)
    assert advantage_mass(grpo_advantages, 8, 0.95) == pytest.approx(advantage_mass(grpo_advantages, 8, rare))
    with pytest.raises(ValueError, match="solve_rate"):
        advantage_mass(grpo_advantages, 8, 1.5)


def test_verified_examples_keep_each_distinct_right_answer_once():
    prompts, completions = ["p", "p", "p", "q"], ["#### 1", "#### 1", "#### 2", "#### 1"]
    assert verified_examples(prompts, completions, [1.0, 1.0, 0.0, 1.0]) == [
        {"prompt": "p", "completion": "#### 1"},
        {"prompt": "q", "completion": "#### 1"},
    ]


def test_expert_iteration_samples_keeps_and_fine_tunes_round_after_round(tiny_profile):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.runtime.sources import asset_path

    path = asset_path("models", "gpt2-arith-tiny")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = tokenizer.eos_token
    before = [parameter.clone() for parameter in model.parameters()]
    every_answer_right = lambda completions, **columns: [1.0] * len(completions)  # noqa: E731
    history = expert_iteration(
        model, tokenizer, load_problems(tiny_profile)["train"], verified_examples, tiny_profile, rounds=2,
        questions_per_round=2, group_size=2, sft_steps=2, max_new_tokens=6, reward_fn=every_answer_right,
        evaluate=lambda model: float(model.training),
    )  # fmt: skip
    assert [(row["round"], row["answers_sampled"], row["accuracy"]) for row in history] == [(1, 4, 0.0), (2, 8, 0.0)]
    assert all(1 <= row["kept"] <= 4 for row in history)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_prompt_ends_on_a_token_boundary_so_training_sees_what_sampling_sees():
    from transformers import AutoTokenizer

    from course_utils.runtime.sources import asset_path

    tokenizer = AutoTokenizer.from_pretrained(asset_path("models", "gpt2-arith-tiny"))
    prompt = question_prompt("Ann has 3 apples. Ann gets 4 more. How many apples does Ann have now?")
    whole = tokenizer(prompt + " Ann has 3+4 = <<3+4=7>>7 apples.\n#### 7").input_ids
    alone = tokenizer(prompt).input_ids
    assert whole[: len(alone)] == alone  # SFT's completion-only loss splits them exactly here


def test_held_out_accuracy_rebuilds_the_policy_from_its_weights_and_samples_with_a_seed(tiny_profile):
    from transformers import AutoModelForCausalLM

    from course_utils.labs.verifiable_rewards import held_out_accuracy
    from course_utils.notebook.checks import model_weights
    from course_utils.runtime.sources import asset_path

    weights = model_weights(AutoModelForCausalLM.from_pretrained(asset_path("models", "gpt2-arith-tiny")))
    first = held_out_accuracy(tiny_profile, weights, samples=1, questions=16, seed=3)
    assert first == held_out_accuracy(tiny_profile, weights, samples=1, questions=16, seed=3)
    assert first == 0.0  # pretrained on stories: it has never written the answer line
    with pytest.raises(AssertionError, match="do not fit"):
        held_out_accuracy(tiny_profile, {"a": weights["lm_head.weight"]}, samples=1, questions=2)


def test_the_checker_trains_its_own_sft_start_with_the_labs_settings():
    from transformers import AutoModelForCausalLM

    from course_utils.labs.verifiable_rewards import demonstration_rows, sft_policy_weights
    from course_utils.runtime.profiles import Profile
    from course_utils.runtime.sources import asset_path

    dry_run = Profile("grade", "cpu", max_steps=2)  # the lab's settings, two steps
    rows = demonstration_rows(dry_run)
    assert rows.column_names == ["prompt", "completion"]
    assert rows[0]["prompt"].endswith("\nAnswer:") and rows[0]["completion"].startswith(" ")
    base = AutoModelForCausalLM.from_pretrained(asset_path("models", "gpt2-arith-tiny")).state_dict()
    trained = sft_policy_weights(dry_run)
    assert trained.keys() == base.keys()  # plain weights of the lab's model: the target's checks load them
    assert any(not torch.equal(trained[name], base[name]) for name in base)
