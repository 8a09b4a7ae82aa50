"""PPO for causal language models: the classic ``step(queries, responses, scores)`` loop, small and readable.

One PPO step, given a batch of queries, the policy's sampled responses and a reward-model score for each:

1. **Rollout statistics** (no gradients): the policy's log-probs and values and the frozen reference model's
   log-probs of every response token.
2. **Rewards per token**: a KL penalty ``-kl_coef * kl_t`` on each response token, plus the score on the last one.
3. **Advantages**: generalised advantage estimation (GAE) over the response, then whitened.
4. **Optimisation**: ``ppo_epochs`` passes over shuffled mini-batches, minimising the clipped policy loss plus
   ``vf_coef`` times the clipped value loss.
5. **KL control**: the KL coefficient adapts towards a target KL (or stays fixed).

The per-token rewards, the advantages, the policy loss and the value loss are pluggable callables (defaulting to
``course_utils.ppo.losses``), so a learner's own functions can drive training. The model runs through
``accelerate``: the same code trains on a CPU, a GPU, or several GPUs under ``accelerate launch``.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from accelerate import Accelerator
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..lm import disable_dropout, entropy_from_logits, has_adapters, logprobs_from_logits, pack_batch, sample_responses
from .kl_control import AdaptiveKLController, FixedKLController
from .length_sampler import LengthSampler
from .losses import (
    KL_PENALTIES,
    clipped_policy_loss,
    clipped_value_loss,
    gae_advantages,
    kl_penalised_rewards,
    kl_penalty,
    masked_mean,
    masked_var,
    masked_whiten,
    policy_stats,
    value_clipfrac,
)
from .value_head import CausalLMWithValueHead

RewardsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]
AdvantagesFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], tuple[torch.Tensor, torch.Tensor]]
PolicyLossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]
ValueLossFn = PolicyLossFn  # (values, old values, returns, mask, cliprange_value) -> a scalar loss


@dataclass
class PPOConfig:
    """PPO hyperparameters; the defaults are the classic ones (TRL <= 0.11, after Ziegler et al. 2019)."""

    learning_rate: float = 1.41e-5
    batch_size: int = 128  # samples per step
    mini_batch_size: int = 128  # samples per optimiser update
    ppo_epochs: int = 4  # passes over each batch
    init_kl_coef: float = 0.2
    adap_kl_ctrl: bool = True  # adapt the KL coefficient towards `target`, or keep it fixed
    target: float = 6.0  # target KL (per sequence) of the adaptive controller
    horizon: float = 10000  # samples over which the controller adapts
    kl_penalty: str = "kl"  # "kl", "abs", "mse" or "full"
    gamma: float = 1.0  # discount
    lam: float = 0.95  # GAE lambda
    cliprange: float = 0.2  # policy ratio clip
    cliprange_value: float = 0.2  # value clip
    vf_coef: float = 0.1  # weight of the value loss
    ratio_threshold: float = 10.0  # skip a mini-batch whose mean ratio exceeds this (a diverged update)
    max_grad_norm: float | None = None  # gradient clipping, off as in the classic recipe
    mixed_precision: str = "no"  # "fp16" on a T4, "bf16" on newer GPUs
    seed: int = 0
    # Token ids the policy may never write (Lab 3's control tokens): left out when sampling and of the distributions
    # the log-probabilities and KL are computed from, for policy and reference alike, so the two stay consistent.
    suppress_tokens: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kl_penalty not in KL_PENALTIES:
            raise ValueError(f"kl_penalty must be one of {', '.join(KL_PENALTIES)}, got {self.kl_penalty!r}.")
        if self.batch_size < 1 or self.mini_batch_size < 1 or self.batch_size % self.mini_batch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a positive multiple of mini_batch_size "
                f"({self.mini_batch_size})."
            )
        if self.ppo_epochs < 1:
            raise ValueError(f"ppo_epochs must be at least 1, got {self.ppo_epochs}.")
        if any(not isinstance(token, int) or token < 0 for token in self.suppress_tokens):
            raise ValueError(f"suppress_tokens must be token ids (whole numbers >= 0), got {self.suppress_tokens!r}.")


@dataclass
class Rollout:
    """A batch after steps 1-3 of `PPOTrainer.step`: fixed while the policy is optimised on it.

    Token tensors are (batch, length - 1), aligned on the predicted token; ``mask`` is 1 on response tokens.
    """

    input_ids: torch.Tensor  # (batch, length): query and response, right-padded
    attention_mask: torch.Tensor  # (batch, length)
    mask: torch.Tensor
    scores: torch.Tensor  # (batch,): the reward model's score of each response
    old_logprobs: torch.Tensor  # the policy's log-probs when the responses were sampled
    values: torch.Tensor  # the value head's estimates then
    kl: torch.Tensor  # the per-token KL penalty against the reference
    kl_coef: float
    advantages: torch.Tensor  # GAE, whitened
    returns: torch.Tensor  # advantages + values, before whitening

    def select(self, rows: torch.Tensor) -> Rollout:
        """The mini-batch of these rows."""
        picked = {
            name: value[rows] if isinstance(value, torch.Tensor) and value.ndim else value
            for name, value in vars(self).items()
        }
        return Rollout(**picked)


class PPOTrainer:
    """Classic PPO on a causal LM with a value head, against a frozen reference model.

    ``ref_model=None`` takes a frozen copy of the policy as it is now, except for a policy with LoRA adapters (a PEFT
    model): its reference is the same network with the adapters switched off, so only the adapters (and the value
    head) train and one copy of the base weights serves both ("RLHF using only adapters"; TRL's PPO did the same).
    Dropout is switched off in both models so that, before the first update, the new and old log-probs are
    identical (ratio exactly 1).

    The trainer sets up ``accelerate`` for the process: later trainers in the same process must use the same
    ``mixed_precision`` (restart the kernel to change it).
    """

    def __init__(
        self,
        config: PPOConfig,
        model: CausalLMWithValueHead,
        tokenizer: PreTrainedTokenizerBase,
        ref_model: PreTrainedModel | None = None,
        rewards_fn: RewardsFn = kl_penalised_rewards,
        advantages_fn: AdvantagesFn = gae_advantages,
        policy_loss_fn: PolicyLossFn = clipped_policy_loss,
        value_loss_fn: ValueLossFn = clipped_value_loss,
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.rewards_fn, self.advantages_fn, self.policy_loss_fn = rewards_fn, advantages_fn, policy_loss_fn
        self.value_loss_fn = value_loss_fn
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision)
        self.generator = torch.Generator().manual_seed(config.seed)
        if ref_model is None and not has_adapters(model.policy):
            ref_model = copy.deepcopy(model.policy)
        disable_dropout(model)
        if ref_model is not None:
            disable_dropout(ref_model)
            ref_model = ref_model.to(self.accelerator.device).eval().requires_grad_(False)
        self.ref_model = ref_model  # None: the policy with its adapters switched off
        # Frozen weights (a LoRA policy's base) get no optimiser state: Adam keeps two numbers per trained weight.
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.kl_ctl = (
            AdaptiveKLController(config.init_kl_coef, config.target, config.horizon)
            if config.adap_kl_ctrl
            else FixedKLController(config.init_kl_coef)
        )

    @property
    def policy(self) -> CausalLMWithValueHead:
        """The model being trained, unwrapped from any distributed wrapper."""
        return self.accelerator.unwrap_model(self.model)

    def generate(
        self,
        queries: Sequence[torch.Tensor],
        length_sampler: LengthSampler | None = None,
        batch_size: int = 16,
        **generation_kwargs,
    ) -> list[torch.Tensor]:
        """The policy's responses to ``queries`` (see ``sample_responses``), never with ``config.suppress_tokens``."""
        if self.config.suppress_tokens:
            generation_kwargs = {"suppress_tokens": list(self.config.suppress_tokens), **generation_kwargs}
        return sample_responses(self.policy, self.tokenizer, queries, length_sampler, batch_size, **generation_kwargs)

    def step(
        self, queries: Sequence[torch.Tensor], responses: Sequence[torch.Tensor], scores: Sequence[float] | torch.Tensor
    ) -> dict[str, float]:
        """One PPO step on a batch of ``config.batch_size`` samples; returns the classic statistics.

        Advantages are whitened over all the batch's response tokens, so the batch needs at least two of them.
        Statistics named ``ppo/*``, ``tokens/*`` and ``env/reward_std`` aside, values are averaged over processes.
        """
        config = self.config
        if not len(queries) == len(responses) == len(scores) == config.batch_size:
            raise ValueError(
                f"step() needs batch_size={config.batch_size} queries, responses and scores; "
                f"got {len(queries)}, {len(responses)} and {len(scores)}."
            )
        started = time.perf_counter()
        device = self.accelerator.device
        scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1).to(device)
        batch = pack_batch(queries, responses, self.tokenizer.pad_token_id)
        input_ids, attention_mask, mask = (t.to(device) for t in (batch.input_ids, batch.attention_mask, batch.mask))

        # 1-3. Rollout statistics, per-token rewards and advantages: fixed for the whole optimisation.
        with torch.no_grad():
            # (batch, length - 1, vocab) and (batch, length - 1): aligned on the predicted token
            logits, values = self._policy_forward(input_ids, attention_mask)
            old_logprobs = logprobs_from_logits(logits, input_ids[:, 1:])  # (batch, length - 1)
            ref_logits = self._reference_logits(input_ids, attention_mask)
            ref_logprobs = logprobs_from_logits(ref_logits, input_ids[:, 1:])
            kl = kl_penalty(old_logprobs, ref_logprobs, config.kl_penalty, logits, ref_logits)  # per token
            del logits, ref_logits
            kl_coef = self.kl_ctl.value
            rewards = self.rewards_fn(scores, kl, mask, kl_coef)
            advantages, returns = self.advantages_fn(rewards, values, mask, config.gamma, config.lam)
            advantages = masked_whiten(advantages, mask)
        rollout = Rollout(
            input_ids, attention_mask, mask, scores, old_logprobs, values, kl, kl_coef, advantages, returns
        )

        # 4. Optimisation: ppo_epochs passes over shuffled mini-batches.
        train_stats = self._optimise(rollout)

        # 5. KL control, on the KL of the rollout (summed over each response, averaged over the batch).
        mean_kl = self._mean((kl * mask).sum(1))
        self.kl_ctl.update(mean_kl, config.batch_size * self.accelerator.num_processes)

        stats = {**self._rollout_stats(rollout, queries, responses, mean_kl), **train_stats}
        stats["time/ppo/total"] = time.perf_counter() - started
        return stats

    def _optimise(self, rollout: Rollout) -> dict[str, float]:
        """``ppo_epochs`` passes over the rollout in shuffled mini-batches; each statistic averaged over them."""
        config = self.config
        train_stats: dict[str, list[float]] = defaultdict(list)
        for _ in range(config.ppo_epochs):
            order = torch.randperm(config.batch_size, generator=self.generator)
            for start in range(0, config.batch_size, config.mini_batch_size):
                rows = order[start : start + config.mini_batch_size].to(rollout.input_ids.device)
                for key, value in self._train_minibatch(rollout.select(rows)).items():
                    train_stats[key].append(value)
        return {key: sum(values) / len(values) for key, values in train_stats.items()}

    def _rollout_stats(
        self, rollout: Rollout, queries: Sequence[torch.Tensor], responses: Sequence[torch.Tensor], mean_kl: float
    ) -> dict[str, float]:
        """The classic statistics of a step's rollout, under the names TRL's users know."""
        mask, scores, returns, values = rollout.mask, rollout.scores, rollout.returns, rollout.values
        return {
            "objective/kl": mean_kl,
            "objective/kl_coef": rollout.kl_coef,
            "objective/entropy": self._mean((-rollout.old_logprobs * mask).sum(1)),
            # per token, as TRL logged it
            "ppo/mean_non_score_reward": masked_mean(-rollout.kl_coef * rollout.kl * mask, mask).item(),
            "ppo/mean_scores": self._mean(scores),
            "ppo/returns/mean": masked_mean(returns, mask).item(),
            "ppo/returns/var": masked_var(returns, mask).item(),
            "ppo/val/mean": masked_mean(values, mask).item(),
            "ppo/val/var": masked_var(values, mask).item(),
            "env/reward_mean": self._mean(scores),
            "env/reward_std": self.accelerator.gather(scores).std().item() if len(scores) > 1 else 0.0,
            "tokens/queries_len_mean": float(sum(len(q) for q in queries) / len(queries)),
            "tokens/responses_len_mean": float(sum(len(r) for r in responses) / len(responses)),
        }

    def _train_minibatch(self, part: Rollout) -> dict[str, float]:
        """One optimiser update on a mini-batch of the rollout: the clipped policy loss plus the clipped value loss."""
        config, mask, returns = self.config, part.mask, part.returns
        logits, values = self._policy_forward(part.input_ids, part.attention_mask)
        logprobs = logprobs_from_logits(logits, part.input_ids[:, 1:])
        policy_loss = self.policy_loss_fn(logprobs, part.old_logprobs, part.advantages, mask, config.cliprange)
        value_loss = self.value_loss_fn(values, part.values, returns, mask, config.cliprange_value)
        loss = policy_loss + config.vf_coef * value_loss
        moved = policy_stats(logprobs.detach(), part.old_logprobs, part.advantages, mask, config.cliprange)
        # Every process must make the same choice, or the others would wait forever for its gradients.
        skipped = self.accelerator.reduce(moved["ratio"], reduction="mean").item() > config.ratio_threshold
        if not skipped:  # a mini-batch whose ratio exploded would wreck the policy: leave it out
            self.accelerator.backward(loss)
            if config.max_grad_norm is not None:
                self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
            self.optimizer.step()
        self.optimizer.zero_grad()
        return {
            "ppo/loss/policy": policy_loss.item(),
            "ppo/loss/value": value_loss.item(),
            "ppo/loss/total": loss.item(),
            "ppo/policy/entropy": masked_mean(entropy_from_logits(logits.detach()), mask).item(),
            "ppo/policy/approxkl": moved["approxkl"].item(),
            "ppo/policy/clipfrac": moved["clipfrac"].item(),
            "ppo/policy/ratio": moved["ratio"].item(),
            "ppo/policy/skipped": float(skipped),
            "ppo/val/vpred": masked_mean(values.detach(), mask).item(),
            "ppo/val/error": masked_mean((values.detach() - returns).square(), mask).item(),
            "ppo/val/clipfrac": value_clipfrac(
                values.detach(), part.values, returns, mask, config.cliprange_value
            ).item(),
        }

    def _policy_forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and values aligned on the predicted token (the last position predicts nothing)."""
        with self.accelerator.autocast():
            logits, values = self.model(input_ids, attention_mask)
        return self._suppressed(logits[:, :-1].float()), values[:, :-1].float()

    def _reference_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The reference's logits, aligned like the policy's: the frozen model's, or the policy's without adapters."""
        reference = self.policy.policy if self.ref_model is None else self.ref_model
        adapters_off = reference.disable_adapter() if self.ref_model is None else nullcontext()
        with self.accelerator.autocast(), adapters_off:
            logits = reference(input_ids=input_ids, attention_mask=attention_mask).logits
        return self._suppressed(logits[:, :-1].float())

    def _suppressed(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` with the suppressed tokens' set to the lowest float: probability 0 after the softmax, and finite,
        so that the entropy's ``p log p`` is 0 there rather than ``0 * -inf`` (nan)."""
        if not self.config.suppress_tokens:
            return logits
        suppressed = logits.clone()
        suppressed[..., list(self.config.suppress_tokens)] = torch.finfo(logits.dtype).min
        return suppressed

    def _mean(self, values: torch.Tensor) -> float:
        """The mean over the whole batch, across processes."""
        return self.accelerator.gather(values).float().mean().item()
