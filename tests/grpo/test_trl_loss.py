"""Our GRPO loss is TRL's: the same number from the same tensors, for each aggregation, with and without the KL."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from course_utils.grpo import grpo_loss
from course_utils.labs.verifiable_rewards import trl_grpo_loss
from course_utils.lm import logprobs_from_logits
from course_utils.runtime.sources import asset_path

MAX_COMPLETION_LENGTH = 6


@pytest.fixture(scope="module")
def batch():
    """Two answers of 6 and 3 tokens to one 4-token prompt, in TRL's layout, and the policy's log-probabilities of
    them; the sampling policy's and the reference's are the policy's moved by up to 0.4 nats, so that ratios leave
    the clip range and the KL is not 0."""
    path = asset_path("models", "gpt2-tiny")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = tokenizer.eos_token
    generator = torch.Generator().manual_seed(0)
    prompt_ids = torch.randint(5, 500, (1, 4), generator=generator).repeat(2, 1)  # (2, 4)
    completion_ids = torch.randint(5, 500, (2, MAX_COMPLETION_LENGTH), generator=generator)  # (2, 6)
    completion_mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0]])
    completion_ids[1, 3:] = tokenizer.pad_token_id
    with torch.no_grad():
        logits = model(input_ids=torch.cat([prompt_ids, completion_ids], dim=1)).logits[:, 3:-1]  # predicts tokens 4..
        logprobs = logprobs_from_logits(logits, completion_ids)  # (2, 6)
    moved = lambda: (torch.rand(logprobs.shape, generator=generator) - 0.5) * 0.8  # noqa: E731
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": torch.tensor([0.7, -0.7]),
        "old_per_token_logps": logprobs + moved(),
        "ref_per_token_logps": logprobs + moved(),
    }
    return model, tokenizer, inputs, logprobs


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_our_loss_equals_trl_grpo_trainer_loss(batch, loss_type, beta):
    model, tokenizer, inputs, logprobs = batch
    theirs = trl_grpo_loss(model, tokenizer, inputs, loss_type, beta, max_completion_length=MAX_COMPLETION_LENGTH)
    ours = grpo_loss(
        logprobs,
        inputs["old_per_token_logps"],
        inputs["advantages"],
        inputs["completion_mask"].float(),
        ref_logprobs=inputs["ref_per_token_logps"],
        epsilon=0.2,
        beta=beta,
        loss_type=loss_type,
        max_completion_length=MAX_COMPLETION_LENGTH,
    )
    assert ours.item() == pytest.approx(theirs, abs=1e-6)
