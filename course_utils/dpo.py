"""Direct Preference Optimization: sequence log-probabilities, and TRL's own DPO loss on a batch to check against.

Batches are in the layout ``trl.DPOTrainer`` collates: the chosen rows, then the rejected rows, each a prompt followed
by its completion (with the end-of-sequence token), right-padded, with a ``completion_mask`` that is 1 on completion
tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .ppo.losses import logprobs_from_logits
from .training import reference_trainer


@torch.no_grad()
def completion_logprobs(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``log pi(completion | prompt)`` of each row: the sum of its completion tokens' log-probabilities."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    per_token = logprobs_from_logits(logits[:, :-1], batch["input_ids"][:, 1:])
    return (per_token * batch["completion_mask"][:, 1:]).sum(dim=1)


@dataclass
class DPOBatch:
    """One batch as ``trl.DPOTrainer`` prepares it, and the loss it computes on it."""

    inputs: dict[str, torch.Tensor]  # input_ids, attention_mask, completion_mask: chosen rows, then rejected rows
    loss: float


@torch.no_grad()
def trl_dpo_batch(
    model: PreTrainedModel,
    ref_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    chosen: Sequence[str],
    rejected: Sequence[str],
    beta: float = 0.1,
    max_length: int = 512,
) -> DPOBatch:
    """``trl.DPOTrainer``'s own batch and sigmoid DPO loss for these (prompt, chosen, rejected) strings.

    Nothing is trained: the trainer only prepares the rows (end-of-sequence token, tokenization), collates them and
    computes its loss with ``model`` as the policy and ``ref_model`` as the reference. Like any ``DPOTrainer``, it
    wraps the models' ``forward`` (to add TRL's fused LM head; calls without ``fused_lm_head=True`` are unchanged), so
    copy a model by loading it again, not with ``copy.deepcopy``: a deep copy would still run the original's weights.
    Rows longer than ``max_length`` tokens are truncated as the trainer truncates them (gpt2 reads at most 1024).
    """
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if not len(prompts) == len(chosen) == len(rejected) or not prompts:
        raise ValueError(f"Give as many prompts, chosen and rejected texts, at least one each ({len(prompts)}).")
    rows = Dataset.from_dict({"prompt": list(prompts), "chosen": list(chosen), "rejected": list(rejected)})
    options = {"beta": beta, "max_length": max_length}
    with reference_trainer(
        DPOTrainer, DPOConfig, options, model=model, ref_model=ref_model, train_dataset=rows, processing_class=tokenizer
    ) as trainer:
        device = next(model.parameters()).device
        batch = {key: value.to(device) for key, value in trainer.data_collator(list(trainer.train_dataset)).items()}
        model.eval()
        loss = trainer.compute_loss(model, dict(batch))
    return DPOBatch(inputs=batch, loss=loss.item())
