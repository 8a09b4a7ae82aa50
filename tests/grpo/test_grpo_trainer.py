import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from course_utils.grpo import CalculatorSampler, GRPOConfig, GRPOTrainer, loss_mask
from course_utils.labs.verifiable_rewards import question_prompt
from course_utils.runtime.sources import asset_path

PROMPTS = [question_prompt("Ann has 3 apples. Ann gets 4 more. How many apples does Ann have now?"),
           question_prompt("Ben has 12 boxes with 34 pens in each. How many pens does Ben have?")]  # fmt: skip


@pytest.fixture
def policy():
    path = asset_path("models", "gpt2-arith-tiny")
    torch.manual_seed(0)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def length_reward(completions, **columns):
    """A reward any sampled answer can earn a little of: longer answers score more (enough spread for advantages)."""
    return [len(completion) / 100 for completion in completions]


def config(**overrides) -> GRPOConfig:
    options = {"group_size": 4, "questions_per_step": 2, "max_completion_length": 12, "learning_rate": 1e-3}
    return GRPOConfig(**{**options, **overrides})


def test_a_step_samples_a_group_per_question_and_repeats_its_columns(policy):
    seen = {}

    def recording_reward(completions, answer):
        seen.update(completions=completions, answer=answer)
        return length_reward(completions)

    trainer = GRPOTrainer(config(), *policy, recording_reward)
    rollout, _ = trainer.rollout(PROMPTS, answer=["7", "408"])
    assert len(seen["completions"]) == 8 and seen["answer"] == ["7"] * 4 + ["408"] * 4
    torch.testing.assert_close(rollout.advantages.view(2, 4).mean(dim=1), torch.zeros(2), atol=1e-6, rtol=0)


def test_with_one_iteration_the_ratio_stays_at_one_and_the_clip_never_acts(policy):
    trainer = GRPOTrainer(config(num_iterations=1, mini_batches=1), *policy, length_reward)
    stats = trainer.step(PROMPTS)
    assert stats["clip_ratio/region_mean"] == 0.0


def alternating_reward(completions, **columns):
    """Half of each group right, whatever they wrote: advantages of +-1, so every update moves the policy."""
    return [float(i % 2) for i in range(len(completions))]


def test_with_several_iterations_the_clip_acts(policy):
    trainer = GRPOTrainer(config(num_iterations=4, mini_batches=2, learning_rate=1e-2), *policy, alternating_reward)
    stats = trainer.step(PROMPTS)
    assert stats["clip_ratio/region_mean"] > 0.0
    assert {"loss", "entropy", "reward", "frac_reward_zero_std", "completions/mean_length"} <= set(stats)


def test_a_kl_coefficient_loads_a_frozen_reference_and_logs_the_kl(policy):
    trainer = GRPOTrainer(config(beta=0.1), *policy, length_reward)
    before = [p.clone() for p in trainer.ref_model.parameters()]
    stats = trainer.step(PROMPTS)
    assert stats["kl"] >= 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.ref_model.parameters(), strict=True))


def test_the_tokens_a_tool_wrote_are_kept_out_of_the_loss(policy):
    model, tokenizer = policy
    sampler = CalculatorSampler(max_new_tokens=24, do_sample=False)
    query = tokenizer(PROMPTS[1], return_tensors="pt").input_ids[0]
    forced = torch.tensor(tokenizer.encode(" Ben has 12*34 = <<12*34="))  # the policy's own call, up to its "="
    responses, masks = sampler(model, tokenizer, [torch.cat([query, forced])])
    text = tokenizer.decode(responses[0])
    assert text.startswith("408>>"), text  # the tool answered first
    tool_tokens = len(tokenizer.encode("408>>"))
    assert masks[0][:tool_tokens].tolist() == [0.0] * tool_tokens and masks[0][tool_tokens:].eq(1).all()

    trainer = GRPOTrainer(config(), model, tokenizer, length_reward, sampler=sampler)
    rollout, completions = trainer.rollout(PROMPTS)
    packed = [row.sum().item() for row in (rollout.input_ids[:, 1:] != tokenizer.pad_token_id).float()]
    assert len(completions) == 8 and rollout.mask.sum() <= sum(packed)


def test_the_loss_mask_reads_each_answer_token_at_the_position_that_predicts_it():
    # Row 0: a 2-token query, a 3-token answer, 2 tokens of padding; row 1: a 3-token query and a 4-token answer
    # whose 2nd and 3rd tokens a tool wrote. Position t predicts token t + 1.
    mask = loss_mask([2, 3], [torch.ones(3), torch.tensor([1.0, 0.0, 0.0, 1.0])], width=7)
    assert mask.tolist() == [[0, 1, 1, 1, 0, 0], [0, 0, 1, 0, 0, 1]]


def test_the_trainer_reads_its_mask_from_mask_fn(policy):
    model, tokenizer = policy
    calls = []

    def answer_start_only(query_lengths, answer_masks, width):
        calls.append((list(query_lengths), width))
        mask = loss_mask(query_lengths, answer_masks, width)
        return mask * (mask.cumsum(dim=1) == 1)  # only each answer's first token

    trainer = GRPOTrainer(config(), model, tokenizer, length_reward, mask_fn=answer_start_only)
    rollout, _ = trainer.rollout(PROMPTS)
    assert calls and calls[0][1] == rollout.input_ids.shape[1]
    assert rollout.mask.sum(dim=1).tolist() == [1.0] * 8


def test_the_sampler_asks_the_tool_it_is_given(policy):
    model, tokenizer = policy
    query = tokenizer(PROMPTS[1] + " Ben has 12*34 = <<12*34=", return_tensors="pt").input_ids[0]
    sampler = CalculatorSampler(max_new_tokens=8, do_sample=False, tool=lambda expression: "7")
    responses, _ = sampler(model, tokenizer, [query])
    assert tokenizer.decode(responses[0]).startswith("7>>")


def test_without_the_tool_a_call_gets_no_answer(policy):
    model, tokenizer = policy
    query = tokenizer(PROMPTS[1] + " Ben has 12*34 = <<12*34=", return_tensors="pt").input_ids[0]
    responses, masks = CalculatorSampler(max_new_tokens=8, use_tool=False, do_sample=False)(model, tokenizer, [query])
    assert masks[0].eq(1).all()  # every token is the policy's own


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"loss_type": "token_mean"}, "loss_type"),
        ({"group_size": 1}, "group_size"),
        ({"mini_batches": 3}, "mini_batches"),
        ({"num_iterations": 0}, "num_iterations"),
        ({"beta": -0.1}, "beta"),
    ],
)
def test_config_refuses_what_cannot_run(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)
