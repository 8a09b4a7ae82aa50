"""Lab 5, the capstone: RLHF end to end, and what optimising a learned reward does to the true one.

The pipeline of InstructGPT (Ouyang et al. 2022), measured as in Gao, Schulman & Hilton (2022, "Scaling laws for
reward model overoptimization"), one module per job:

- `world.py`: the questions, how the policy is asked them (`World.query`), the SFT rows, TRL's rows;
- `templates.py` and `judge.py`: the tiny world's phrases, and its gold judge (what makes an answer good);
- `sampling.py`: answers sampled from a policy (`sample_answers`);
- `rewards.py`: the **gold** reward (`load_gold_reward`: the stand-in for human preference) and the **proxy**
  reward model trained on pairs it labelled (`train_proxy`, Lab 2's method);
- `measures.py`: best-of-n and its KL, gold-labelled pairs, the KL to the SFT policy (`kl_to_reference`), win rates,
  what a run over-optimised (`peak_then_fall`, `exploits`) and the routes' table (`route_row`);
- `runs.py`: the SFT policy (`train_sft_policy`) and PPO against the proxy (`run_ppo`, LoRA adapters only),
  evaluated on a schedule.
"""

from .measures import best_of_n_curve, exploits, kl_to_reference, peak_then_fall, response_logprobs, route_row
from .rewards import (
    GoldFn,
    RewardsFn,
    gold_judge,
    load_gold_reward,
    proxy_rewards,
    standardised,
    train_proxy,
    trl_reward,
)
from .runs import PPORun, run_ppo, train_sft_policy
from .sampling import Samples, sample_answers
from .world import World, load_world, preference_rows, query_rows, stop_token_ids

__all__ = [
    "GoldFn",
    "PPORun",
    "RewardsFn",
    "Samples",
    "World",
    "best_of_n_curve",
    "exploits",
    "gold_judge",
    "kl_to_reference",
    "load_gold_reward",
    "load_world",
    "peak_then_fall",
    "preference_rows",
    "proxy_rewards",
    "query_rows",
    "response_logprobs",
    "route_row",
    "run_ppo",
    "sample_answers",
    "standardised",
    "stop_token_ids",
    "train_proxy",
    "train_sft_policy",
    "trl_reward",
]
