"""Answers sampled from the capstone's policy: the token ids PPO trains on and the text the judges read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from ..lm import sample_responses
from .world import World, stop_token_ids


@dataclass
class Samples:
    """Answers sampled from a policy: the token ids PPO trains on and the text the judges read."""

    questions: list[str]
    query_ids: list[torch.Tensor]
    response_ids: list[torch.Tensor]  # each ends at the answer's end (or the end-of-sequence token), or is cut off
    answers: list[str]


@torch.no_grad()
def sample_answers(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    questions: Sequence[str],
    max_new_tokens: int,
    seed: int,
    batch_size: int = 64,
) -> Samples:
    """One sampled answer per question (plain sampling: temperature 1, no top-k or top-p), reproducible by ``seed``.

    Generation stops at the end-of-sequence token or at ``world.answer_end`` (`stop_token_ids`); an answer that
    reaches ``max_new_tokens`` first is cut off, and the gold judge sees that.
    """
    query_ids = [torch.tensor(tokenizer.encode(world.query(question))) for question in questions]
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        responses = sample_responses(
            model,
            tokenizer,
            query_ids,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            eos_token_id=stop_token_ids(tokenizer, world),
        )
    answers = [tokenizer.decode(response, skip_special_tokens=True).strip() for response in responses]
    return Samples(list(questions), query_ids, responses, answers)


SampleFn = Callable[[torch.nn.Module, Sequence[str], int], Samples]  # (policy, questions, seed) -> its answers


def sampler(tokenizer: PreTrainedTokenizerBase, world: World, max_new_tokens: int) -> SampleFn:
    """``sample(policy, questions, seed)``: `sample_answers` with the tokenizer, world and length fixed."""

    def sample(policy: torch.nn.Module, questions: Sequence[str], seed: int) -> Samples:
        return sample_answers(policy, tokenizer, world, questions, max_new_tokens, seed)

    return sample
