"""GRPO for causal language models, with rewards a program computes: small and readable, like our PPO engine.

One step, given a batch of questions (prompts) and the columns a reward function reads (the true answers):

1. **Sample** a group of ``group_size`` answers to each question from the policy (`sample_groups`), or through a
   tool environment (``sampler``: `course_utils.grpo.tools.CalculatorSampler`), which also says which tokens the
   tool wrote: those are kept out of the loss.
2. **Score** each answer with the reward function (a verifier: no reward model), as TRL's trainers call theirs:
   ``reward_fn(completions, **columns)``, every column repeated for each answer of its question.
3. **Advantages**, group-relative (``advantages_fn``, GRPO's by default): no value model.
4. **Optimise**: ``num_iterations`` passes over the batch in ``mini_batches`` shuffled parts, one optimiser update
   each, minimising ``loss_fn`` (`grpo_loss`). The log-probabilities of the policy that sampled are fixed in step 1,
   so from the second update on the ratio moves away from 1 and the clip acts (with one update per batch the ratio is
   exactly 1: what runs is REINFORCE with a group baseline).

The advantages and the loss are pluggable callables, so a learner's own functions can drive training.
The model runs through ``accelerate``, as in `course_utils.ppo.PPOTrainer`.
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

from ..lm import (
    disable_dropout,
    entropy_from_logits,
    has_adapters,
    logprobs_from_logits,
    masked_mean,
    pack_batch,
    sample_responses,
)
from .losses import LOSS_TYPES, clip_fractions, grouped, grpo_advantages, grpo_loss, k3_kl

# (completions, **columns) -> one reward per completion, as TRL's GRPOTrainer calls its reward functions.
RewardFn = Callable[..., Sequence[float]]
AdvantagesFn = Callable[[torch.Tensor, int], torch.Tensor]  # (rewards (answers,), group_size) -> advantages
LossFn = Callable[..., torch.Tensor]  # `grpo_loss`'s signature
# (model, tokenizer, queries) -> (responses, loss masks): each response's token ids and a 1 on each token the loss
# may read (0 on a tool's output)
Sampler = Callable[
    [PreTrainedModel, PreTrainedTokenizerBase, Sequence[torch.Tensor]], tuple[list[torch.Tensor], list[torch.Tensor]]
]
MaskFn = Callable[[Sequence[int], Sequence[torch.Tensor], int], torch.Tensor]  # `loss_mask`'s signature


@dataclass
class GRPOConfig:
    """GRPO hyperparameters. Names follow TRL's ``GRPOConfig`` where it has the same knob (``num_generations`` is
    ``group_size`` here; ``steps_per_generation`` is ``mini_batches``)."""

    learning_rate: float = 1e-6  # TRL's default, for billion-parameter models; tiny models take far more
    group_size: int = 8  # answers sampled per question (G)
    questions_per_step: int = 8  # questions per batch: a batch holds questions_per_step x group_size answers
    num_iterations: int = 2  # passes over each batch; 1 (TRL's default) keeps the ratio at 1 and the clip idle
    mini_batches: int = 2  # optimiser updates per pass, each on a shuffled share of the batch
    epsilon: float = 0.2  # ratio clip
    beta: float = 0.0  # weight of the k3 KL to the reference in the loss; 0 (TRL's default) loads no reference
    loss_type: str = "dapo"  # aggregation: "grpo", "dapo" (TRL's default) or "dr_grpo"
    max_completion_length: int = 256  # the most tokens an answer may have (and Dr. GRPO's constant)
    temperature: float = 1.0  # of sampling, and of the log-probabilities the loss reads (as TRL)
    max_grad_norm: float | None = 1.0  # gradient clipping, TRL's default
    mixed_precision: str = "no"  # "fp16" on a T4, "bf16" on newer GPUs
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}.")
        if self.group_size < 2:
            raise ValueError(f"group_size must be at least 2 (a group is its own baseline), got {self.group_size}.")
        answers = self.questions_per_step * self.group_size
        if self.questions_per_step < 1 or self.mini_batches < 1 or answers % self.mini_batches:
            raise ValueError(
                f"questions_per_step x group_size ({answers}) must be a positive multiple of mini_batches "
                f"({self.mini_batches})."
            )
        for name in ("num_iterations", "max_completion_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.epsilon <= 0 or self.beta < 0 or self.temperature <= 0:
            raise ValueError(
                f"epsilon and temperature must be positive and beta at least 0; got epsilon={self.epsilon}, "
                f"temperature={self.temperature}, beta={self.beta}."
            )

    @property
    def batch_size(self) -> int:
        """Answers per step."""
        return self.questions_per_step * self.group_size


@dataclass
class Rollout:
    """A batch after steps 1-3: fixed while the policy is optimised on it. Per-token tensors are
    ``(answers, length - 1)``, aligned on the predicted token."""

    input_ids: torch.Tensor  # (answers, length): question and answer, right-padded
    attention_mask: torch.Tensor  # (answers, length)
    mask: torch.Tensor  # 1 on the answer tokens the loss reads (`loss_mask`)
    rewards: torch.Tensor  # (answers,)
    advantages: torch.Tensor  # (answers,)
    old_logprobs: torch.Tensor  # the sampling policy's log-probabilities
    ref_logprobs: torch.Tensor | None  # the reference's, when beta > 0

    def select(self, rows: torch.Tensor) -> Rollout:
        """The mini-batch of these rows."""
        return Rollout(*(None if value is None else value[rows] for value in vars(self).values()))


def loss_mask(query_lengths: Sequence[int], answer_masks: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """Which log-probabilities the loss reads, ``(answers, width - 1)``, for rows laid out as query, answer, right
    padding, ``width`` tokens in all: ``answer_masks[i][j]`` (1 when the policy wrote answer i's token j, 0 when a
    tool did) at the position that predicts that token, 0 on the query and the padding.

    Position ``t`` of a per-token tensor is the log-probability of token ``t + 1`` (the logits at ``t`` predict the
    next token), so answer token ``j``, at ``query_length + j``, is read at ``query_length + j - 1``.
    """
    mask = torch.zeros((len(query_lengths), width - 1))
    for row, (query_length, answer_mask) in enumerate(zip(query_lengths, answer_masks, strict=True)):
        mask[row, query_length - 1 : query_length - 1 + len(answer_mask)] = answer_mask
    return mask


def sample_groups(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    queries: Sequence[torch.Tensor],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One sampled answer to each query (repeat a query G times for a group), and a loss mask of ones for each:
    the default `Sampler`, pure sampling at ``temperature`` (no top-k, no top-p)."""
    responses = sample_responses(
        model, tokenizer, queries, do_sample=True, top_k=0, temperature=temperature, max_new_tokens=max_new_tokens
    )
    return responses, [torch.ones(len(response)) for response in responses]


