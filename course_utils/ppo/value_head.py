"""A causal language model with a value head: the policy and the critic of PPO in one network."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForCausalLM, PreTrainedModel

from ..library_output import hide_library_deprecations

VALUE_HEAD_FILE = "value_head.safetensors"


class CausalLMWithValueHead(nn.Module):
    """A causal LM plus a linear layer that reads its last hidden state: one value estimate per token.

    ``forward`` returns the LM's logits (the policy) and the values (the critic, which estimates the return from
    each state). The value head shares the transformer with the policy, as in the classic recipe.

    ``save_pretrained(path)`` writes the policy as a plain ``AutoModelForCausalLM`` directory (load it with
    ``AutoModelForCausalLM.from_pretrained(path)``, no value head needed) and the value head beside it, in
    ``value_head.safetensors``.
    """

    def __init__(self, policy: PreTrainedModel, value_head: nn.Linear | None = None) -> None:
        super().__init__()
        self.policy = policy
        hidden_size = policy.config.get_text_config().hidden_size
        if value_head is None:
            value_head = nn.Linear(hidden_size, 1)
            # Small initial values: the critic starts near 0 instead of adding noise to the first advantages.
            nn.init.normal_(value_head.weight, std=1.0 / (hidden_size + 1))
            nn.init.zeros_(value_head.bias)
        self.value_head = value_head.to(policy.device)

    @classmethod
    def from_pretrained(cls, source: str, **kwargs) -> CausalLMWithValueHead:
        """The policy from ``source`` (a Hub id or a directory), with the value head saved beside it if ``source`` is
        a local directory that has one; otherwise a new value head."""
        policy = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        model = cls(policy)
        head_file = Path(source) / VALUE_HEAD_FILE
        if head_file.is_file():
            model.value_head.load_state_dict(load_file(head_file))
        return model

    @property
    def config(self):
        """The policy's configuration."""
        return self.policy.config

    @property
    def device(self) -> torch.device:
        """Where the policy's weights are."""
        return self.policy.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, values)``: ``(batch, tokens, vocab)`` and ``(batch, tokens)``."""
        output = self.policy(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        last_hidden = output.hidden_states[-1]
        values = self.value_head(last_hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return output.logits, values

    def generate(self, *args, **kwargs) -> torch.Tensor:
        """The policy's ``generate``."""
        return self.policy.generate(*args, **kwargs)

    def save_pretrained(self, directory: str | Path) -> None:
        """The policy as a plain causal-LM directory, and the value head beside it."""
        self.policy.save_pretrained(directory)
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.value_head.state_dict().items()}
        save_file(state, Path(directory) / VALUE_HEAD_FILE)


def lora_policy(source: str | Path, lora: Any, device: str) -> CausalLMWithValueHead:
    """The causal LM at ``source`` with fresh LoRA adapters (``lora``, a ``peft.LoraConfig``) and a value head: a PPO
    policy whose reference is itself with the adapters switched off (see `PPOTrainer`)."""
    from peft import get_peft_model

    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device)
    with warnings.catch_warnings():
        hide_library_deprecations()
        return CausalLMWithValueHead(get_peft_model(base, lora))
