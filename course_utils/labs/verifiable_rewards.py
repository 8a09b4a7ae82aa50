"""The lab on reinforcement learning from verifiable rewards: its problems, the verifier's reference, pass@k,
expert iteration, and TRL's own GRPO loss to check a learner's against.

The problems are GSM8K's (``openai/gsm8k``, config ``main``) in ``full`` and our templated arithmetic problems in
the same schema in ``tiny`` (``scripts/make_arithmetic_sample.py``): a ``question``, and an ``answer`` whose last
line is ``#### <the number>``. The policy is asked to answer in that format too; the verifier reads it.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from math import comb
from typing import Any

import torch
from datasets import Dataset, DatasetDict, load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ..grpo import Sampler, sample_groups
from ..library_output import quiet_loading
from ..lm import logprobs_from_logits
from ..notebook.checks import load_weights, model_weights
from ..runtime.loaders import first_rows, load_causal_lm
from ..runtime.profiles import Profile
from ..runtime.sources import asset_path, resolve
from ..runtime.training import reference_trainer, train_sft, trainer_kwargs

ANSWER_MARK = "####"


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


def demonstration_rows(profile: Profile) -> Dataset:
    """The SFT data: each demonstration as a ``prompt`` (`question_prompt`) and a ``completion`` (a space, then the
    solution), as TRL's SFTTrainer takes them (the loss on the completion only)."""
    demonstrations = load_demonstrations(profile)
    return demonstrations.map(
        lambda row: {"prompt": question_prompt(row["question"]), "completion": " " + row["answer"]},
        remove_columns=demonstrations.column_names,
    )


def sft_settings(profile: Profile, output_dir: str) -> tuple[Any, Any]:
    """The lab's SFT: TRL's ``SFTConfig`` for the profile, and the LoRA configuration in ``full`` (``None`` in
    ``tiny``, which trains every weight)."""
    from peft import LoraConfig
    from trl import SFTConfig

    config = SFTConfig(
        output_dir=output_dir,
        max_steps=profile.steps(full=300, tiny=150),
        per_device_train_batch_size=profile.pick(full=8, tiny=16),
        learning_rate=profile.pick(full=2e-4, tiny=1e-3),
        lr_scheduler_type="constant",
        logging_steps=profile.pick(full=25, tiny=50),
        max_length=profile.pick(full=512, tiny=128),
        **trainer_kwargs(profile),
    )
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    return config, lora if profile.is_full else None


def sft_policy_weights(profile: Profile) -> dict[str, torch.Tensor]:
    """The weights of the lab's SFT policy trained here, apart from any notebook: the start a training target
    compares the learner's GRPO policy with, when the grader checks it (the lab's own SFT cell, with the same
    settings, trains the learner's)."""
    with quiet_loading():
        model, tokenizer = load_causal_lm("rlvr_policy", profile)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):  # the lab showed its logs
        config, lora = sft_settings(profile, scratch)
        train_sft(model, tokenizer, demonstration_rows(profile), config, scratch, peft_config=lora)
        with quiet_loading():
            tuned = AutoModelForCausalLM.from_pretrained(scratch)
    return model_weights(tuned)


def true_answer(solution: str) -> str:
    """The number after a GSM8K solution's ``####`` mark, as written there (``"1,000"`` stays ``"1,000"``)."""
    return solution.rsplit(ANSWER_MARK, 1)[1].strip()


def question_prompt(question: str) -> str:
    """The text the policy continues to answer ``question``. It ends on ``"Answer:"``, and an answer starts with a
    space (an SFT completion is ``" " + solution``): a prompt ending in a space would split a word's token (``" 3"``)
    in two, and training would see other tokens than sampling does."""
    return f"Question: {question}\nAnswer:"


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
    # After the mark: whitespace, a sign, digits (thousands commas allowed), a decimal part; then only whitespace.
    number = re.fullmatch(r"\s*([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*", completion.split(ANSWER_MARK)[1])
    return normalise_number(number.group(1)) if number else None


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
    """A verifier that is too easy to please: 1.0 when the true answer's text appears anywhere in the completion
    (a substring test, the quick check many a first verifier is): ``"#### 214"`` passes for 21."""
    return [float(truth in completion) for completion, truth in zip(completions, answer, strict=True)]


def sample_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    samples: int,
    max_new_tokens: int = 48,
    sampler: Sampler | None = None,
) -> list[str]:
    """``samples`` answers to each question (`question_prompt`), each question's side by side: pure sampling at
    temperature 1 by default, or through ``sampler`` (a `course_utils.grpo.CalculatorSampler`: the text then holds
    the tool's outputs too)."""
    prompts = [question_prompt(question) for question in questions for _ in range(samples)]
    queries = [tokenizer(prompt, return_tensors="pt").input_ids[0] for prompt in prompts]
    model.eval()
    if sampler is None:
        responses, _ = sample_groups(model, tokenizer, queries, max_new_tokens)
    else:
        responses, _ = sampler(model, tokenizer, queries)
    return tokenizer.batch_decode(responses, skip_special_tokens=True)


