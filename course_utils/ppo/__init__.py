"""Our PPO engine for causal language models: what TRL 1.x no longer has (its PPO trainer, value-head model and
``LengthSampler`` are gone), small and tested, usable outside the labs.

- `trainer`: `PPOConfig` (the classic defaults) and `PPOTrainer` (``generate``, then ``step(queries, responses,
  scores)``); `sample_responses` (from ``course_utils.lm``) samples from any policy;
- `losses`: the math of one step as small functions (KL penalties, GAE, whitening, the clipped losses);
- `value_head`: `CausalLMWithValueHead`, a language model with a scalar value per token, and `lora_policy`, one
  whose language model trains LoRA adapters (its reference: the same network with the adapters off);
- `kl_control`: the fixed and adaptive KL coefficient controllers;
- `length_sampler`: `LengthSampler`, the query and response lengths of the classic recipe;
- `monitor`: `HackingMonitor`, a reward-hacking monitor: the signals of each evaluation (`policy_signals`: KL,
  entropy, length; `discordance` with an audit by a trusted judge) and its warnings.

    from course_utils.ppo import LengthSampler, PPOConfig, PPOTrainer
"""

from ..lm import sample_responses
from .kl_control import AdaptiveKLController, FixedKLController
from .length_sampler import LengthSampler
from .monitor import HackingMonitor, MonitorThresholds, discordance, first_warnings, policy_signals
from .trainer import PPOConfig, PPOTrainer
from .value_head import CausalLMWithValueHead, lora_policy

__all__ = [
    "AdaptiveKLController",
    "CausalLMWithValueHead",
    "FixedKLController",
    "HackingMonitor",
    "LengthSampler",
    "MonitorThresholds",
    "PPOConfig",
    "PPOTrainer",
    "discordance",
    "first_warnings",
    "lora_policy",
    "policy_signals",
    "sample_responses",
]
