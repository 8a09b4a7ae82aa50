"""Lab 3, Part C: one policy, three sentiments on demand (TRL's former gpt2-sentiment-control recipe).

Each query starts with a control token, ``[negative]``, ``[neutral]`` or ``[positive]``, and the reward is shaped
by the control that was asked for, so a single PPO run teaches the policy to read its first token as an order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from ..notebook.metrics import mean_sampled_reward
from ..ppo import CausalLMWithValueHead

CONTROLS = ("[negative]", "[neutral]", "[positive]")
# The word each control token's embedding starts from: a head start that a short run on a small model needs (from
# the mean of all embeddings, the tiny policy learned two controls of three in 20 steps; from these words, all three).
CONTROL_WORDS = {"[negative]": " terrible", "[neutral]": " about", "[positive]": " wonderful"}

# (texts, the control each was asked for) -> one reward per text
ControlRewardFn = Callable[[list[str], list[str]], list[float]]


def add_control_tokens(model: CausalLMWithValueHead, tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """Add the control tokens to the tokenizer and the policy's embeddings; return each control's token id.

    They are *special* tokens, so that decoding with ``skip_special_tokens=True`` leaves them out of the text the
    sentiment classifier reads. Each new embedding row starts as the embedding of its word in `CONTROL_WORDS`
    (" terrible" for ``[negative]``...), so the policy starts with a hint of what each token means and training
    sharpens it. Add them before building the trainer, so that the reference model is copied with them.
    """
    tokenizer.add_special_tokens({"additional_special_tokens": list(CONTROLS)})
    model.policy.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # the rows are set just below
    ids = dict(zip(CONTROLS, tokenizer.convert_tokens_to_ids(list(CONTROLS)), strict=True))
    embeddings = model.policy.get_input_embeddings().weight  # (vocab, hidden)
    with torch.no_grad():
        for control, word in CONTROL_WORDS.items():
            embeddings[ids[control]] = embeddings[tokenizer.encode(word)].mean(dim=0)
    return ids


@torch.no_grad()
def control_rewards(logits: Sequence[float], controls: Sequence[str]) -> list[float]:
    """Each text's reward for the sentiment its control asked for, from the classifier's POSITIVE logit ``l``:
    ``-l`` for ``[negative]``, ``-2|l| + 4`` for ``[neutral]`` (best at 0), ``l`` for ``[positive]``.

    >>> control_rewards([2.0, 2.0, 2.0], ["[negative]", "[neutral]", "[positive]"])
    [-2.0, 0.0, 2.0]
    """
    shaped = {"[negative]": lambda logit: -logit, "[neutral]": lambda logit: -2 * abs(logit) + 4, "[positive]": float}
    if unknown := sorted(set(controls) - shaped.keys()):
        raise ValueError(f"Unknown control(s) {unknown}; expected one of {CONTROLS}.")
    return [float(shaped[control](logit)) for logit, control in zip(logits, controls, strict=True)]


def control_scores(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    query_ids: Sequence[Sequence[int]],
    control_ids: Mapping[str, int],
    reward_fn: ControlRewardFn,
    seed: int = 0,
    **generation_kwargs,
) -> dict[str, float]:
    """Each control's mean reward on the same queries, with its token in front of every one.

    Responses are sampled with the same seed and lengths for every control and every model, so that two models (the
    reference and the tuned policy) are compared on equal terms. The texts scored leave the control token out.
    """
    return {
        control: mean_sampled_reward(
            model,
            tokenizer,
            [[token_id, *ids] for ids in query_ids],
            lambda texts, control=control: reward_fn(texts, [control] * len(texts)),
            seed,
            **generation_kwargs,
        )
        for control, token_id in control_ids.items()
    }


def mean_by_control(values: Sequence[float], controls: Sequence[str]) -> dict[str, float]:
    """The mean of ``values`` for each control that occurs in ``controls`` (one control per value).

    >>> mean_by_control([1.0, 3.0, -2.0], ["[positive]", "[positive]", "[negative]"])
    {'[positive]': 2.0, '[negative]': -2.0}
    """
    if len(values) != len(controls):
        raise ValueError(f"{len(values)} values but {len(controls)} controls; give one control per value.")
    groups: dict[str, list[float]] = {}
    for value, control in zip(values, controls, strict=True):
        groups.setdefault(control, []).append(float(value))
    return {control: sum(group) / len(group) for control, group in groups.items()}
