"""Evaluation metrics: BLEU (through Hugging Face `evaluate`, from a module shipped with the package), the diversity
of generations (distinct-n), a table comparing decoding strategies on both, and the mean reward of a policy's sampled
responses (to compare two policies on equal terms)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import evaluate
import pandas as pd
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..lm import sample_responses
from ..ppo import LengthSampler
from .generation import generate


@cache
def _bleu_metric() -> evaluate.EvaluationModule:
    script = files("course_utils").joinpath("evaluate_modules", "course_bleu.py")
    return evaluate.load(str(script))


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) of ``predictions`` against one reference each, with sacreBLEU's defaults.

    >>> round(bleu(["def add(a, b): return a + b"], ["def add(a, b): return a + b"]), 1)
    100.0
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; give one each.")
    if not predictions:
        raise ValueError("BLEU needs at least one prediction.")
    result = _bleu_metric().compute(predictions=list(predictions), references=[[ref] for ref in references])
    return float(result["score"])


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Diversity: the share of the texts' word n-grams that are distinct (Li et al. 2016, distinct-n), in [0, 1].

    Counted over all texts together, so a model that answers every prompt alike scores low.

    >>> distinct_n(["a b a b", "a b"], 2)  # 4 bigrams: (a b), (b a), (a b), (a b); 2 distinct
    0.5
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    grams = [tuple(words[i : i + n]) for words in (text.split() for text in texts) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def decoding_table(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    references: Sequence[str],
    strategies: Mapping[str, Mapping[str, Any]],
    extract: Callable[[str], str],
    max_new_tokens: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per decoding strategy: held-out BLEU, distinct-1 and distinct-2 of the answers, and their mean length.

    ``strategies`` maps a name to `model.generate` options (`generation.DECODING_STRATEGIES`); ``extract`` cuts the
    answer out of a generation. Every sampling strategy draws with the same ``seed``.
    """
    rows = []
    for name, options in strategies.items():
        texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, desc=name, seed=seed, **options)
        answers = [extract(text) for text in texts]
        rows.append(
            {
                "strategy": name,
                "BLEU": bleu(answers, references),
                "distinct-1": distinct_n(answers, 1),
                "distinct-2": distinct_n(answers, 2),
                "mean words": sum(len(answer.split()) for answer in answers) / len(answers),
            }
        )
    return pd.DataFrame(rows).set_index("strategy").round(3)


def mean_sampled_reward(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    query_ids: Sequence[Sequence[int]],
    reward_fn: Callable[[list[str]], Sequence[float]],
    seed: int = 0,
    **generation_kwargs: Any,
) -> float:
    """The mean reward of ``model``'s responses to the queries: one response each, sampled, scored by ``reward_fn``.

    The random seed and the response lengths (``LengthSampler(4, 16)``, Lab 3's) are fixed by ``seed``, so that two
    models (a reference and a tuned policy) answer the same queries on equal terms. ``reward_fn`` reads each query
    followed by its response, special tokens (such as Lab 3's control tokens) left out.
    """
    torch.manual_seed(seed)
    queries = [torch.tensor(list(ids)) for ids in query_ids]
    responses = sample_responses(
        model, tokenizer, queries, LengthSampler(4, 16, seed=seed), batch_size=len(queries), **generation_kwargs
    )
    texts = [
        tokenizer.decode(query, skip_special_tokens=True) + tokenizer.decode(response, skip_special_tokens=True)
        for query, response in zip(queries, responses, strict=True)
    ]
    rewards = list(reward_fn(texts))
    return sum(rewards) / len(rewards)
