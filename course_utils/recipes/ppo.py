"""`course train ppo`: our PPO engine (Labs 3 and 5) against a reward model, on prompts read from files.

Each step samples ``batch_size`` prompts (each process its own), lets the policy answer them, scores prompt and
answer with the reward model (as `RewardTrainer` scored them in training: `lm.reward_scores`), and takes one
`PPOTrainer.step`. The KL penalty to the starting model is fixed at ``beta``, as in Lab 6; with LoRA, the starting
model is the policy with its adapters switched off (one copy of the weights). Every ``logging_steps`` the mean
reward-model score, KL and PPO loss of those steps are logged, and an evaluation on held-out prompts (sampled with the
same seed each time so that differences come from the policy): the answers' mean score (``eval_reward``) and the
reward-hacking monitor's signals (``eval_kl``, ``eval_entropy``, ``eval_length``; `course_utils.ppo.HackingMonitor`),
which warns, and with ``stop_on_warning`` stops, when one of them has moved past its threshold.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from ..lm import reward_scores
from ..ppo import CausalLMWithValueHead, HackingMonitor, PPOConfig, PPOTrainer, lora_policy, policy_signals
from ..runtime.loaders import load_saved_reward_model, load_tokenizer
from ..runtime.training import precision_for
from .config import RecipeConfig

EVAL_PROMPTS = 256  # the most held-out prompts answered at each evaluation: sampling is what an evaluation costs
# Our name -> the engine's. Its reward and KL are means over every process; its loss is each process's own.
LOGGED = {"reward": "env/reward_mean", "kl": "objective/kl", "loss": "ppo/loss/total"}
PANELS = {
    "reward model's score": ("reward", "eval_reward"),
    "KL to the starting model (nats)": ("kl", "eval_kl"),
    "PPO loss": ("loss",),
    "entropy (nats per token)": ("eval_entropy",),
    "answer length (tokens)": ("eval_length",),
}
MONITORED = ("kl", "entropy", "length")  # the monitor's signals an evaluation measures: no judge to audit with
ScoreFn = Callable[[Sequence[str]], torch.Tensor]  # texts (prompt and answer) -> a reward each, shape (texts,)


class Answered(NamedTuple):
    """Prompts answered by the policy and scored: what `PPOTrainer.step` takes."""

    queries: list[torch.Tensor]  # each prompt's token ids, as the policy read them
    answers: list[torch.Tensor]  # each answer's token ids
    rewards: torch.Tensor  # (prompts,): the reward model's score of each prompt and answer


def ppo_policy(config: RecipeConfig, device: str | torch.device) -> CausalLMWithValueHead:
    """The model to train, with a fresh value head: LoRA adapters on every linear layer, or all its weights."""
    if config.lora:
        return lora_policy(config.model, config.adapters("CAUSAL_LM"), device)
    return CausalLMWithValueHead.from_pretrained(config.model, dtype=torch.float32).to(device)


def encode_prompt(prompt: str, tokenizer: PreTrainedTokenizerBase, keep: int) -> torch.Tensor:
    """The prompt's token ids, at most ``keep`` of them: a longer prompt loses its beginning (the end of a dialogue
    is what the answer follows), but keeps the beginning-of-sequence token where the tokenizer adds one."""
    ids = tokenizer.encode(prompt)
    start = [ids[0]] if ids and ids[0] == tokenizer.bos_token_id else []
    return torch.tensor(ids if len(ids) <= keep else start + ids[len(ids) - keep + len(start) :])


def answer_and_score(trainer: PPOTrainer, prompts: Sequence[str], config: RecipeConfig, score: ScoreFn) -> Answered:
    """The policy's answers to ``prompts``, sampled at temperature 1 with no top-k or top-p (the distribution PPO's
    log-probabilities are taken from), each ending at the end-of-sequence token or after ``max_new_tokens``; and the
    reward model's score of each prompt and answer, as the policy read the prompt."""
    tokenizer = trainer.tokenizer
    queries = [encode_prompt(prompt, tokenizer, config.max_length - config.max_new_tokens) for prompt in prompts]
    answers = trainer.generate(
        queries,
        batch_size=config.batch_size,
        max_new_tokens=config.max_new_tokens,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        eos_token_id=tokenizer.eos_token_id,  # where the engine cuts an answer (not a model's other stop tokens)
    )
    read = [torch.cat([query, answer]) for query, answer in zip(queries, answers, strict=True)]  # as the policy did
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in read]
    return Answered(queries, answers, score(texts))


