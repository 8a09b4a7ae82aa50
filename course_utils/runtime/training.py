"""Training, the same way in every lab.

- `trainer_kwargs`: the settings each profile needs (precision, checkpointing, logging), so that a lab's notebook
  shows only the hyperparameters that teach something;
- `train` and `untuned`: a training cell that can be run twice;
- `train_sft`: supervised fine-tuning on prompt / completion rows, saved as a plain causal LM;
- `reference_trainer`: a TRL trainer that only computes TRL's own answer, to check a learner's function against.
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments
from transformers.trainer_utils import TrainOutput

from ..library_output import hide_library_deprecations, quiet_progress
from .profiles import Profile

ModelT = TypeVar("ModelT", bound=torch.nn.Module)
TrainerT = TypeVar("TrainerT", bound=Trainer)


def precision_for(device: str) -> str:
    """``"bf16"`` where the GPU computes in bf16, ``"fp16"`` on older GPUs (a T4), ``"no"`` on a CPU.

    bf16 needs compute capability 8.0 (Ampere). ``torch.cuda.is_bf16_supported()`` also says yes on a T4 (7.5),
    where bf16 is only emulated and slow, so we ask the hardware instead.
    """
    if device != "cuda":
        return "no"
    return "bf16" if torch.cuda.get_device_capability() >= (8, 0) else "fp16"


def mixed_precision(profile: Profile) -> str:
    """The precision a lab trains in: `precision_for` its profile's device."""
    return precision_for(profile.device)


def no_activation_checkpointing() -> dict[str, bool]:
    """Switch activation (gradient) checkpointing off under the name this version of transformers knows.

    transformers 5.x renamed ``gradient_checkpointing`` to ``activation_checkpointing`` and warns about the old name,
    but the versions before the rename (such as Colab's 5.15.1) reject the new one.
    """
    names = {field.name for field in dataclasses.fields(TrainingArguments)}
    name = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {name: False}


def trainer_settings(device: str, seed: int, quiet: bool = False) -> dict[str, Any]:
    """Keyword arguments for any TRL config (``SFTConfig``, ``RewardConfig``, ``DPOConfig``) on ``device``.

    - Precision: bf16 where the GPU has it, fp16 mixed precision on a T4 (no bf16), float32 on a CPU.
    - No activation checkpointing: our models are small enough, and it slows a CPU down.
    - No checkpoints written and no experiment trackers; ``quiet``: no progress bars and only errors logged.
    """
    precision = precision_for(device)
    on_gpu = device == "cuda"
    return {
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not on_gpu,
        **no_activation_checkpointing(),
        "report_to": "none",
        "save_strategy": "no",
        "seed": seed,
        "disable_tqdm": quiet,
        "log_level": "error" if quiet else "passive",
        "dataloader_pin_memory": on_gpu,
    }


def trainer_kwargs(profile: Profile) -> dict[str, Any]:
    """`trainer_settings` for a lab: its profile's device and seed, quiet while it is graded."""
    return trainer_settings(profile.device, profile.seed, quiet=profile.quiet)


@contextmanager
def reference_trainer(
    trainer_class: type[TrainerT], config_class: type[TrainingArguments], config: dict[str, Any], **trainer_args: Any
) -> Iterator[TrainerT]:
    """A TRL trainer that only *prepares* data or computes a loss, never trains: TRL's own answer to check against.

    The course shows that a learner's function gives what TRL itself computes (the completion-only labels, the
    Bradley-Terry loss, the DPO loss). The trainer writes nothing that outlives the block (a scratch output folder),
    draws no progress bar, and computes in float32 on whatever device the model is on.

        with reference_trainer(SFTTrainer, SFTConfig, {"completion_only_loss": True}, model=model, ...) as trainer:
            labels = trainer.train_dataset["labels"]
    """
    with tempfile.TemporaryDirectory() as output_dir, quiet_progress(), warnings.catch_warnings():
        hide_library_deprecations()
        args = config_class(
            output_dir=output_dir,
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            bf16=False,
            **no_activation_checkpointing(),
            **config,
        )
        yield trainer_class(args=args, **trainer_args)


# The weights each trained parameter had before its first training run, keyed by the parameter object itself: a
# trainer built again around the same model (a re-run cell) finds them, and a PEFT wrapper shares the parameters.
_UNTUNED = "_course_untuned"


def untuned(model: ModelT) -> ModelT:
    """Return ``model`` with the weights it had before it was first trained: call it at the top of a training cell.

    Learners re-run cells. Without this, running a training cell again keeps training the already tuned model,
    and comparing it with the baseline measured before the first run no longer shows what one run of training did.
    The first call remembers the values of the trainable parameters (only the adapter's with LoRA); each later call
    puts back those that changed since, and says so.
    """
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    restored = 0
    with torch.no_grad():
        for parameter in trainable:
            saved = getattr(parameter, _UNTUNED, None)
            if saved is None:
                setattr(parameter, _UNTUNED, parameter.detach().to("cpu", copy=True))
            elif not torch.equal(parameter.detach().cpu(), saved):
                parameter.copy_(saved)
                restored += 1
    if restored:
        print(
            f"This model was trained before: its {restored} trained weight tensors are back to their untuned "
            "values, so this run starts from the same model as the first."
        )
    return model


def train(trainer: Trainer) -> TrainOutput:
    """``trainer.train()``, always from the untuned model and a new optimizer, however often the cell runs.

    A second ``trainer.train()`` would go on from the tuned weights with the old optimizer's moments; here the
    weights go back (`untuned`) and the optimizer and learning-rate schedule are built anew, so every run of the
    cell trains the same model the same way.
    """
    untuned(trainer.model)
    trainer.optimizer, trainer.lr_scheduler = None, None
    return trainer.train()


def train_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Dataset,
    config: Any,
    save_dir: str | Path,
    peft_config: Any = None,
) -> list[dict[str, float]]:
    """Fine-tune ``model`` on prompt / completion ``rows`` and save it, with its tokenizer, to ``save_dir``; returns
    the log history.

    ``trl.SFTTrainer`` on prompt / completion rows masks the prompt (completion-only loss, Lab 1) and appends the
    end-of-sequence token. A LoRA adapter (``peft_config``) is merged into the weights before saving, so the
    directory holds a plain causal LM.
    """
    from trl import SFTTrainer

    trainer = SFTTrainer(
        model=model, args=config, train_dataset=rows, processing_class=tokenizer, peft_config=peft_config
    )
    train(trainer)
    tuned = trainer.model.merge_and_unload() if peft_config is not None else trainer.model
    tuned.save_pretrained(save_dir)
    tokenizer.save_pretrained(save_dir)
    return trainer.state.log_history
