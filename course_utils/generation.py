"""Batched generation for evaluation: greedy decoding, left padding, only the new text returned."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .quiet import progress_bars_enabled


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    desc: str = "Generating",
) -> list[str]:
    """Greedy continuations of ``prompts`` (the prompt itself is not included), one string per prompt.

    Prompts are padded on the left so that every row's continuation starts at the same position; generation stops
    at the end-of-sequence token.
    """
    model.eval()
    device = next(model.parameters()).device
    outputs: list[str] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False, disable=not progress_bars_enabled()):
        chunk = list(prompts[start : start + batch_size])
        batch = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(device)
        generated = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs
