"""`course train grpo`: our GRPO engine (the verifiable-rewards lab's) on prompts read from files, rewarded by a
function of yours: a verifier.

The reward function is named ``module:function`` (an importable module, or a ``.py`` file's path) and is called as
TRL's trainers call theirs: ``function(completions, **columns)`` -> one float per completion, where ``columns`` are
the prompt file's other columns (a true answer, a test case), each repeated for every answer to its prompt. Each step
takes ``batch_size`` prompts (each process its own), samples ``group_size`` answers to each, scores them, and takes
one `GRPOTrainer.step` (two clipped passes over the batch). Every ``logging_steps`` the mean reward, loss, entropy
and clip ratio of those steps are logged, and, with held-out prompts, ``eval_reward``: the mean reward of one answer
to each, sampled with the same seed every time.
"""

from __future__ import annotations

import importlib
import importlib.util
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from tqdm.auto import tqdm

from ..grpo import GRPOConfig, GRPOTrainer
from ..runtime.loaders import load_tokenizer
from ..runtime.training import precision_for
from .config import RecipeConfig
from .data import DataError

EVAL_PROMPTS = 256  # the most held-out prompts answered at each evaluation
LOGGED = ("reward", "loss", "entropy", "clip_ratio/region_mean")
PANELS = {
    "reward (your function)": ("reward", "eval_reward"),
    "GRPO loss": ("loss",),
    "entropy (nats per token)": ("entropy",),
    "share of tokens clipped": ("clip_ratio/region_mean",),
}
RewardFunction = Callable[..., Sequence[float]]


def load_reward_function(spec: str) -> RewardFunction:
    """The function ``spec`` names, ``module:function`` or ``path/to/file.py:function``; one line if it cannot be
    found or is not a function."""
    module_name, _, function_name = spec.rpartition(":")
    if not module_name or not function_name:
        raise DataError(f"reward function {spec!r}: name it module:function (or path/to/file.py:function).")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise DataError(f"reward function {spec!r}: no such file {path}.")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[path.stem] = module  # its own imports and pickling find it by name
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except DataError:
        raise
    except Exception as error:  # whatever the user's module raised while it was imported
        raise DataError(f"reward function {spec!r}: importing {module_name} failed ({error!r}).") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise DataError(f"reward function {spec!r}: {module_name} has no function {function_name}.")
    return function


def checked_rewards(function: RewardFunction, completions: list[str], **columns: Sequence) -> list[float]:
    """``function``'s rewards, checked: one number per completion, or one line saying what came back."""
    rewards = list(function(completions, **columns))
    if len(rewards) != len(completions) or not all(isinstance(r, int | float) for r in rewards):
        raise DataError(
            f"the reward function must return one number per completion: got {len(rewards)} values for "
            f"{len(completions)} completions ({type(rewards[0]).__name__ if rewards else 'none'})."
        )
    return [float(r) for r in rewards]


def grpo_policy(config: RecipeConfig, device: torch.device) -> torch.nn.Module:
    """The model to train in float32: LoRA adapters on every linear layer, or all its weights."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(config.model, dtype=torch.float32).to(device)
    return get_peft_model(model, config.adapters("CAUSAL_LM")) if config.lora else model


def columns_of(rows: Dataset, picked: Sequence[int]) -> tuple[list[str], dict[str, list[Any]]]:
    """The picked rows' prompts, and their other columns (what the reward function reads)."""
    chosen = rows.select(picked)
    return list(chosen["prompt"]), {name: list(chosen[name]) for name in rows.column_names if name != "prompt"}


def evaluate(trainer: GRPOTrainer, rows: Dataset, config: RecipeConfig, reward: RewardFunction) -> float:
    """The mean reward of one answer to each held-out prompt (each process its share), sampled with the same seed
    at every evaluation."""
    from accelerate.utils import gather_object

    accelerator = trainer.accelerator
    mine = list(range(accelerator.process_index, len(rows), accelerator.num_processes))
    rewards: list[float] = []
    if mine:
        prompts, columns = columns_of(rows, mine)
        devices = [accelerator.device] if accelerator.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # training's random state is left as it was
            torch.manual_seed(config.seed + accelerator.process_index)
            queries = [trainer.tokenizer(prompt, return_tensors="pt").input_ids[0] for prompt in prompts]
            answers, _ = trainer.sampler(trainer.policy, trainer.tokenizer, queries)
        completions = trainer.tokenizer.batch_decode(answers, skip_special_tokens=True)
        rewards = checked_rewards(reward, completions, **columns)
    return statistics.mean(gather_object(rewards))


def run_grpo_recipe(
    config: RecipeConfig, rows: Dataset, held_out: Dataset | None
) -> tuple[torch.nn.Module, Any, list[dict[str, Any]]]:
    """GRPO on ``rows`` (a prompt column and the columns the reward reads) for ``config.max_steps`` steps, evaluated
    on up to `EVAL_PROMPTS` held-out rows; returns the trained model (with LoRA, a PEFT model), its tokenizer and the
    logged history (one entry per logging interval)."""
    from accelerate import PartialState
    from transformers import set_seed

    reward = load_reward_function(config.reward_function)  # before any model is loaded: a wrong name fails fast
    set_seed(config.seed)  # before the adapters are initialised
    device = PartialState().device
    answers = config.batch_size * config.group_size
    grpo_config = GRPOConfig(
        learning_rate=config.learning_rate,
        group_size=config.group_size,
        questions_per_step=config.batch_size,
        mini_batches=answers // (config.mini_batch_size or answers),
        beta=config.beta,
        max_completion_length=config.max_new_tokens,
        mixed_precision=precision_for(device.type),
        seed=config.seed,
    )
    tokenizer = load_tokenizer(config.model)
    trainer = GRPOTrainer(
        grpo_config, grpo_policy(config, device), tokenizer, lambda c, **k: checked_rewards(reward, c, **k)
    )
    accelerator = trainer.accelerator
    evaluation = held_out.select(range(min(EVAL_PROMPTS, len(held_out)))) if held_out is not None else None
    picker = torch.Generator().manual_seed(config.seed + accelerator.process_index)  # each process its own prompts
    log_every = min(config.logging_steps, config.max_steps)
    since_logged: dict[str, list[float]] = defaultdict(list)
    history: list[dict[str, Any]] = []
    bar = tqdm(range(1, config.max_steps + 1), desc="GRPO", disable=not accelerator.is_main_process)
    for step in bar:
        prompts, columns = columns_of(rows, torch.randint(len(rows), (config.batch_size,), generator=picker).tolist())
        stats = trainer.step(prompts, **columns)
        for name in LOGGED:
            since_logged[name].append(stats[name])
        if step % log_every == 0 or step == config.max_steps:
            means = torch.tensor([statistics.mean(since_logged[name]) for name in LOGGED], device=device)
            entry = {
                "step": step,
                **dict(zip(LOGGED, accelerator.reduce(means, reduction="mean").tolist(), strict=True)),
            }
            if evaluation is not None:
                entry["eval_reward"] = evaluate(trainer, evaluation, config, reward)
            history.append(entry)
            since_logged.clear()
            bar.set_postfix({name: f"{entry[name]:.3g}" for name in ("reward", "eval_reward") if name in entry})
    return trainer.policy, tokenizer, history
