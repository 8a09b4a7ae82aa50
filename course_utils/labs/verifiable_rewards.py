"""The lab on reinforcement learning from verifiable rewards: its problems, the verifier's reference, pass@k,
expert iteration, and TRL's own GRPO loss to check a learner's against.

The problems are GSM8K's (``openai/gsm8k``, config ``main``) in ``full`` and our templated arithmetic problems in
the same schema in ``tiny`` (``scripts/make_arithmetic_sample.py``): a ``question``, and an ``answer`` whose last
line is ``#### <the number>``. The policy is asked to answer in that format too; the verifier reads it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from math import comb

import torch
from datasets import Dataset, DatasetDict, load_dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..grpo import sample_groups
from ..runtime.profiles import Profile
from ..runtime.sources import resolve
from ..runtime.training import reference_trainer, trainer_kwargs

ANSWER_MARK = "####"
# After the mark: spaces, a sign, digits (with thousands commas allowed), a decimal part; then nothing but spaces.
_FINAL_NUMBER = re.compile(r"[ \t]*([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*")


def load_problems(profile: Profile) -> DatasetDict:
    """The ``train`` and ``test`` problems: GSM8K's ``main`` config in ``full``, our arithmetic sample otherwise."""
    return load_dataset(resolve("gsm8k", profile), data_dir="main")


def load_tool_problems(profile: Profile) -> DatasetDict:
    """Problems a small model cannot compute in its head, ``train`` and ``test``: GSM8K's own in ``full``; in
    ``tiny``, products of two two-digit numbers."""
    return load_problems(profile) if profile.is_full else load_dataset(resolve("gsm8k", profile), data_dir="tool")


def load_demonstrations(profile: Profile) -> Dataset:
    """What SFT imitates before RL: GSM8K's training solutions in ``full``; in ``tiny``, the training questions
    (with the tool problems') as solved by a careless tutor, whose final value is off by a little in 4 of 10."""
    if profile.is_full:
        return load_problems(profile)["train"]
    return load_dataset(resolve("gsm8k", profile), data_dir="demonstrations", split="train")


def true_answer(solution: str) -> str:
    """The number after a GSM8K solution's ``####`` mark, as written there (``"1,000"`` stays ``"1,000"``)."""
    return solution.rsplit(ANSWER_MARK, 1)[1].strip()


def question_prompt(question: str) -> str:
    """The text the policy continues to answer ``question``."""
    return f"Question: {question}\nAnswer: "


def normalise_number(text: str) -> str:
    """A number written any of the ways the format allows, as one canonical string: no thousands commas, no ``+``,
    no trailing zeros after the point, ``-0`` as ``0`` (``"+1,000.50"`` -> ``"1000.5"``); raises ``ValueError``
    when ``text`` is not a number."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation as error:
        raise ValueError(f"Not a number: {text!r}.") from error
    if not value.is_finite():
        raise ValueError(f"Not a finite number: {text!r}.")
    value = value.normalize() + 0  # + 0 turns -0 into 0
    return format(value, "f")


def extract_answer(completion: str) -> str | None:
    """The final answer of ``completion`` in the stated format, normalised: exactly one ``####`` mark, then a number
    and nothing else. ``None`` when there is no mark, more than one, or anything but a number after it."""
    if completion.count(ANSWER_MARK) != 1:
        return None
    match = _FINAL_NUMBER.fullmatch(completion.split(ANSWER_MARK)[1])
    return normalise_number(match.group(1)) if match else None


def answer_reward(completions: Sequence[str], answer: Sequence[str], **columns) -> list[float]:
    """1.0 for each completion whose final answer equals the true one (both normalised), else 0.0: a reward function
    as TRL's trainers and ours call it (``answer`` is the dataset's column of true answers)."""
    return [
        float(extract_answer(completion) == normalise_number(truth))
        for completion, truth in zip(completions, answer, strict=True)
    ]


def format_reward(completions: Sequence[str], **columns) -> list[float]:
    """1.0 for each completion that ends with one answer in the stated format, right or wrong; kept apart from the
    answer reward so that a run's logs tell "cannot write the format" from "writes it, wrongly"."""
    return [float(extract_answer(completion) is not None) for completion in completions]


def lax_answer_reward(completions: Sequence[str], answer: Sequence[str], **columns) -> list[float]:
    """A verifier that is too easy to please: 1.0 when the true number appears anywhere in the completion."""
    return [
        float(re.search(rf"(?<![\d.]){re.escape(truth)}(?!\.?\d)", completion) is not None)
        for completion, truth in zip(completions, answer, strict=True)
    ]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021, section 2.1):
    ``1 - C(n - c, k) / C(n, k)``, the chance that k of the n samples drawn without replacement hold a correct one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"Need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}.")
    return 1.0 - comb(n - c, k) / comb(n, k)


