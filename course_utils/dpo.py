"""Direct Preference Optimization: the SFT reference, sequence log-probabilities, and TRL's own DPO and IPO losses on a
batch to check against.

Batches are in the layout ``trl.DPOTrainer`` collates: the chosen rows, then the rejected rows, each a prompt followed
by its completion (with the end-of-sequence token), right-padded, with a ``completion_mask`` that is 1 on completion
tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .ppo.losses import logprobs_from_logits
from .training import reference_trainer, train


def train_sft_reference(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Dataset,
    config: Any,
    save_dir: str | Path,
    peft_config: Any = None,
) -> list[dict[str, float]]:
    """Fine-tune ``model`` on the *chosen* answers of ``pairs`` and save it to ``save_dir``; returns the log history.

    The DPO paper's reference is an SFT model, and when there is none it maximises the likelihood of the preferred
    completions first (Rafailov et al. 2023, section 6.1): that puts the preference data in the reference's own
    distribution. ``trl.SFTTrainer`` on prompt / completion rows masks the prompt (completion-only loss, Lab 1) and
    appends the end-of-sequence token. A LoRA adapter (``peft_config``) is merged into the weights before saving, so
    the directory holds a plain causal LM that DPO's policy and reference are both loaded from.
    """
    from trl import SFTTrainer

    rows = pairs.map(
        lambda row: {"prompt": row["prompt"], "completion": row["chosen"]}, remove_columns=pairs.column_names
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=rows, processing_class=tokenizer, peft_config=peft_config
    )
    train(trainer)
    tuned = trainer.model.merge_and_unload() if peft_config is not None else trainer.model
    tuned.save_pretrained(save_dir)
    tokenizer.save_pretrained(save_dir)
    return trainer.state.log_history


@torch.no_grad()
def perturbed_copy(source: str | Path, device: str, scale: float = 0.02, seed: int = 0) -> PreTrainedModel:
    """The model at ``source`` with Gaussian noise of std ``scale`` added to every weight (seeded).

    A policy that differs from its reference, so that checking a loss against TRL's is not a check of log 2.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device)
    generator = torch.Generator().manual_seed(seed)
    for parameter in model.parameters():
        parameter.add_(torch.randn(parameter.shape, generator=generator).to(parameter.device) * scale)
    return model


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
    loss_type: str = "sigmoid",
) -> DPOBatch:
    """``trl.DPOTrainer``'s own batch and loss (``loss_type``: ``"sigmoid"``, DPO's; ``"ipo"``...) for these
    (prompt, chosen, rejected) strings.

    Nothing is trained: the trainer only prepares the rows (end-of-sequence token, tokenization), collates them and
    computes its loss with ``model`` as the policy and ``ref_model`` as the reference. Like any ``DPOTrainer``, it
    wraps the models' ``forward`` (to add TRL's fused LM head; calls without ``fused_lm_head=True`` are unchanged), so
    copy a model by loading it again, not with ``copy.deepcopy``: a deep copy would still run the original's weights.
    Rows longer than ``max_length`` tokens are truncated as the trainer truncates them.
    """
    from trl import DPOConfig, DPOTrainer

    if not len(prompts) == len(chosen) == len(rejected) or not prompts:
        raise ValueError(f"Give as many prompts, chosen and rejected texts, at least one each ({len(prompts)}).")
    rows = Dataset.from_dict({"prompt": list(prompts), "chosen": list(chosen), "rejected": list(rejected)})
    options = {"beta": beta, "max_length": max_length, "loss_type": [loss_type]}
    with reference_trainer(
        DPOTrainer, DPOConfig, options, model=model, ref_model=ref_model, train_dataset=rows, processing_class=tokenizer
    ) as trainer:
        device = next(model.parameters()).device
        batch = {key: value.to(device) for key, value in trainer.data_collator(list(trainer.train_dataset)).items()}
        model.eval()
        loss = trainer.compute_loss(model, dict(batch))
    return DPOBatch(inputs=batch, loss=loss.item())
