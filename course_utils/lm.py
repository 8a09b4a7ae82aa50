"""What the PPO and GRPO engines, DPO, the capstone and the recipes share about language models: sampling responses
to queries, joining queries and responses into one padded batch, the log-probability and entropy of each token, means
over a mask, and a reward model's score of each text (as ``trl.RewardTrainer`` computes it).

Token tensors here are aligned as PPO reads them: position ``t`` of a per-token tensor refers to *predicting* token
``t + 1`` of the sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .library_output import progress_bars_enabled

ModelT = TypeVar("ModelT", bound=torch.nn.Module)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``log pi(token)`` at each position, from ``(batch, positions, vocab)`` logits and the chosen tokens."""
    return torch.gather(F.log_softmax(logits.float(), dim=-1), 2, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """The entropy of the next-token distribution at each position, in nats."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """The mean of ``values`` where ``mask`` is 1 (over everything, or along ``dim``)."""
    if dim is None:
        return (values * mask).sum() / mask.sum()
    return (values * mask).sum(dim) / mask.sum(dim)


@dataclass
class PackedBatch:
    """Queries and responses joined and right-padded into one tensor, with the response mask aligned for PPO."""

    input_ids: torch.Tensor  # (batch, tokens)
    attention_mask: torch.Tensor  # (batch, tokens)
    mask: torch.Tensor  # (batch, tokens - 1): 1 where the *predicted* token is a response token


def pack_batch(queries: Sequence[torch.Tensor], responses: Sequence[torch.Tensor], pad_token_id: int) -> PackedBatch:
    """Join each query with its response, right-pad the rows, and mark the response tokens.

    Right padding keeps every row's positions starting at 0. Position ``t`` of ``mask`` refers to predicting token
    ``t + 1``, so a response occupying tokens ``[q, q + r)`` is masked in at positions ``[q - 1, q + r - 1)``.
    """
    if len(queries) != len(responses) or not queries:
        raise ValueError(f"Need as many responses as queries, at least one ({len(queries)} vs {len(responses)}).")
    rows = [torch.cat([query, response]) for query, response in zip(queries, responses, strict=True)]
    length = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    mask = torch.zeros((len(rows), length - 1))
    for i, (row, query, response) in enumerate(zip(rows, queries, responses, strict=True)):
        if len(query) == 0 or len(response) == 0:
            raise ValueError(f"Row {i}: queries and responses need at least one token each.")
        input_ids[i, : len(row)] = row
        attention_mask[i, : len(row)] = 1
        mask[i, len(query) - 1 : len(row) - 1] = 1
    return PackedBatch(input_ids, attention_mask, mask)


@torch.no_grad()
def sample_responses(
    model: torch.nn.Module,  # anything with ``generate`` and ``device``: a model, or a policy with a value head
    tokenizer: PreTrainedTokenizerBase,
    queries: Sequence[torch.Tensor],
    length_sampler: Callable[[], int] | None = None,
    batch_size: int = 16,
    **generation_kwargs,
) -> list[torch.Tensor]:
    """A response to each query (token ids, the query not included), generated in left-padded batches.

    With a ``length_sampler``, each batch draws its ``max_new_tokens`` from it. A response stops after its first
    end-of-sequence token, which it keeps.
    """
    eos = tokenizer.eos_token_id
    responses = []
    for start in range(0, len(queries), batch_size):
        chunk = [{"input_ids": query.tolist()} for query in queries[start : start + batch_size]]
        batch = tokenizer.pad(chunk, padding_side="left", return_tensors="pt").to(model.device)
        kwargs = {"pad_token_id": tokenizer.pad_token_id, **generation_kwargs}
        if length_sampler is not None:
            kwargs["max_new_tokens"] = length_sampler()
        output = model.generate(**batch, **kwargs)[:, batch["input_ids"].shape[1] :]
        for row in output.cpu():
            ends = (row == eos).nonzero()
            responses.append(row[: ends[0].item() + 1] if len(ends) else row)
    return responses


def has_adapters(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a PEFT model (LoRA adapters on a frozen base), whose adapters can be switched off."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def disable_dropout(model: ModelT) -> ModelT:
    """``model`` with every dropout layer's probability set to 0, so that the log-probabilities an RL step records
    while sampling and those it computes again to train are the same numbers (the first update's ratio is 1)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def with_eos(text: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """``text`` ending with the end-of-sequence token, as ``trl.RewardTrainer`` prepares every text (a tokenizer
    without one, BERT's, marks the end itself)."""
    if tokenizer.eos_token is None or text.endswith(tokenizer.eos_token):
        return text
    return text + tokenizer.eos_token


@torch.no_grad()
def reward_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 32,
    desc: str | None = "Scoring",
    max_length: int | None = None,
) -> torch.Tensor:
    """The reward of each text, computed as ``RewardTrainer`` computes it, as a float tensor on the CPU.

    ``desc`` labels the progress bar; ``None`` draws none (for scoring inside a loop that has its own).

    Each text gets the end-of-sequence token appended; rows are padded on the right, and the model reads its score
    head at the last token that is not padding. With ``max_length``, a longer text is cut to ``max_length`` tokens on
    the tokenizer's ``truncation_side`` (`course train ppo` sets it to ``"left"``: the answer and its end are kept).
    """
    model.eval()
    device = next(model.parameters()).device
    scores = []
    for start in tqdm(
        range(0, len(texts), batch_size), desc=desc, leave=False, disable=desc is None or not progress_bars_enabled()
    ):
        chunk = [with_eos(text, tokenizer) for text in texts[start : start + batch_size]]
        cut = {"truncation": True, "max_length": max_length} if max_length else {}
        batch = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="right", **cut).to(device)
        scores.append(model(**batch).logits[:, 0].float().cpu())
    return torch.cat(scores) if scores else torch.empty(0)
