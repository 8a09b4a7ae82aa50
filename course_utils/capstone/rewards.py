"""The capstone's two rewards: the **gold** one (the stand-in for human preference) and the **proxy** reward model
trained on pairs the gold one labelled (Lab 2's method), each a function ``reward(questions, answers) -> rewards``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..lm import reward_scores
from ..runtime.loaders import load_reward_model
from ..runtime.profiles import Profile
from ..runtime.sources import resolve
from ..runtime.training import train
from .judge import gold_reward
from .world import World

RewardsFn = Callable[[Sequence[str], Sequence[str]], list[float]]  # (questions, answers) -> one reward per answer
GoldFn = Callable[[str, str], float]  # (question, answer) -> reward


def load_gold_reward(profile: Profile) -> RewardsFn:
    """The gold reward, ``gold(questions, answers) -> rewards``: the tiny world's judge (`judge.gold_reward`) or, in
    ``full``, OpenAssistant's DeBERTa-v3-large reward model (trained on human preferences; 435 M parameters, it fits
    a T4 beside the policy)."""
    if not profile.is_full:
        return lambda questions, answers: [gold_reward(q, a) for q, a in zip(questions, answers, strict=True)]
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve("gold_reward_model", profile)
    model = AutoModelForSequenceClassification.from_pretrained(source).to(profile.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)

    @torch.no_grad()
    def gold(questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        scores = []
        for start in range(0, len(questions), 32):
            batch = tokenizer(
                list(questions[start : start + 32]),
                list(answers[start : start + 32]),
                truncation=True,
                max_length=512,
                padding=True,
                return_tensors="pt",
            ).to(profile.device)
            scores += model(**batch).logits[:, 0].float().cpu().tolist()
        return scores

    return gold


def gold_judge(gold: RewardsFn) -> GoldFn:
    """The gold reward of one answer at a time, ``(question, answer) -> reward``."""
    return lambda question, answer: gold([question], [answer])[0]


def train_proxy(
    profile: Profile, world: World, pairs: Sequence[dict[str, str]], config: Any, save_dir: str | Path
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[dict]]:
    """The proxy reward model: Lab 2's (gpt2, or the tiny GPT-2, with a scalar head) trained with ``RewardTrainer``
    on ``pairs`` (question / chosen / rejected answers, written as the policy's query followed by the answer), and
    saved to ``save_dir`` (``loaders.load_saved_reward_model`` loads it back)."""
    from trl import RewardTrainer

    texts = {
        "chosen": [world.query(pair["prompt"]) + pair["chosen"] for pair in pairs],
        "rejected": [world.query(pair["prompt"]) + pair["rejected"] for pair in pairs],
    }
    model, tokenizer = load_reward_model(profile)
    trainer = RewardTrainer(
        model=model, args=config, train_dataset=Dataset.from_dict(texts), processing_class=tokenizer
    )
    train(trainer)
    trainer.save_model(str(save_dir))
    return trainer.model.eval(), tokenizer, trainer.state.log_history


def proxy_rewards(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, world: World) -> RewardsFn:
    """The proxy as a reward function, ``proxy(questions, answers) -> rewards``: it reads what it was trained on."""

    def proxy(questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        texts = [world.query(q) + a for q, a in zip(questions, answers, strict=True)]
        return reward_scores(model, tokenizer, texts, batch_size=64, desc=None).tolist()

    return proxy


def standardised(values: Sequence[float]) -> torch.Tensor:
    """``values`` less their mean, divided by their standard deviation (1 if they are all equal).

    >>> standardised([1.0, 2.0, 3.0]).tolist()
    [-1.0, 0.0, 1.0]
    """
    values = torch.as_tensor(values, dtype=torch.float32)
    std = values.std() if len(values) > 1 and values.std() > 0 else torch.tensor(1.0)
    return (values - values.mean()) / std


def trl_reward(world: World, reward: RewardsFn) -> Callable[..., list[float]]:
    """``reward(questions, answers)`` as a reward function of TRL's online trainers, which call it with the prompts,
    the completions and the dataset's other columns (here ``question``). An answer is the completion up to
    ``world.answer_end``, as `sample_answers` cuts it."""

    def rewards(prompts: list[str], completions: list[str], question: list[str], **_: Any) -> list[float]:
        answers = [
            completion.split(world.answer_end)[0].strip() if world.answer_end else completion.strip()
            for completion in completions
        ]
        return [float(value) for value in reward(question, answers)]

    rewards.__name__ = "proxy"  # TRL logs each reward function's mean under its name
    return rewards
