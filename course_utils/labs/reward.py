"""Lab 2's reward models: the conversation a reward model reads, TRL's own Bradley-Terry loss on a batch to check a
learner's against, and the held-out pairs on which a trained reward model is measured.

A reward model here is a sequence classifier with one output (see ``loaders.load_reward_model``). It reads a whole
conversation and returns one number (``lm.reward_scores``); trained on pairs, the number is higher for the preferred
answer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from datasets import Dataset, DatasetDict
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..library_output import quiet_loading
from ..lm import reward_scores
from ..notebook.checks import load_weights
from ..runtime.loaders import HELD_OUT_FRACTION, SPLIT_SEED, first_rows, load_instruct_pairs, load_reward_model
from ..runtime.profiles import Profile
from ..runtime.training import reference_trainer


def conversation(prompt: str, response: str) -> str:
    """The text a reward model reads for one answer to one prompt.

    >>> conversation("Hi?", "Hello.")
    'Human: Hi?\\n\\nAssistant: Hello.'
    """
    return f"Human: {prompt}\n\nAssistant: {response}"


def split_by_prompt(rows: Dataset, test_size: float, seed: int) -> DatasetDict:
    """A train / test split in which all the pairs of a prompt fall on the same side.

    The distinct prompts, sorted, are shuffled with ``random.Random(seed)``; the first ``round(test_size * count)`` are
    held out. Each side keeps the rows' original order.
    """
    prompts = sorted(set(rows["prompt"]))
    random.Random(seed).shuffle(prompts)
    held_out = set(prompts[: round(test_size * len(prompts))])
    in_test = [prompt in held_out for prompt in rows["prompt"]]
    return DatasetDict(
        train=rows.select([i for i, test in enumerate(in_test) if not test]),
        test=rows.select([i for i, test in enumerate(in_test) if test]),
    )


def held_out_pairs(profile: Profile) -> tuple[list[str], list[str]]:
    """Lab 2's held-out pairs as the reward model reads them: (chosen texts, rejected texts).

    The pairs are split by prompt with the lab's seed; the full profile measures on its first 1,000 held-out pairs.
    """
    test = split_by_prompt(load_instruct_pairs(profile), HELD_OUT_FRACTION, SPLIT_SEED)["test"]
    test = first_rows(test, profile.pick(full=1000, tiny=len(test)))
    return [conversation(row["prompt"], row["chosen"]) for row in test], [
        conversation(row["prompt"], row["rejected"]) for row in test
    ]


def held_out_accuracy(profile: Profile, weights: Mapping[str, torch.Tensor]) -> float:
    """How often a reward model with ``weights`` (``checks.model_weights`` of a trained one) scores the chosen answer
    of a held-out pair strictly higher, measured on `held_out_pairs` with the lab's model rebuilt around them."""
    with quiet_loading():  # the lab showed the model's load report once
        model, tokenizer = load_reward_model(profile)
    load_weights(model, weights)
    chosen, rejected = held_out_pairs(profile)
    wins = reward_scores(model, tokenizer, chosen, desc=None) > reward_scores(model, tokenizer, rejected, desc=None)
    return wins.float().mean().item()


@dataclass
class RewardBatch:
    """One batch of pairs as ``RewardTrainer`` sees it: its loss and the rewards the loss was computed from."""

    loss: float
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor


@torch.no_grad()
def trl_reward_loss(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, chosen: Sequence[str], rejected: Sequence[str]
) -> RewardBatch:
    """``trl.RewardTrainer``'s own loss on one batch of (chosen, rejected) texts (nothing is trained).

    The trainer prepares the texts (end-of-sequence token, tokenization), collates them into one batch of chosen
    rows followed by rejected rows, and computes its loss and the rewards it is made of.
    """
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    if len(chosen) != len(rejected) or not chosen:
        raise ValueError(f"Give as many chosen as rejected texts, at least one ({len(chosen)} vs {len(rejected)}).")
    pairs = Dataset.from_dict({"chosen": list(chosen), "rejected": list(rejected)})
    with reference_trainer(
        RewardTrainer, RewardConfig, {"max_length": None}, model=model, train_dataset=pairs, processing_class=tokenizer
    ) as trainer:
        batch = trainer.data_collator(list(trainer.train_dataset))
        device = next(model.parameters()).device
        model.eval()
        loss, outputs = trainer.compute_loss(model, {key: value.to(device) for key, value in batch.items()}, True)
    chosen_rewards, rejected_rewards = outputs.logits.squeeze(-1).float().cpu().chunk(2)
    return RewardBatch(loss=loss.item(), chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
