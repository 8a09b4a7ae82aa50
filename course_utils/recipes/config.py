"""`RecipeConfig`: what `course train` trains, on what, and where it writes; every field documented and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

METHODS = ("sft", "reward", "dpo")


@dataclass(frozen=True)
class RecipeConfig:
    """One training run. Give it in a YAML or JSON file of these field names, as flags, or both (flags win)."""

    method: str  # "sft" (prompt / completion, or hh-rlhf's chosen dialogues), "reward" or "dpo" (chosen / rejected)
    model: str  # the model to start from: a Hub id (``gpt2``) or a local directory
    output_dir: str  # where the trained model, its tokenizer, metrics.json and loss.png go
    train_files: tuple[str, ...] = ()  # local .jsonl, .jsonl.gz, .json or .parquet files ...
    dataset: str | None = None  # ... or a Hub dataset id (``Anthropic/hh-rlhf``)
    data_dir: str | None = None  # the dataset's folder to read (hh-rlhf: ``helpful-base``)
    eval_files: tuple[str, ...] = ()  # evaluation rows; without them, ``eval_fraction`` of the training rows
    eval_fraction: float = 0.05  # held out of the training rows when no eval_files are given (0: no evaluation)
    lora: bool = True  # LoRA adapters on every linear layer (merged into the saved model); False: full fine-tuning
    lora_r: int = 16  # the adapters' rank (their alpha is twice it)
    max_steps: int = 500  # optimisation steps
    batch_size: int = 8  # rows per device per step (pairs for reward and dpo)
    gradient_accumulation_steps: int = 1  # steps whose gradients add up before an update
    learning_rate: float = 5e-5
    max_length: int = 512  # tokens per sequence (longer ones are truncated; RewardTrainer drops longer pairs)
    beta: float = 0.1  # DPO's KL coefficient
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
        for name in ("lora_r", "max_steps", "batch_size", "gradient_accumulation_steps", "max_length", "logging_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be a whole number of at least 1, not {getattr(self, name)!r}")
        for name in ("learning_rate", "beta"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, not {getattr(self, name)!r}")
        if problems:
            raise ValueError("; ".join(problems) + ".")

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