class GRPOTrainer:
    """GRPO on a causal LM with a reward function; a frozen reference only when ``config.beta > 0`` (a PEFT
    policy's reference is the same network with its adapters off, as in our PPO engine)."""

    def __init__(
        self,
        config: GRPOConfig,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        reward_fn: RewardFn,
        ref_model: PreTrainedModel | None = None,
        advantages_fn: AdvantagesFn = grpo_advantages,
        loss_fn: LossFn = grpo_loss,
        sampler: Sampler | None = None,
        mask_fn: MaskFn = loss_mask,
    ) -> None:
        self.config, self.tokenizer, self.reward_fn = config, tokenizer, reward_fn
        self.advantages_fn, self.loss_fn, self.mask_fn = advantages_fn, loss_fn, mask_fn
        self.sampler = sampler or (
            lambda model, tokenizer, queries: sample_groups(
                model, tokenizer, queries, config.max_completion_length, config.temperature
            )
        )
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision)
        self.generator = torch.Generator().manual_seed(config.seed)
        disable_dropout(model)  # the first update's ratio is exactly 1
        if config.beta and ref_model is None and not has_adapters(model):
            ref_model = copy.deepcopy(model)
        if ref_model is not None:
            ref_model = disable_dropout(ref_model).to(self.accelerator.device).eval().requires_grad_(False)
        self.ref_model = ref_model
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)

    @property
    def policy(self) -> PreTrainedModel:
        """The model being trained, unwrapped from any distributed wrapper."""
        return self.accelerator.unwrap_model(self.model)

    def step(self, prompts: Sequence[str], **columns: Sequence) -> dict[str, float]:
        """One GRPO step on ``config.questions_per_step`` prompts; ``columns`` (one value per prompt) go to the
        reward function. Returns the step's statistics under TRL's names."""
        started = time.perf_counter()
        rollout, completions = self.rollout(prompts, **columns)
        stats = self.optimise(rollout)
        lengths = rollout.mask.sum(dim=1)
        groups = grouped(rollout.rewards, self.config.group_size)
        return {
            "reward": rollout.rewards.mean().item(),
            "reward_std": rollout.rewards.std().item(),
            # groups whose answers all scored the same: advantage 0, no learning signal from that question
            "frac_reward_zero_std": (groups.std(dim=1) == 0).float().mean().item(),
            "completions/mean_length": lengths.float().mean().item(),
            **stats,
            "time/step": time.perf_counter() - started,
        }

    def rollout(self, prompts: Sequence[str], **columns: Sequence) -> tuple[Rollout, list[str]]:
        """Steps 1-3: sample a group per prompt, score, advantages, and the log-probabilities the loss holds fixed."""
        config = self.config
        if len(prompts) != config.questions_per_step or any(len(v) != len(prompts) for v in columns.values()):
            raise ValueError(
                f"step() needs questions_per_step={config.questions_per_step} prompts and as many values in each "
                f"column; got {len(prompts)} prompts and { ({k: len(v) for k, v in columns.items()}) }."
            )
        queries = [self.tokenizer(prompt, return_tensors="pt").input_ids[0] for prompt in prompts]
        repeated = [query for query in queries for _ in range(config.group_size)]  # G copies of each, side by side
        self.model.eval()
        responses, loss_masks = self.sampler(self.policy, self.tokenizer, repeated)
        completions = self.tokenizer.batch_decode(responses, skip_special_tokens=True)
        answer_columns = {
            name: [v for v in values for _ in range(config.group_size)] for name, values in columns.items()
        }
        rewards = torch.as_tensor(self.reward_fn(completions, **answer_columns), dtype=torch.float32)
        advantages = self.advantages_fn(rewards, config.group_size)
        batch = pack_batch(repeated, responses, self.tokenizer.pad_token_id)  # right-padded; its mask is unused
        mask = self.mask_fn([len(query) for query in repeated], loss_masks, batch.input_ids.shape[1])
        device = self.accelerator.device
        input_ids, attention_mask = batch.input_ids.to(device), batch.attention_mask.to(device)
        with torch.no_grad():
            old_logprobs = self._logprobs(self.model, input_ids, attention_mask)[0]
            ref_logprobs = None
            if config.beta:
                reference = self.policy if self.ref_model is None else self.ref_model
                adapters_off = self.policy.disable_adapter() if self.ref_model is None else nullcontext()
                with adapters_off:
                    ref_logprobs = self._logprobs(reference, input_ids, attention_mask)[0]
        rollout = Rollout(
            input_ids, attention_mask, mask.to(device), rewards.to(device), advantages.to(device), old_logprobs,
            ref_logprobs,
        )  # fmt: skip
        return rollout, completions

    def optimise(self, rollout: Rollout) -> dict[str, float]:
        """Step 4: ``num_iterations`` passes over the rollout in ``mini_batches`` shuffled parts; each statistic
        averaged over the updates."""
        config = self.config
        self.model.train()
        stats: dict[str, list[float]] = defaultdict(list)
        size = config.batch_size // config.mini_batches
        for _ in range(config.num_iterations):
            order = torch.randperm(config.batch_size, generator=self.generator).to(rollout.input_ids.device)
            for start in range(0, config.batch_size, size):
                for key, value in self._update(rollout.select(order[start : start + size])).items():
                    stats[key].append(value)
        self.model.eval()
        return {key: sum(values) / len(values) for key, values in stats.items()}

    def _update(self, part: Rollout) -> dict[str, float]:
        """One optimiser update on a mini-batch."""
        config = self.config
        logprobs, logits = self._logprobs(self.model, part.input_ids, part.attention_mask)
        loss = self.loss_fn(
            logprobs,
            part.old_logprobs,
            part.advantages,
            part.mask,
            ref_logprobs=part.ref_logprobs,
            epsilon=config.epsilon,
            beta=config.beta,
            loss_type=config.loss_type,
            max_completion_length=config.max_completion_length,
        )
        self.accelerator.backward(loss)
        if config.max_grad_norm is not None:
            self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad()
        logprobs = logprobs.detach()
        clipped = clip_fractions(logprobs, part.old_logprobs, part.advantages, part.mask, config.epsilon)
        stats = {
            "loss": loss.item(),
            "entropy": masked_mean(entropy_from_logits(logits.detach()), part.mask).item(),
            **{f"clip_ratio/{name}_mean": value.item() for name, value in clipped.items()},
        }
        if part.ref_logprobs is not None:
            stats["kl"] = masked_mean(k3_kl(logprobs, part.ref_logprobs), part.mask).item()
        return stats

    def _logprobs(
        self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each predicted token's log-probability at the sampling temperature (as TRL divides the logits by it),
        and the logits; both aligned on the predicted token."""
        with self.accelerator.autocast():
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
        logits = logits / self.config.temperature
        return logprobs_from_logits(logits, input_ids[:, 1:]), logits