def advantage_mass(
    advantages_fn: Callable[[torch.Tensor, int], torch.Tensor], group_size: int, solve_rate: float
) -> float:
    """How hard a question pushes on the policy under ``advantages_fn``: the expected sum of its group's
    ``|advantage|`` when each of ``group_size`` answers is right with probability ``solve_rate``, computed exactly
    over the number of right answers k ~ Binomial(group_size, solve_rate) (a group's order does not matter).

    Dr. GRPO's argument (Liu et al. 2025, section 3.1) in one number: dividing by the group's std, which is small when
    nearly all answers agree, gives questions that are almost always or almost never solved more push, relative to
    the ones in between, than the plain difference from the mean does."""
    if not 0 <= solve_rate <= 1 or group_size < 2:
        raise ValueError(f"Need 0 <= solve_rate <= 1 and group_size >= 2, got {solve_rate} and {group_size}.")
    mass = 0.0
    for right in range(group_size + 1):
        rewards = torch.tensor([1.0] * right + [0.0] * (group_size - right))
        chance = comb(group_size, right) * solve_rate**right * (1 - solve_rate) ** (group_size - right)
        mass += chance * advantages_fn(rewards, group_size).abs().sum().item()
    return mass


# (prompts, completions, rewards) -> the rows to fine-tune on, each {"prompt": ..., "completion": ...}
SelectFn = Callable[[Sequence[str], Sequence[str], Sequence[float]], list[dict[str, str]]]


def verified_examples(
    prompts: Sequence[str], completions: Sequence[str], rewards: Sequence[float]
) -> list[dict[str, str]]:
    """Expert iteration's data: the answers the verifier accepted (reward 1), each distinct answer to a prompt once,
    in the order they came (rejection sampling, as in Yuan et al. 2023's RFT: distinct right answers, no copies)."""
    kept, seen = [], set()
    for prompt, completion, reward in zip(prompts, completions, rewards, strict=True):
        if reward == 1.0 and (prompt, completion) not in seen:
            seen.add((prompt, completion))
            kept.append({"prompt": prompt, "completion": completion})
    return kept


def expert_iteration(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    problems: Dataset,
    select: SelectFn,
    profile: Profile,
    rounds: int,
    questions_per_round: int,
    group_size: int = 8,
    sft_steps: int = 20,
    learning_rate: float = 1e-4,
    max_new_tokens: int = 48,
    reward_fn: Callable[..., Sequence[float]] | None = None,
) -> list[dict[str, float]]:
    """Expert iteration on ``problems`` (question / answer rows): each round samples ``group_size`` answers to
    ``questions_per_round`` questions, verifies them (``reward_fn``, `answer_reward` by default), keeps what
    ``select`` keeps, and fine-tunes ``model`` on it with TRL's SFTTrainer for ``sft_steps`` steps (the loss on the
    answers only), from where the last round left it. Returns one row per round: the answers sampled so far and how
    many were kept. A round that keeps nothing trains nothing."""
    from trl import SFTConfig, SFTTrainer

    reward_fn = reward_fn or answer_reward
    history, sampled = [], 0
    picker = torch.Generator().manual_seed(profile.seed)
    for round_ in range(rounds):
        rows = problems.select(torch.randperm(len(problems), generator=picker)[:questions_per_round].tolist())
        prompts = [question_prompt(question) for question in rows["question"] for _ in range(group_size)]
        truths = [true_answer(answer) for answer in rows["answer"] for _ in range(group_size)]
        queries = [tokenizer(prompt, return_tensors="pt").input_ids[0] for prompt in prompts]
        model.eval()
        responses, _ = sample_groups(model, tokenizer, queries, max_new_tokens)
        completions = tokenizer.batch_decode(responses, skip_special_tokens=True)
        kept = select(prompts, completions, reward_fn(completions, answer=truths))
        sampled += len(completions)
        if kept:
            with tempfile.TemporaryDirectory() as scratch:
                config = SFTConfig(
                    output_dir=scratch, max_steps=sft_steps, per_device_train_batch_size=16,
                    learning_rate=learning_rate, lr_scheduler_type="constant", logging_steps=sft_steps,
                    **trainer_kwargs(profile),
                )  # fmt: skip
                SFTTrainer(
                    model=model, args=config, train_dataset=Dataset.from_list(kept), processing_class=tokenizer
                ).train()
        history.append({"round": round_ + 1, "answers_sampled": sampled, "kept": len(kept)})
    model.eval()
    return history


def trl_grpo_loss(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    inputs: dict[str, torch.Tensor],
    loss_type: str,
    beta: float,
    epsilon: float = 0.2,
    max_completion_length: int = 16,
) -> float:
    """``trl.GRPOTrainer``'s own loss on a batch in its layout (``prompt_ids``/``prompt_mask`` left-padded,
    ``completion_ids``/``completion_mask`` right-padded, ``advantages`` (answers,), ``old_per_token_logps`` and,
    with ``beta > 0``, ``ref_per_token_logps``, both (answers, completion tokens)). Nothing is trained: the trainer
    computes its loss once, with the model in evaluation mode, on one batch holding every token it normalises by."""
    from trl import GRPOConfig, GRPOTrainer

    options = {
        "loss_type": loss_type,
        "beta": beta,
        "epsilon": epsilon,
        "max_completion_length": max_completion_length,
        "num_generations": 2,
        "per_device_train_batch_size": 2,
    }
    rows = Dataset.from_dict({"prompt": ["?"] * 2})
    with reference_trainer(
        GRPOTrainer, GRPOConfig, options, model=model, reward_funcs=answer_reward, train_dataset=rows,
        processing_class=tokenizer,
    ) as trainer:  # fmt: skip
        model.eval()
        batch = {**inputs, "num_items_in_batch": inputs["completion_mask"].sum()}
        return trainer.compute_loss(model, batch).item()
