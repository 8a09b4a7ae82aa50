"""`course train ppo`: our PPO engine (Labs 3 and 5) against a reward model, on prompts read from files.

Each step samples ``batch_size`` prompts (each process its own), lets the policy answer them, scores prompt and
answer with the reward model (as `RewardTrainer` scored them in training: `reward.reward_scores`), and takes one
`PPOTrainer.step`. The KL penalty to the starting model is fixed at ``beta``, as in Lab 5; with LoRA, the starting
model is the policy with its adapters switched off (one copy of the weights). Every ``logging_steps`` the mean
reward, KL and PPO loss of those steps are logged, and the mean reward of the held-out prompts' answers
(``eval_reward``, sampled with the same seed each time so that differences come from the policy).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..loaders import load_saved_reward_model, load_tokenizer
from ..ppo import CausalLMWithValueHead, PPOConfig, PPOTrainer
from ..profiles import Profile
from ..reward import reward_scores
from ..training import mixed_precision
from .config import RecipeConfig

EVAL_PROMPTS = 256  # the most held-out prompts answered at each evaluation: sampling is what an evaluation costs
# Our name -> the engine's. Its reward and KL are means over every process; its loss is each process's own.
LOGGED = {"reward": "env/reward_mean", "kl": "objective/kl", "loss": "ppo/loss/total"}
ScoreFn = Callable[[Sequence[str]], torch.Tensor]  # texts (prompt and answer) -> a reward each, shape (texts,)
PANELS = {"reward": ("reward", "eval_reward"), "KL to the starting model (nats)": ("kl",), "PPO loss": ("loss",)}


def ppo_policy(config: RecipeConfig, device: str) -> CausalLMWithValueHead:
    """The model to train, with a fresh value head: LoRA adapters on every linear layer, or all its weights."""
    from ..rlhf import lora_policy

    if config.lora:
        return lora_policy(config.model, config.adapters("CAUSAL_LM"), device)
    return CausalLMWithValueHead.from_pretrained(config.model, dtype=torch.float32).to(device)


def encode_prompts(prompts: Sequence[str], tokenizer: PreTrainedTokenizerBase, keep: int) -> list[torch.Tensor]:
    """Each prompt's token ids, only its last ``keep`` (the end of a dialogue is what the answer follows)."""
    return [torch.tensor(tokenizer.encode(prompt)[-keep:]) for prompt in prompts]


def answer_and_score(
    trainer: PPOTrainer, prompts: Sequence[str], config: RecipeConfig, score: ScoreFn
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """The policy's sampled answers to ``prompts`` (temperature 1, no top-k or top-p, as PPO assumes) and their
    rewards: (query ids, answer ids, rewards of shape (prompts,))."""
    queries = encode_prompts(prompts, trainer.tokenizer, config.max_length - config.max_new_tokens)
    answers = trainer.generate(
        queries, batch_size=config.batch_size, max_new_tokens=config.max_new_tokens, do_sample=True, top_k=0, top_p=1.0
    )
    texts = [
        prompt + trainer.tokenizer.decode(answer, skip_special_tokens=True)
        for prompt, answer in zip(prompts, answers, strict=True)
    ]
    return queries, answers, score(texts)


def evaluate(trainer: PPOTrainer, prompts: Sequence[str], config: RecipeConfig, score: ScoreFn) -> float:
    """The mean reward of the policy's answers to ``prompts``, each process answering its share, with the same
    random seed at every evaluation."""
    from accelerate.utils import gather_object

    accelerator = trainer.accelerator
    mine = list(prompts[accelerator.process_index :: accelerator.num_processes])
    with torch.random.fork_rng(devices=[]):  # the training's random state is left as it was
        torch.manual_seed(config.seed + accelerator.process_index)
        rewards = answer_and_score(trainer, mine, config, score)[2].tolist() if mine else []
    return statistics.mean(gather_object(rewards))


def run_ppo_recipe(
    config: RecipeConfig, prompts: Sequence[str], eval_prompts: Sequence[str] | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[dict[str, float]]]:
    """PPO for ``config.max_steps`` steps on ``prompts``; returns the trained policy, its tokenizer and the logged
    history (one entry per evaluation and per logging interval)."""
    from transformers import set_seed

    set_seed(config.seed)  # before the adapters and the value head are initialised
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(config.model)
    engine = PPOConfig(
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        mini_batch_size=config.mini_batch_size or config.batch_size,
        init_kl_coef=config.beta,
        adap_kl_ctrl=False,
        mixed_precision=mixed_precision(Profile("full", device, seed=config.seed)),
        seed=config.seed,
    )
    trainer = PPOTrainer(engine, ppo_policy(config, device), tokenizer)
    accelerator = trainer.accelerator
    reward_model, reward_tokenizer = load_saved_reward_model(config.reward_model, accelerator.device)

    def score(texts: Sequence[str]) -> torch.Tensor:
        return reward_scores(reward_model, reward_tokenizer, texts, batch_size=config.batch_size, desc=None)

    held_out = list(eval_prompts[:EVAL_PROMPTS]) if eval_prompts else []
    history = [{"step": 0, "eval_reward": evaluate(trainer, held_out, config, score)}] if held_out else []
    picker = torch.Generator().manual_seed(config.seed + accelerator.process_index)  # each process its own prompts
    every = min(config.logging_steps, config.max_steps)
    interval: dict[str, list[float]] = defaultdict(list)
    bar = tqdm(range(1, config.max_steps + 1), desc="PPO", disable=not accelerator.is_main_process)
    for step in bar:
        chosen = [prompts[i] for i in torch.randint(len(prompts), (config.batch_size,), generator=picker).tolist()]
        stats = trainer.step(*answer_and_score(trainer, chosen, config, score))
        for name, key in LOGGED.items():
            interval[name].append(stats[key])
        if step % every == 0 or step == config.max_steps:
            means = torch.tensor([statistics.mean(interval[name]) for name in LOGGED], device=accelerator.device)
            means = accelerator.reduce(means, reduction="mean")  # the loss over every process too (the rest already)
            entry = {"step": step, **dict(zip(LOGGED, means.tolist(), strict=True))}
            if held_out:
                entry["eval_reward"] = evaluate(trainer, held_out, config, score)
            history.append(entry)
            interval.clear()
            bar.set_postfix({name: f"{value:.3g}" for name, value in entry.items() if name != "step"})
    return trainer.policy.policy, tokenizer, history
