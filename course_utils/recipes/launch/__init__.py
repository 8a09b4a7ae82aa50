"""Accelerate's launch configurations for `course train` on several GPUs, shipped with the package.

    accelerate launch --config_file "$(python -m course_utils.recipes.launch ddp)" -m course_utils.recipes dpo ...

``ddp``: one process per GPU, data parallel (fp16, for T4s). ``deepspeed_zero2``: DeepSpeed ZeRO stage 2, the
optimizer state and gradients sharded over the GPUs (bf16; needs ``pip install deepspeed``). Edit ``num_processes``
to your GPU count (or pass ``--num_processes``).
"""

from __future__ import annotations

from pathlib import Path

CONFIGS = ("ddp", "deepspeed_zero2")


def launch_config(name: str) -> Path:
    """The path of the shipped configuration ``name`` (one of `CONFIGS`)."""
    if name not in CONFIGS:
        raise ValueError(f"No launch configuration {name!r}; choose one of {', '.join(CONFIGS)}.")
    return Path(__file__).with_name(f"{name}.yaml")
