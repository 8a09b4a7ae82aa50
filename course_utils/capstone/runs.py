"""The capstone's training runs: the SFT policy, and PPO against a reward, evaluated on a schedule by the proxy and
gold rewards and the KL to the SFT policy, with the weights kept at each evaluation (for early stopping)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..library_output import progress_bars_enabled
from ..ppo import PPOTrainer
from ..runtime.loaders import load_causal_lm
from ..runtime.profiles import Profile
from ..runtime.training import train_sft
from .measures import kl_to_reference
from .rewards import RewardsFn
from .sampling import Samples, sample_answers
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
    """What `run_ppo` measured: one row per evaluation (step, KL to the SFT policy, proxy and gold rewards), the
    answers sampled there, and the trained weights (adapters and value head) at each evaluation."""

    history: list[dict[str, float]] = field(default_factory=list)
    answers: dict[int, Samples] = field(default_factory=dict)
    weights: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

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


def run_ppo(
    trainer: PPOTrainer,
    world: World,
    questions: Sequence[str],
    reward: RewardsFn,
    proxy: RewardsFn,
    gold: RewardsFn,
    steps: int,
    eval_questions: Sequence[str],
    eval_every: int,
    max_new_tokens: int,
    seed: int = 0,
    desc: str = "PPO",
) -> PPORun:
    """PPO against ``reward`` for ``steps`` steps of ``trainer.config.batch_size`` questions, evaluated before the
    first step, every ``eval_every`` steps and after the last.

    Each step samples answers to questions drawn from ``questions`` and passes ``reward(questions, answers)`` to
    `PPOTrainer.step`. Each evaluation samples answers to ``eval_questions`` (with the same seed every time, so that
    differences come from the policy) and records the mean proxy and gold rewards and the KL to the SFT policy (the
    trainer's reference). The policy needs LoRA adapters, or the trainer an explicit reference.
    """
    run = PPORun()
    tokenizer, batch_size = trainer.tokenizer, trainer.config.batch_size
    picker = torch.Generator().manual_seed(seed)
    bar = tqdm(range(steps + 1), desc=desc, disable=not progress_bars_enabled())
    for step in bar:
        if step % eval_every == 0 or step == steps:
            evaluation = sample_answers(trainer.policy, tokenizer, world, eval_questions, max_new_tokens, seed + 1)
            run.answers[step] = evaluation
            run.weights[step] = {
                name: parameter.detach().clone()
                for name, parameter in trainer.policy.named_parameters()
                if parameter.requires_grad
            }
            kl = kl_to_reference(trainer.policy.policy, trainer.ref_model, evaluation, tokenizer.pad_token_id)
            row = {
                "step": step,
                "kl": kl,
                "proxy": statistics.mean(proxy(evaluation.questions, evaluation.answers)),
                "gold": statistics.mean(gold(evaluation.questions, evaluation.answers)),
            }
            run.history.append(row)
            bar.set_postfix(kl=f"{kl:.2f}", proxy=f"{row['proxy']:.2f}", gold=f"{row['gold']:.2f}")
        if step == steps:
            break
        chosen = [questions[i] for i in torch.randint(len(questions), (batch_size,), generator=picker).tolist()]
        batch = sample_answers(trainer.policy, tokenizer, world, chosen, max_new_tokens, seed + 2 + step)
        trainer.step(batch.query_ids, batch.response_ids, reward(batch.questions, batch.answers))
    return run
