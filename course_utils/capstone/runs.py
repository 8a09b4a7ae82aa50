"""The capstone's training runs: the SFT policy, and PPO against a reward (RLHF's loop), evaluated on a schedule by
the proxy and gold rewards and the reward-hacking monitor's signals, with the weights kept at each evaluation (for
early stopping)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..library_output import progress_bars_enabled
from ..ppo import PPOTrainer, discordance, policy_signals
from ..runtime.loaders import load_causal_lm
from ..runtime.profiles import Profile
from ..runtime.training import train_sft
from .rewards import RewardsFn
from .sampling import SampleFn, Samples
from .world import World


def train_sft_policy(
    profile: Profile, world: World, config: Any, save_dir: str | Path, peft_config: Any = None
) -> list[dict]:
    """Fine-tune the capstone's base model on ``world.sft_rows`` (completion-only loss, Lab 1's method) and save it
    to ``save_dir`` (a LoRA adapter is merged first); returns the log history."""
    model, tokenizer = load_causal_lm("capstone_policy", profile)
    return train_sft(model, tokenizer, world.sft_rows, config, save_dir, peft_config=peft_config)


@dataclass
class PPORun:
    """A PPO run's evaluations: every `evaluate` samples answers to ``questions`` with ``sample(policy, questions,
    seed)`` (the same seed every time, so that differences come from the policy) and records a row (the step, the
    mean proxy and gold rewards, and the reward-hacking monitor's signals: the KL to the SFT policy, the entropy and
    the length in tokens), the answers, and the trained weights (for early stopping). `audit` adds the fourth
    signal, the proxy's discordance with the gold judge, to every row."""

    sample: SampleFn
    questions: Sequence[str]
    proxy: RewardsFn
    gold: RewardsFn
    seed: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    answers: dict[int, Samples] = field(default_factory=dict)
    weights: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    def evaluate(self, trainer: PPOTrainer, step: int) -> dict[str, float]:
        """Sample, score and measure the trainer's policy at ``step``; keep its weights; returns the new row. The
        policy needs LoRA adapters, or the trainer an explicit reference."""
        evaluation = self.sample(trainer.policy, self.questions, self.seed + 1)
        self.answers[step] = evaluation
        self.weights[step] = {
            name: parameter.detach().clone()
            for name, parameter in trainer.policy.named_parameters()
            if parameter.requires_grad
        }
        signals = policy_signals(
            trainer.policy.policy,
            trainer.ref_model,
            evaluation.query_ids,
            evaluation.response_ids,
            trainer.tokenizer.pad_token_id,
        )
        row = {
            "step": step,
            "proxy": statistics.mean(self.proxy(evaluation.questions, evaluation.answers)),
            "gold": statistics.mean(self.gold(evaluation.questions, evaluation.answers)),
            **{name: signals[name].float().mean().item() for name in ("kl", "entropy", "length")},
        }
        self.history.append(row)
        return row

    def audit(self, size: int, disagreement: Callable[[Sequence[float], Sequence[float]], float] = discordance) -> None:
        """Add ``discordance`` to every row: ``disagreement`` of the proxy's and the gold judge's scores of the first
        ``size`` answers of its evaluation (an audit: a few answers a trusted judge also read)."""
        for row in self.history:
            audited = self.answers[row["step"]]
            questions, answers = audited.questions[:size], audited.answers[:size]
            row["discordance"] = disagreement(self.proxy(questions, answers), self.gold(questions, answers))

    def best_step(self) -> int:
        """The evaluated step with the highest gold reward: where early stopping on a gold check would stop."""
        return max(self.history, key=lambda row: row["gold"])["step"]

    def restore(self, trainer: PPOTrainer, step: int) -> None:
        """Put the trained weights of ``step`` back into the trainer's policy."""
        saved = self.weights[step]
        with torch.no_grad():
            for name, parameter in trainer.policy.named_parameters():
                if name in saved:
                    parameter.copy_(saved[name])


def rlhf_loop(
    trainer: PPOTrainer,
    run: PPORun,
    sample: SampleFn,
    reward: RewardsFn,
    questions: Sequence[str],
    steps: int,
    eval_every: int,
    seed: int = 0,
) -> PPORun:
    """RLHF's loop: ``steps`` PPO steps against ``reward``, each on ``trainer.config.batch_size`` questions drawn from
    ``questions`` and answered by the policy as it is at that step; ``run.evaluate`` before the first step, every
    ``eval_every`` steps and after the last. Returns ``run``.

    Step ``t`` samples with seed ``seed + 2 + t`` (every batch new answers) and draws its questions with a generator
    seeded by ``seed``."""
    picker = torch.Generator().manual_seed(seed)
    for step in tqdm(range(steps + 1), desc="PPO", disable=not progress_bars_enabled()):
        if step % eval_every == 0 or step == steps:
            run.evaluate(trainer, step)
        if step == steps:
            break
        drawn = torch.randint(len(questions), (trainer.config.batch_size,), generator=picker).tolist()
        batch = sample(trainer.policy, [questions[i] for i in drawn], seed + 2 + step)
        trainer.step(batch.query_ids, batch.response_ids, reward(batch.questions, batch.answers))
    return run
