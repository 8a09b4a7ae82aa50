"""Text out of a causal language model: batched generation with any decoding strategy, and a decoding loop of our
own that samples through a logits filter the learner writes (Lab 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..library_output import progress_bars_enabled

# The strategies Lab 1 compares, as `model.generate` keyword arguments. `top_k=0, top_p=1.0` switch those filters
# off explicitly: transformers' default generation settings sample with top_k=50, and a checkpoint may set its own.
DECODING_STRATEGIES: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False},
    "beam search, 4 beams": {"do_sample": False, "num_beams": 4},
    "greedy, repetition penalty 1.3": {"do_sample": False, "repetition_penalty": 1.3},
    "sampling, T=1.0": {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0},
    "sampling, T=0.7": {"do_sample": True, "temperature": 0.7, "top_k": 0, "top_p": 1.0},
    "top-k 20": {"do_sample": True, "temperature": 1.0, "top_k": 20, "top_p": 1.0},
    "top-p 0.9": {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 0.9},
}

LogitsFilter = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    desc: str = "Generating",
    seed: int | None = None,
    **decoding: Any,
) -> list[str]:
    """Continuations of ``prompts`` (the prompt itself is not included), one string per prompt.

    Greedy unless ``decoding`` says otherwise: any `model.generate` option (``do_sample=True, top_p=0.9``,
    ``num_beams=4``, ``repetition_penalty=1.3``, ``min_new_tokens=8``...). ``seed`` makes sampling repeatable.
    Prompts are padded on the left so that every row's continuation starts at the same position; generation stops
    at the end-of-sequence token.
    """
    model.eval()
    device = next(model.parameters()).device
    options = {"do_sample": False, **decoding}
    if seed is not None:
        torch.manual_seed(seed)
    outputs: list[str] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False, disable=not progress_bars_enabled()):
        chunk = list(prompts[start : start + batch_size])
        batch = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(device)
        generated = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **options,
        )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]  # (batch, new tokens)
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs


@torch.no_grad()
def sample_with_filter(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    logits_filter: LogitsFilter,
    max_new_tokens: int = 48,
    seed: int = 0,
) -> str:
    """Sampling written out: at each step, filter the last position's logits, softmax, draw one token.

    This is the loop `model.generate(do_sample=True, ...)` runs, without its key-value cache (every step re-reads the
    whole text: slower, and nothing hidden). ``logits_filter`` maps logits of shape (1, vocab) to filtered logits of
    the same shape, with ``-inf`` for the tokens that may not be drawn.
    """
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)  # (1, prompt tokens)
    new: list[int] = []
    for _ in range(max_new_tokens):
        logits = model(input_ids=ids).logits[:, -1, :].float()  # (1, vocab): the next token's scores
        probs = torch.softmax(logits_filter(logits), dim=-1)  # (1, vocab), zero where filtered out
        next_id = torch.multinomial(probs, num_samples=1, generator=generator)  # (1, 1)
        if next_id.item() == tokenizer.eos_token_id:
            break
        new.append(next_id.item())
        ids = torch.cat([ids, next_id], dim=1)
    return tokenizer.decode(new, skip_special_tokens=True)