def held_out_accuracy(
    profile: Profile, weights: Mapping[str, torch.Tensor], samples: int = 4, questions: int = 200, seed: int = 0
) -> float:
    """The share of sampled answers to the first ``questions`` held-out problems that `answer_reward` accepts, for
    the lab's policy with ``weights`` (``checks.model_weights``), sampled with ``seed``: how the lab's training
    target is measured, apart from the notebook."""
    with quiet_loading():
        model, tokenizer = load_causal_lm("rlvr_policy", profile)
    load_weights(model, weights)
    test = first_rows(load_problems(profile)["test"], profile.examples(full=questions, tiny=questions))
    torch.manual_seed(seed)
    completions = sample_answers(model, tokenizer, test["question"], samples)
    truths = [true_answer(solution) for solution in test["answer"] for _ in range(samples)]
    return sum(answer_reward(completions, truths)) / len(completions)


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
    evaluate: Callable[[PreTrainedModel], float] | None = None,
) -> list[dict[str, float]]:
    """Expert iteration on ``problems`` (question / answer rows): each round samples ``group_size`` answers to
    ``questions_per_round`` questions, verifies them (``reward_fn``, `answer_reward` by default), keeps what
    ``select`` keeps, and fine-tunes ``model`` on it with TRL's SFTTrainer for ``sft_steps`` steps (the loss on the
    answers only), from where the last round left it. Returns one row per round: the answers sampled so far, how
    many were kept and, with ``evaluate``, its measure of the model after the round (``"accuracy"``). A round that
    keeps nothing trains nothing."""
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled
    from tqdm.auto import tqdm
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    reward_fn = reward_fn or answer_reward
    history, sampled = [], 0
    picker = torch.Generator().manual_seed(profile.seed)
    bars_were_on = is_progress_bar_enabled()
    disable_progress_bar()  # one bar for the rounds, not six for each round's data preparation
    try:
        for round_ in tqdm(range(rounds), desc="Expert iteration", disable=profile.quiet):
            rows = problems.select(torch.randperm(len(problems), generator=picker)[:questions_per_round].tolist())
            prompts = [question_prompt(question) for question in rows["question"] for _ in range(group_size)]
            truths = [true_answer(answer) for answer in rows["answer"] for _ in range(group_size)]
            completions = sample_answers(model, tokenizer, rows["question"], group_size, max_new_tokens)
            kept = select(prompts, completions, reward_fn(completions, answer=truths))
            sampled += len(completions)
            if kept:
                with tempfile.TemporaryDirectory() as scratch:
                    config = SFTConfig(
                        output_dir=scratch, max_steps=sft_steps, per_device_train_batch_size=16,
                        learning_rate=learning_rate, lr_scheduler_type="constant", logging_steps=sft_steps,
                        **{**trainer_kwargs(profile), "disable_tqdm": True},
                    )  # fmt: skip
                    trainer = SFTTrainer(
                        model=model, args=config, train_dataset=Dataset.from_list(kept), processing_class=tokenizer
                    )
                    trainer.remove_callback(PrinterCallback)  # the rounds' rows below say what each round did
                    trainer.train()
            history.append({"round": round_ + 1, "answers_sampled": sampled, "kept": len(kept)})
            if evaluate is not None:
                history[-1]["accuracy"] = evaluate(model.eval())
    finally:
        if bars_were_on:
            enable_progress_bar()
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


@dataclass
class LossCase:
    """A batch of answers on which `trl.GRPOTrainer` computed its loss: the per-token tensors a learner's loss
    takes, and TRL's loss for each ``loss_type``."""

    tensors: dict[str, torch.Tensor]  # logprobs, old_logprobs, ref_logprobs (answers, tokens); advantages; mask
    trl_losses: dict[str, float]  # loss_type -> GRPOTrainer's loss
    beta: float
    epsilon: float
    max_completion_length: int


def trl_loss_case(seed: int, answers: int = 4, max_completion_length: int = 6, beta: float = 0.04) -> LossCase:
    """A batch drawn with ``seed`` for the packaged tiny GPT-2: ``answers`` completions of random lengths (1 to
    ``max_completion_length`` tokens) to one prompt, advantages of both signs, and the sampling policy's and the
    reference's log-probabilities moved from the policy's by up to 0.4 nats (so that ratios leave the clip range
    and the KL is not 0); with `trl_grpo_loss` for ``grpo``, ``dapo`` and ``dr_grpo``."""
    path = asset_path("models", "gpt2-tiny")
    with quiet_loading():
        model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = tokenizer.eos_token
    generator = torch.Generator().manual_seed(seed)
    prompt_ids = torch.randint(5, 500, (1, 4), generator=generator).repeat(answers, 1)  # (answers, 4)
    completion_ids = torch.randint(5, 500, (answers, max_completion_length), generator=generator)
    lengths = torch.randint(1, max_completion_length + 1, (answers,), generator=generator)
    lengths[0] = max_completion_length  # one answer as long as allowed: the batch is as wide as TRL pads it
    completion_mask = (torch.arange(max_completion_length) < lengths[:, None]).long()  # (answers, tokens)
    completion_ids[completion_mask == 0] = tokenizer.pad_token_id
    with torch.no_grad():
        logits = model(input_ids=torch.cat([prompt_ids, completion_ids], dim=1)).logits[:, 3:-1]  # predict 4..
    logprobs = logprobs_from_logits(logits, completion_ids)  # (answers, tokens)
    moved = lambda: (torch.rand(logprobs.shape, generator=generator) - 0.5) * 0.8  # noqa: E731
    advantages = torch.randn(answers, generator=generator)
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": advantages,
        "old_per_token_logps": logprobs + moved(),
        "ref_per_token_logps": logprobs + moved(),
    }
    trl_losses = {
        loss_type: trl_grpo_loss(model, tokenizer, inputs, loss_type, beta, max_completion_length=max_completion_length)
        for loss_type in ("grpo", "dapo", "dr_grpo")
    }
    tensors = {
        "logprobs": logprobs,
        "old_logprobs": inputs["old_per_token_logps"],
        "ref_logprobs": inputs["ref_per_token_logps"],
        "advantages": advantages,
        "mask": completion_mask.float(),
    }
    return LossCase(tensors, trl_losses, beta, 0.2, max_completion_length)
