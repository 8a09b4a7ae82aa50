"""Lab 6, the capstone: RLHF end to end, and what optimising a learned reward does to the true one.

The pipeline of InstructGPT (Ouyang et al. 2022), measured as in Gao, Schulman & Hilton (2022, "Scaling laws for
reward model overoptimization"), one module per job:

- `world.py`: the questions, how the policy is asked them (`World.query`), the SFT rows, TRL's rows;
- `templates.py` and `judge.py`: the tiny world's phrases, and its gold judge (what makes an answer good);
- `sampling.py`: answers sampled from a policy (`sample_answers`, and `sampler` to fix its settings);
- `rewards.py`: the **gold** reward (`load_gold_reward`: the stand-in for human preference) and the **proxy**
  reward model trained on pairs it labelled (`train_proxy`, Lab 2's method);
- `measures.py`: best-of-n and its KL, Gao et al.'s functional forms, gold-labelled pairs, win rates, what a run
  over-optimised (`peak_then_fall`, `exploits`) and the routes' table (`route_row`);
- `runs.py`: the SFT policy (`train_sft_policy`) and PPO against the proxy (`rlhf_loop`, LoRA adapters only),
  evaluated on a schedule with the reward-hacking monitor's signals (`PPORun`; the monitor is `course_utils.ppo`'s).
"""

from .measures import best_of_n_curve, exploits, peak_then_fall, route_row
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
from .runs import PPORun, rlhf_loop, train_sft_policy
from .sampling import SampleFn, Samples, sample_answers, sampler
from .world import World, load_world, preference_rows, query_rows, stop_token_ids

__all__ = [
    "GoldFn",
    "PPORun",
    "RewardsFn",
    "SampleFn",
    "Samples",
    "World",
    "best_of_n_curve",
    "exploits",
    "gold_judge",
    "load_gold_reward",
    "load_world",
    "peak_then_fall",
    "preference_rows",
    "proxy_rewards",
    "query_rows",
    "route_row",
    "rlhf_loop",
    "sample_answers",
    "sampler",
    "standardised",
    "stop_token_ids",
    "train_proxy",
    "train_sft_policy",
    "trl_reward",
]
