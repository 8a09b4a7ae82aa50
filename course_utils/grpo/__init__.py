"""Our GRPO engine: reinforcement learning from rewards a program computes, small and tested, usable outside the
labs (the verifiable-rewards lab drives it with the learner's own advantages and loss; `course train grpo` with a
user's verifier).

- `losses`: the math as small functions: group-relative advantages three ways (GRPO, Dr. GRPO, RLOO), the clipped
  per-token loss, the k3 KL estimate, and the three aggregations (``grpo``, ``dapo``, ``dr_grpo``);
- `trainer`: `GRPOConfig` and `GRPOTrainer` (``step(prompts, **columns)``: sample a group per question, verify,
  advantages, several clipped updates); `sample_groups`, its default sampler; `loss_mask`, which tokens
  the loss reads;
- `tools`: `CalculatorSampler`, answers that call a calculator mid-generation (the tool's tokens kept out of the
  loss), and `calculator`, the same tool for ``trl.GRPOTrainer(tools=...)``.

    from course_utils.grpo import GRPOConfig, GRPOTrainer
"""

from .losses import (
    aggregate,
    clip_fractions,
    clipped_token_loss,
    dr_grpo_advantages,
    grpo_advantages,
    grpo_loss,
    k3_kl,
    rloo_advantages,
)
from .tools import CalculatorSampler, calculate, calculator
from .trainer import GRPOConfig, GRPOTrainer, Sampler, loss_mask, sample_groups

__all__ = [
    "CalculatorSampler",
    "GRPOConfig",
    "GRPOTrainer",
    "Sampler",
    "aggregate",
    "calculate",
    "calculator",
    "clip_fractions",
    "clipped_token_loss",
    "dr_grpo_advantages",
    "grpo_advantages",
    "grpo_loss",
    "k3_kl",
    "loss_mask",
    "rloo_advantages",
    "sample_groups",
]
