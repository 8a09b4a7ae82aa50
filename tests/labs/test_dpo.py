import pytest
import torch

from course_utils.labs.dpo import completion_logprobs, held_out_margin, perturb, train_sft_reference, trl_dpo_batch
from course_utils.notebook.checks import model_weights
from course_utils.runtime.loaders import load_causal_lm, load_dpo_models

PROMPTS = ["Human: How do I boil an egg?\n\nAssistant:", "Human: Give me some tips to bake bread.\n\nAssistant:"]
CHOSEN = [" Put the egg in a pot of cold water. Good luck!", " Sure! To bake bread, mix flour, water, yeast and salt."]
REJECTED = [" No.", " I cannot answer this question."]


@pytest.fixture(scope="module")
def models(tiny_profile):
    policy, reference, tokenizer = load_dpo_models(tiny_profile)
    return policy, reference, tokenizer


@pytest.fixture(scope="module")
def nudged(tiny_profile):
    """A policy that differs from the reference, so that DPO's loss is not log 2."""
    return perturb(load_causal_lm("dpo_model", tiny_profile)[0], seed=0)


def test_load_dpo_models_gives_two_equal_models_and_freezes_the_reference(models):
    policy, reference, tokenizer = models
    assert policy is not reference
    assert all(torch.equal(a, b) for a, b in zip(policy.parameters(), reference.parameters(), strict=True))
    assert not reference.training and not any(p.requires_grad for p in reference.parameters())
    assert tokenizer.pad_token == "<|endoftext|>"


def test_trl_batch_is_chosen_rows_then_rejected_rows_with_eos_completions(models):
    policy, reference, tokenizer = models
    batch = trl_dpo_batch(policy, reference, tokenizer, PROMPTS, CHOSEN, REJECTED).inputs
    assert batch["input_ids"].shape[0] == 4
    completions = [
        tokenizer.decode(ids[mask.bool()])
        for ids, mask in zip(batch["input_ids"], batch["completion_mask"], strict=True)
    ]
    assert completions == [text + "<|endoftext|>" for text in CHOSEN + REJECTED]


def test_identical_policy_and_reference_give_log_2(models):
    policy, reference, tokenizer = models
    assert trl_dpo_batch(policy, reference, tokenizer, PROMPTS, CHOSEN, REJECTED).loss == pytest.approx(
        0.6931472, abs=1e-6
    )


def test_completion_logprobs_equal_one_row_at_a_time(models):
    policy, reference, tokenizer = models
    batch = trl_dpo_batch(policy, reference, tokenizer, PROMPTS, CHOSEN, REJECTED).inputs
    batched = completion_logprobs(policy, batch)
    for row in range(4):
        length = int(batch["attention_mask"][row].sum())
        ids = batch["input_ids"][row, :length]
        with torch.no_grad():
            log_probs = torch.log_softmax(
                policy(input_ids=ids[None], attention_mask=torch.ones_like(ids[None])).logits[0], -1
            )
        positions = batch["completion_mask"][row, :length].nonzero().flatten().tolist()
        assert batched[row].item() == pytest.approx(sum(log_probs[t - 1, ids[t]].item() for t in positions), abs=1e-4)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_trl_loss_is_the_sigmoid_dpo_loss_of_our_log_probabilities(models, nudged, beta):
    _, reference, tokenizer = models
    result = trl_dpo_batch(nudged, reference, tokenizer, PROMPTS, CHOSEN, REJECTED, beta=beta)
    policy_chosen, policy_rejected = completion_logprobs(nudged, result.inputs).chunk(2)
    ref_chosen, ref_rejected = completion_logprobs(reference, result.inputs).chunk(2)
    margins = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    assert result.loss == pytest.approx(torch.nn.functional.softplus(-margins).mean().item(), abs=1e-5)
    assert result.loss != pytest.approx(0.6931472, abs=1e-3)


def test_trl_dpo_batch_rejects_unmatched_rows(models):
    policy, reference, tokenizer = models
    with pytest.raises(ValueError, match="as many prompts"):
        trl_dpo_batch(policy, reference, tokenizer, PROMPTS, CHOSEN, REJECTED[:1])


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_trl_ipo_loss_is_the_squared_distance_of_the_mean_token_margin_from_one_over_two_beta(models, nudged, beta):
    """TRL's IPO averages each completion's log-ratio over its tokens (its EOS included) before the square."""
    _, reference, tokenizer = models
    result = trl_dpo_batch(nudged, reference, tokenizer, PROMPTS, CHOSEN, REJECTED, beta=beta, loss_type="ipo")
    ratios = completion_logprobs(nudged, result.inputs) - completion_logprobs(reference, result.inputs)  # (4,)
    tokens = result.inputs["completion_mask"].sum(dim=1)  # (4,): completion tokens of each row
    chosen, rejected = (ratios / tokens).chunk(2)
    assert result.loss == pytest.approx(((chosen - rejected - 1 / (2 * beta)) ** 2).mean().item(), abs=1e-4)


def test_train_sft_reference_raises_the_chosen_answers_and_saves_a_plain_model(tiny_profile, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig

    from course_utils.runtime.training import trainer_kwargs

    policy, reference, tokenizer = load_dpo_models(tiny_profile)
    pairs = Dataset.from_dict({"prompt": PROMPTS, "chosen": CHOSEN, "rejected": REJECTED})
    before = trl_dpo_batch(policy, reference, tokenizer, PROMPTS, CHOSEN, REJECTED).inputs
    chosen_before = completion_logprobs(policy, before)[:2]
    config = SFTConfig(
        output_dir=str(tmp_path / "checkpoints"),
        max_steps=8,
        learning_rate=1e-3,
        per_device_train_batch_size=2,
        logging_steps=1,
        **trainer_kwargs(tiny_profile),
    )
    history = train_sft_reference(policy, tokenizer, pairs, config, tmp_path / "sft")
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 8 and losses[-1] < losses[0]
    sft_policy, sft_reference, _ = load_dpo_models(tiny_profile, source=tmp_path / "sft")
    assert all(torch.equal(a, b) for a, b in zip(sft_policy.parameters(), sft_reference.parameters(), strict=True))
    assert (completion_logprobs(sft_policy, before)[:2] > chosen_before + 1.0).all()  # the chosen answers, learned


def test_perturb_moves_every_weight_by_seeded_noise(tiny_profile):
    first, second = (perturb(load_causal_lm("dpo_model", tiny_profile)[0], seed=3) for _ in range(2))
    untouched, _ = load_causal_lm("dpo_model", tiny_profile)
    for (name, a), b, c in zip(first.named_parameters(), second.parameters(), untouched.parameters(), strict=True):
        assert torch.equal(a, b) and not torch.equal(a, c), name


def test_held_out_margin_is_zero_for_a_policy_equal_to_its_reference_and_not_otherwise(tiny_profile, nudged):
    reference, _ = load_causal_lm("dpo_model", tiny_profile)
    weights = model_weights(reference)
    assert held_out_margin(tiny_profile, weights, weights) == 0.0
    assert held_out_margin(tiny_profile, model_weights(nudged), weights) != 0.0
