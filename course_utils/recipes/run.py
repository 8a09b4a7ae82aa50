"""`run_recipe`: a `RecipeConfig` trained with TRL's trainer for its method (our PPO and GRPO engines for ppo and
grpo), saved with its metrics and loss plot."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from datasets import Dataset, load_dataset
from transformers import Trainer

from ..notebook.plots import plot_history
from ..runtime.loaders import load_tokenizer
from ..runtime.training import trainer_settings
from .config import RecipeConfig
from .data import check_columns, method_rows, read_rows
from .grpo import PANELS as GRPO_PANELS
from .grpo import run_grpo_recipe
from .ppo import PANELS as PPO_PANELS
from .ppo import run_ppo_recipe

# What loss.png draws for each method: a panel's y-axis label -> the logged keys it plots.
PANELS = {
    "sft": {"loss (nats per answer token)": ("loss", "eval_loss")},
    "reward": {"Bradley-Terry loss": ("loss", "eval_loss")},
    "dpo": {"DPO loss": ("loss", "eval_loss")},
    "ppo": PPO_PANELS,
    "grpo": GRPO_PANELS,
}


def recipe_rows(config: RecipeConfig) -> tuple[Dataset, Dataset | None]:
    """The training rows and the evaluation rows (None without evaluation), checked and in the method's schema."""
    if config.train_files:
        rows = read_rows(config.train_files, config.method)
    else:
        rows = load_dataset(config.dataset, data_dir=config.data_dir, split="train")
        check_columns(rows, config.method, f"{config.dataset} ({config.data_dir or 'train'})")
    if config.eval_files:
        held_out = read_rows(config.eval_files, config.method)
    elif config.eval_fraction > 0 and len(rows) > 1:
        split = rows.train_test_split(test_size=config.eval_fraction, seed=config.seed)
        rows, held_out = split["train"], split["test"]
    else:
        held_out = None
    return method_rows(rows, config.method), None if held_out is None else method_rows(held_out, config.method)


def build_trainer(config: RecipeConfig) -> Trainer:
    """The TRL trainer of ``config.method`` for ``config.model`` on its rows, ready to train.

    The rows are read and checked first: a bad file stops the run before any model is loaded. Under ``torchrun`` or
    ``accelerate launch`` the trainer runs on every process (DDP, or DeepSpeed as the launch configured it).
    """
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer

    train_rows, eval_rows = recipe_rows(config)
    set_seed(config.seed)  # before the adapters (or a reward head) are initialised: the same run every time
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(config.model)
    # float32 weights whatever the checkpoint is stored in (SmolLM2 in bfloat16): mixed precision computes in half
    # precision and keeps float32 weights to update.
    if config.method == "reward":
        model = AutoModelForSequenceClassification.from_pretrained(config.model, num_labels=1, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
    else:
        model = AutoModelForCausalLM.from_pretrained(config.model, dtype=torch.float32)
    lora = config.adapters("SEQ_CLS" if config.method == "reward" else "CAUSAL_LM") if config.lora else None
    every = min(config.logging_steps, config.max_steps)  # a short run logs its last step at least: a loss to plot
    common = {
        "output_dir": config.output_dir,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "logging_steps": every,
        "eval_strategy": "steps" if eval_rows is not None else "no",
        "eval_steps": every,
        "max_length": config.max_length,
        # A real run: the device's precision, no trackers, progress bars on.
        **trainer_settings(device, config.seed),
    }
    arguments = {"train_dataset": train_rows, "eval_dataset": eval_rows, "processing_class": tokenizer}
    if config.method == "sft":
        trainer = SFTTrainer(model=model, args=SFTConfig(**common), peft_config=lora, **arguments)
    elif config.method == "reward":
        trainer = RewardTrainer(model=model, args=RewardConfig(**common), peft_config=lora, **arguments)
    else:
        trainer = DPOTrainer(model=model, args=DPOConfig(beta=config.beta, **common), peft_config=lora, **arguments)
    return trainer


def run_recipe(config: RecipeConfig) -> Path:
    """Train ``config.model`` with ``config.method`` (`build_trainer`; `run_ppo_recipe`, `run_grpo_recipe`) and save the
    model (LoRA adapters merged), its tokenizer, ``metrics.json`` (the logged history) and ``loss.png`` to
    ``config.output_dir``; on several processes, only the main one writes."""
    from accelerate import PartialState

    if config.method == "ppo":
        prompts, held_out = recipe_rows(config)  # checked before any model is loaded
        held_out_prompts = None if held_out is None else list(held_out["prompt"])
        model, tokenizer, history = run_ppo_recipe(config, list(prompts["prompt"]), held_out_prompts)
    elif config.method == "grpo":
        model, tokenizer, history = run_grpo_recipe(config, *recipe_rows(config))
    else:
        trainer = build_trainer(config)
        trainer.train()
        model, tokenizer, history = trainer.model, trainer.processing_class, trainer.state.log_history
    output = Path(config.output_dir)
    if PartialState().is_main_process:
        trained = model.merge_and_unload() if config.lora else model
        trained.save_pretrained(output)
        tokenizer.save_pretrained(output)
        (output / "metrics.json").write_text(json.dumps(history, indent=1))
        title = f"course train {config.method}: {Path(config.model).name}"  # a Hub id's name, or the folder's
        xlabel = {"ppo": "PPO step", "grpo": "GRPO step"}.get(config.method, "optimizer step")
        # the panels of what was logged: a run without held-out rows has no evaluation to draw
        logged = {key for entry in history for key in entry}
        panels = {label: keys for label, keys in PANELS[config.method].items() if logged & set(keys)}
        plot_history(history, panels, title, xlabel).savefig(output / "loss.png")
    return output