def evaluate(trainer: PPOTrainer, prompts: Sequence[str], config: RecipeConfig, score: ScoreFn) -> dict[str, float]:
    """The policy's answers to ``prompts``, each process answering its share, with the same random seed at every
    evaluation: their mean score (``eval_reward``), and the monitor's signals, means over the answers (``eval_kl``,
    ``eval_entropy``, ``eval_length``: `course_utils.ppo.policy_signals`)."""
    from accelerate.utils import gather_object

    accelerator = trainer.accelerator
    mine = list(prompts[accelerator.process_index :: accelerator.num_processes])
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    columns: dict[str, list[float]] = {name: [] for name in ("reward", *MONITORED)}
    if mine:
        with torch.random.fork_rng(devices=devices):  # training's random state (CPU and GPU) is left as it was
            torch.manual_seed(config.seed + accelerator.process_index)
            answered = answer_and_score(trainer, mine, config, score)
        pad = trainer.tokenizer.pad_token_id
        signals = policy_signals(trainer.policy.policy, trainer.ref_model, answered.queries, answered.answers, pad)
        columns = {"reward": answered.rewards.tolist(), **{name: signals[name].tolist() for name in MONITORED}}
    return {f"eval_{name}": statistics.mean(gather_object(values)) for name, values in columns.items()}


def run_ppo_recipe(
    config: RecipeConfig, prompts: Sequence[str], eval_prompts: Sequence[str] | None
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase, list[dict[str, Any]]]:
    """PPO on ``prompts`` (``config``'s files, read and checked by `run_recipe`) for ``config.max_steps`` steps,
    evaluated on up to `EVAL_PROMPTS` of ``eval_prompts`` (with ``config.stop_on_warning``, stopped at the monitor's
    first warning); returns the trained policy (with LoRA, a PEFT model: ``merge_and_unload`` makes it a plain one),
    its tokenizer and the logged history (one entry per evaluation and per logging interval)."""
    from accelerate import PartialState
    from transformers import set_seed

    set_seed(config.seed)  # before the adapters and the value head are initialised
    device = PartialState().device  # this process's GPU under torchrun, or the CPU
    ppo_config = PPOConfig(
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        mini_batch_size=config.mini_batch_size or config.batch_size,
        init_kl_coef=config.beta,
        adap_kl_ctrl=False,
        mixed_precision=precision_for(device.type),
        seed=config.seed,
    )
    tokenizer = load_tokenizer(config.model)
    trainer = PPOTrainer(ppo_config, ppo_policy(config, device), tokenizer)
    accelerator = trainer.accelerator
    reward_model, reward_tokenizer = load_saved_reward_model(config.reward_model, device)
    reward_tokenizer.truncation_side = "left"  # a text longer than max_length keeps the answer

    def score(texts: Sequence[str]) -> torch.Tensor:
        return reward_scores(reward_model, reward_tokenizer, texts, config.batch_size, None, config.max_length)

    held_out = list(eval_prompts[:EVAL_PROMPTS]) if eval_prompts else []
    monitor = HackingMonitor()

    def evaluated(step: int) -> dict[str, Any]:
        """An evaluation, watched by the monitor: its new warnings are printed, and listed as ``monitor_warnings``."""
        measured: dict[str, Any] = evaluate(trainer, held_out, config, score)
        signals = {name: measured[f"eval_{name}"] for name in MONITORED}
        if warned := monitor.update(step, signals):
            measured["monitor_warnings"] = warned
            for name in warned:
                if accelerator.is_main_process:
                    tqdm.write(f"step {step}: {monitor.describe(name, signals)}")
        return measured

    history = [{"step": 0, **evaluated(0)}] if held_out else []
    prompt_picker = torch.Generator().manual_seed(config.seed + accelerator.process_index)  # each process its own
    log_every = min(config.logging_steps, config.max_steps)
    since_logged: dict[str, list[float]] = defaultdict(list)
    bar = tqdm(range(1, config.max_steps + 1), desc="PPO", disable=not accelerator.is_main_process)
    for step in bar:
        picked = torch.randint(len(prompts), (config.batch_size,), generator=prompt_picker).tolist()
        stats = trainer.step(*answer_and_score(trainer, [prompts[i] for i in picked], config, score))
        for name, key in LOGGED.items():
            since_logged[name].append(stats[key])
        if step % log_every == 0 or step == config.max_steps:
            means = torch.tensor([statistics.mean(since_logged[name]) for name in LOGGED], device=device)
            means = accelerator.reduce(means, reduction="mean")  # the loss over every process too (the rest already)
            entry = {"step": step, **dict(zip(LOGGED, means.tolist(), strict=True))}
            if held_out:
                entry |= evaluated(step)
            history.append(entry)
            since_logged.clear()
            bar.set_postfix({name: f"{entry[name]:.3g}" for name in ("reward", "kl", "eval_reward") if name in entry})
            if config.stop_on_warning and monitor.warnings:
                break
    return trainer.policy.policy, tokenizer, history
