"""Direct Preference Optimization: the SFT reference, sequence log-probabilities, and TRL's own DPO and IPO losses on a
batch to check against.

Batches are in the layout ``trl.DPOTrainer`` collates: the chosen rows, then the rejected rows, each a prompt followed
by its completion (with the end-of-sequence token), right-padded, with a ``completion_mask`` that is 1 on completion
tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..library_output import quiet_loading
from ..lm import logprobs_from_logits
from ..notebook.checks import load_weights
from ..runtime.loaders import first_rows, load_causal_lm, load_ultrafeedback
from ..runtime.profiles import Profile
from ..runtime.training import reference_trainer, train_sft


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
    completions first (Rafailov et al. 2023, section 4, "DPO outline"): that puts the preference data in the
    reference's own distribution. A LoRA adapter (``peft_config``) is merged into the weights before saving, so the
    directory holds a plain causal LM that DPO's policy and reference are both loaded from.
    """
    rows = pairs.map(
        lambda row: {"prompt": row["prompt"], "completion": row["chosen"]}, remove_columns=pairs.column_names
    )
    return train_sft(model, tokenizer, rows, config, save_dir, peft_config=peft_config)


@torch.no_grad()
def perturb(model: PreTrainedModel, scale: float = 0.02, seed: int = 0) -> PreTrainedModel:
    """``model`` with Gaussian noise of std ``scale`` added to every weight (seeded), in place.

    A policy that differs from its reference, so that checking a loss against TRL's is not a check of log 2.
    """
    generator = torch.Generator().manual_seed(seed)
    for parameter in model.parameters():
        parameter.add_(torch.randn(parameter.shape, generator=generator).to(parameter.device) * scale)
    return model


def preference_strings(row: dict) -> dict[str, str]:
    """A conversation-format preference row as prompt / chosen / rejected strings.

    The turns before the last answer become ``Human: ...`` and ``Assistant: ...`` lines joined by blank lines and
    ending with ``Assistant:``; each answer starts with a space.

    >>> turn = [{"role": "user", "content": "Hi"}]
    >>> preference_strings({"chosen": [*turn, {"role": "assistant", "content": "Hello."}],
    ...                     "rejected": [*turn, {"role": "assistant", "content": "No."}]})
    {'prompt': 'Human: Hi\\n\\nAssistant:', 'chosen': ' Hello.', 'rejected': ' No.'}
    """
    speakers = {"user": "Human", "assistant": "Assistant"}
    turns = [f"{speakers[message['role']]}: {message['content']}" for message in row["chosen"][:-1]]
    return {
        "prompt": "\n\n".join(turns) + "\n\nAssistant:",
        "chosen": " " + row["chosen"][-1]["content"],
        "rejected": " " + row["rejected"][-1]["content"],
    }


def held_out_margin(
    profile: Profile,
    policy_weights: Mapping[str, torch.Tensor],
    reference_weights: Mapping[str, torch.Tensor],
    beta: float = 0.1,
) -> float:
    """DPO's mean implicit reward margin on Lab 4's held-out pairs, as ``DPOTrainer.evaluate`` reports it, for a policy
    and a reference given by their weights (``checks.model_weights``), each put in the lab's model.

    The pairs are the lab's: UltraFeedback's ``test_prefs`` (400 of them in the full profile), as `preference_strings`.
    """
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    with quiet_loading():  # the lab showed the model's load report once
        (policy, tokenizer), (reference, _) = (load_causal_lm("dpo_model", profile) for _ in range(2))
    load_weights(policy, policy_weights)
    load_weights(reference, reference_weights)
    test = load_ultrafeedback(profile)["test_prefs"]
    pairs = Dataset.from_list(
        [preference_strings(row) for row in first_rows(test, profile.examples(full=400, tiny=len(test)))]
    )
    options = {"beta": beta, "max_length": profile.pick(full=512, tiny=256), "per_device_eval_batch_size": 8}
    with reference_trainer(
        DPOTrainer,
        DPOConfig,
        options,
        model=policy,
        ref_model=reference,
        train_dataset=pairs,
        eval_dataset=pairs,
        processing_class=tokenizer,
    ) as trainer:
        trainer.remove_callback(PrinterCallback)  # the measure is returned, not printed
        return trainer.evaluate()["eval_rewards/margins"]


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


def nudged_trl_batch(
    profile: Profile,
    reference_weights: Mapping[str, torch.Tensor],
    seed: int,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
) -> tuple[PreTrainedModel, PreTrainedModel, DPOBatch]:
    """``DPOTrainer``'s batch and loss (`trl_dpo_batch`) on Lab 4's first four training pairs, with the lab's model
    holding ``reference_weights`` as the reference and a copy of it nudged by `perturb` (``seed``) as the policy:
    what a check compares a learner's loss with (with a policy equal to its reference, any loss of the right shape
    would give log 2). Returns (policy, reference, batch).
    """
    with quiet_loading():  # the lab showed the model's load report once
        (reference, tokenizer), (policy, _) = (load_causal_lm("dpo_model", profile) for _ in range(2))
    load_weights(reference, reference_weights)
    perturb(load_weights(policy, reference_weights), seed=seed)
    four = [preference_strings(row) for row in load_ultrafeedback(profile)["train_prefs"].select(range(4))]
    texts = ([pair[key] for pair in four] for key in ("prompt", "chosen", "rejected"))
    return policy, reference, trl_dpo_batch(policy, reference, tokenizer, *texts, beta=beta, loss_type=loss_type)
