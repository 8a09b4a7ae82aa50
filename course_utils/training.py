"""Trainer settings every lab shares, so that a lab's notebook shows only the hyperparameters that teach something."""

from __future__ import annotations

from typing import Any

import torch

from .profiles import Profile


def mixed_precision(profile: Profile) -> str:
    """``"bf16"`` where the GPU has it, ``"fp16"`` on other GPUs (a T4), ``"no"`` on a CPU."""
    if profile.device != "cuda":
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def trainer_kwargs(profile: Profile) -> dict[str, Any]:
    """Keyword arguments for any TRL config (``SFTConfig``, ``RewardConfig``, ``DPOConfig``) in this profile.

    - Precision: bf16 where the GPU has it, fp16 mixed precision on a T4 (no bf16), float32 on a CPU.
    - No activation checkpointing: our models are small enough, and it slows a CPU down.
    - No checkpoints written, no experiment trackers, and no progress bars while grading.
    """
    precision = mixed_precision(profile)
    on_gpu = profile.device == "cuda"
    return {
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not on_gpu,
        "activation_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "seed": profile.seed,
        "disable_tqdm": profile.quiet,
        "log_level": "error" if profile.quiet else "passive",
        "dataloader_pin_memory": on_gpu,
    }


def inspection_kwargs() -> dict[str, Any]:
    """Keyword arguments for a TRL config whose trainer only *prepares* data or computes a loss, never trains.

    The course uses such trainers to show that a learner's function gives what TRL itself computes.
    """
    return {
        "report_to": "none",
        "use_cpu": not torch.cuda.is_available(),
        "bf16": False,
        "activation_checkpointing": False,
    }
