"""`RecipeConfig`: what `course train` trains, on what, and where it writes; every field documented and checked."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peft import LoraConfig

METHODS = ("sft", "reward", "ppo", "dpo", "grpo")
ENGINES = ("ppo", "grpo")  # the methods our own engines train (the others: TRL's trainers)


@dataclass(frozen=True)
class RecipeConfig:
    """One training run. Give it in a YAML or JSON file of these field names, as flags, or both (flags win)."""

    # "sft" (prompt / completion, or hh-rlhf's chosen dialogues), "reward" or "dpo" (chosen / rejected), "ppo"
    # (prompts: a prompt column, or hh-rlhf's chosen dialogues up to their last "Assistant:"), or "grpo" (a prompt
    # column, and any columns your reward function reads)
    method: str
    model: str  # the model to start from: a Hub id (``gpt2``) or a local directory
    output_dir: str  # where the trained model, its tokenizer, metrics.json and loss.png go
    train_files: tuple[str, ...] = ()  # local .jsonl, .jsonl.gz, .json or .parquet files ...
    reward_model: str | None = None  # ppo (and only ppo): what scores the answers, a Hub id or a local directory
    # grpo (and only grpo): the verifier, ``module:function`` or ``path/to/file.py:function``, called as
    # ``function(completions, **columns)`` -> a float per completion (columns: the prompt file's other columns)
    reward_function: str | None = None
    group_size: int = 8  # grpo: answers sampled per prompt, each prompt's group its own baseline
    dataset: str | None = None  # ... or a Hub dataset id (``Anthropic/hh-rlhf``)
    data_dir: str | None = None  # the dataset's folder to read (hh-rlhf: ``helpful-base``)
    eval_files: tuple[str, ...] = ()  # evaluation rows; without them, ``eval_fraction`` of the training rows
    eval_fraction: float = 0.05  # held out of the training rows when no eval_files are given (0: no evaluation)
    lora: bool = True  # LoRA adapters on every linear layer (merged into the saved model); False: full fine-tuning
    lora_r: int = 16  # the adapters' rank (their alpha is twice it)
    max_steps: int = 500  # optimisation steps (ppo: PPO steps, each a batch of answers sampled, scored and learnt from)
    batch_size: int = 8  # rows per device per step (pairs for reward and dpo; ppo: answers; grpo: prompts)
    # ppo and grpo: answers per optimiser update (default: the whole batch; ppo passes over it 4 times, grpo twice)
    mini_batch_size: int | None = None
    gradient_accumulation_steps: int = 1  # steps whose gradients add up before an update (not ppo or grpo)
    learning_rate: float = 5e-5
    max_length: int = 512  # tokens per sequence (longer ones are truncated; RewardTrainer drops longer pairs)
    max_new_tokens: int = 64  # ppo: the longest answer sampled (its prompts keep their last max_length - this tokens)
    # the KL coefficient: DPO's beta, the weight of PPO's per-token KL penalty (kept fixed) and of GRPO's k3 term
    beta: float = 0.1
    # ppo: stop at the reward-hacking monitor's first warning (course_utils.ppo.HackingMonitor: the held-out answers'
    # KL, entropy and length at every evaluation, logged either way, and warned of); needs held-out prompts
    stop_on_warning: bool = False
    logging_steps: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if bool(self.train_files) == bool(self.dataset):
            problems.append("give train_files or a dataset (one of them)")
        if not 0 <= self.eval_fraction < 1:
            problems.append(f"eval_fraction must be in [0, 1), not {self.eval_fraction}")
        whole = ("lora_r", "max_steps", "batch_size", "gradient_accumulation_steps", "max_length", "max_new_tokens")
        whole += ("group_size",)
        for name in (*whole, "logging_steps", *(("mini_batch_size",) if self.mini_batch_size is not None else ())):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be a whole number of at least 1, not {getattr(self, name)!r}")
        if (self.method == "ppo") != (self.reward_model is not None):
            problems.append("ppo needs a reward_model, and only ppo takes one")
        if (self.method == "grpo") != (self.reward_function is not None):
            problems.append("grpo needs a reward_function, and only grpo takes one")
        if self.method == "grpo" and not problems and self.group_size < 2:
            problems.append("group_size must be at least 2 (a prompt's answers are each other's baseline)")
        answers = self.batch_size * (self.group_size if self.method == "grpo" else 1)
        if self.method in ENGINES and not problems and answers % (self.mini_batch_size or answers):
            what = "batch_size x group_size" if self.method == "grpo" else "batch_size"
            problems.append(f"{what} ({answers}) must be a multiple of mini_batch_size")
        if self.method in ENGINES and self.gradient_accumulation_steps != 1:
            problems.append(
                f"{self.method} updates once per mini-batch: set mini_batch_size, not gradient_accumulation_steps"
            )
        if self.method in ENGINES and os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
            # accelerate's launcher says so in the environment: our engines are not written for DeepSpeed's engine
            problems.append(f"{self.method} runs on one process or under DDP (torchrun, or the ddp configuration)")
        if self.stop_on_warning and (self.method != "ppo" or not (self.eval_files or self.eval_fraction)):
            problems.append("stop_on_warning watches ppo's evaluations: give eval_files or an eval_fraction")
        if self.method in ENGINES and not problems and not self.max_new_tokens < self.max_length:
            problems.append(f"max_new_tokens ({self.max_new_tokens}) must be below max_length ({self.max_length})")
        for name in ("learning_rate", "beta"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, not {getattr(self, name)!r}")
        if problems:
            raise ValueError("; ".join(problems) + ".")

    def adapters(self, task: str) -> LoraConfig:
        """LoRA adapters of rank ``lora_r`` (alpha twice it) on every linear layer, for PEFT's ``task``."""
        from peft import LoraConfig

        return LoraConfig(r=self.lora_r, lora_alpha=2 * self.lora_r, target_modules="all-linear", task_type=task)

    @classmethod
    def from_sources(cls, file: str | Path | None = None, **flags: Any) -> RecipeConfig:
        """The configuration in ``file`` (YAML or JSON), with ``flags`` that are not None on top."""
        values = read_config_file(Path(file)) if file is not None else {}
        values |= {name: value for name, value in flags.items() if value is not None}
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{file or 'the flags'}: unknown settings {', '.join(unknown)}; known: {', '.join(known)}."
            )
        for name in ("train_files", "eval_files"):
            if isinstance(values.get(name), str):
                values[name] = (values[name],)
            values[name] = tuple(values.get(name, ()))
        missing = [name for name in ("method", "model", "output_dir") if name not in values]
        if missing:
            raise ValueError(f"missing settings: {', '.join(missing)}.")
        return cls(**values)


def read_config_file(path: Path) -> dict[str, Any]:
    """A configuration file's settings: YAML (``.yaml``, ``.yml``; needs PyYAML) or JSON."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the configuration ({error.strerror}).") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text)
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON (line {error.lineno}: {error.msg}).") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(values).__name__}.")
    return values
