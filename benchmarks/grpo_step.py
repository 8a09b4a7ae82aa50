"""Our GRPO step (`course_utils.grpo`) against `trl.GRPOTrainer`'s on identical tiny work: the same loss, and the
time each takes.

    python benchmarks/grpo_step.py            # 12 generations each, on the CPU (under a minute on 2 cores)

The work: the packaged `gpt2-arith-tiny` policy, 8 of the tiny problems per generation, 8 answers to each of
exactly 16 tokens (the end-of-sequence token is held back, so both sample the same number of tokens), scored by how
many digits they wrote (`digits_written`); then 2 passes over the 64 answers in 2 mini-batches of 32 (4 optimiser
updates), the ``dapo`` loss, no KL, AdamW at 1e-4, gradient clipping at 1, float32. TRL is run through ``train()``
with the settings that mean the same (``num_generations=8``, ``per_device_train_batch_size=32``,
``steps_per_generation=2``, ``num_iterations=2``), so its time includes what its loop does around a step (data
loading, logging), as a user's run would. The loss is compared on the same tensors, as `tests/grpo/test_trl_loss.py`
does; the times are medians over the generations after the first (which warms up both). Goal: ours no slower.
"""

from __future__ import annotations

import argparse
import statistics
import time
from itertools import pairwise

import torch
from results import save
from transformers import AutoModelForCausalLM, TrainerCallback

from course_utils.grpo import GRPOConfig, GRPOTrainer, grpo_loss
from course_utils.labs.verifiable_rewards import load_problems, question_prompt, trl_grpo_loss
from course_utils.lm import logprobs_from_logits, sample_responses
from course_utils.runtime.loaders import load_tokenizer
from course_utils.runtime.profiles import Profile
from course_utils.runtime.sources import asset_path
from course_utils.runtime.training import reference_trainer

POLICY = str(asset_path("models", "gpt2-arith-tiny"))
QUESTIONS, GROUP, TOKENS = 8, 8, 16


def digits_written(completions: list[str], **columns) -> list[float]:
    """A reward every answer earns some of (the untrained policy rarely writes the answer format, so the verifier
    would give every group the same 0 and every advantage would be 0): how many digits it wrote."""
    return [float(sum(character.isdigit() for character in completion)) for completion in completions]


def problems() -> tuple[list[str], list[str]]:
    """The prompts and true answers, in the order both trainers take them."""
    rows = load_problems(Profile("tiny", "cpu"))["train"]
    return [question_prompt(q) for q in rows["question"]], [a.rsplit("#### ", 1)[1] for a in rows["answer"]]


def ours(generations: int) -> list[float]:
    """Seconds of each `GRPOTrainer.step` of ours."""
    prompts, answers = problems()
    tokenizer = load_tokenizer(POLICY)
    torch.manual_seed(0)

    def exactly_tokens(model, tokenizer, queries):
        responses = sample_responses(
            model, tokenizer, queries, batch_size=len(queries), do_sample=True, top_k=0,
            max_new_tokens=TOKENS, min_new_tokens=TOKENS,
        )  # fmt: skip
        return responses, [torch.ones(len(response)) for response in responses]

    config = GRPOConfig(
        learning_rate=1e-4, group_size=GROUP, questions_per_step=QUESTIONS, num_iterations=2, mini_batches=2,
        max_completion_length=TOKENS,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(POLICY)
    trainer = GRPOTrainer(config, model, tokenizer, digits_written, sampler=exactly_tokens)
    seconds = []
    for step in range(generations):
        chunk = slice(step * QUESTIONS, (step + 1) * QUESTIONS)
        started = time.perf_counter()
        trainer.step(prompts[chunk], answer=answers[chunk])
        seconds.append(time.perf_counter() - started)
    return seconds


class StepClock(TrainerCallback):
    """The wall time of each generation of TRL's loop: from one generation's first update to the next one's."""

    def __init__(self, updates_per_generation: int) -> None:
        self.every, self.marks = updates_per_generation, []

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step % self.every == 0:
            self.marks.append(time.perf_counter())

    def on_train_end(self, args, state, control, **kwargs):
        self.marks.append(time.perf_counter())


def theirs(generations: int) -> list[float]:
    """Seconds of each generation of `trl.GRPOTrainer`'s loop, on the same work."""
    from datasets import Dataset
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer as TRLTrainer

    prompts, answers = problems()
    rows = Dataset.from_dict(
        {"prompt": prompts[: QUESTIONS * generations], "answer": answers[: QUESTIONS * generations]}
    )
    tokenizer = load_tokenizer(POLICY)
    torch.manual_seed(0)
    options = {
        "learning_rate": 1e-4, "num_generations": GROUP, "per_device_train_batch_size": QUESTIONS * GROUP // 2,
        "steps_per_generation": 2, "num_iterations": 2, "max_completion_length": TOKENS, "loss_type": "dapo",
        "beta": 0.0, "max_steps": 4 * generations, "logging_steps": 1000, "shuffle_dataset": False,
        "generation_kwargs": {"min_new_tokens": TOKENS}, "temperature": 1.0, "top_k": 0,
    }  # fmt: skip
    clock = StepClock(updates_per_generation=4)
    model = AutoModelForCausalLM.from_pretrained(POLICY)
    with reference_trainer(
        TRLTrainer, TRLConfig, options, model=model, reward_funcs=digits_written, train_dataset=rows,
        processing_class=tokenizer, callbacks=[clock],
    ) as trainer:  # fmt: skip
        trainer.train()
    return [later - earlier for earlier, later in pairwise(clock.marks)]


def same_loss() -> float:
    """The largest difference between our loss and TRL's on the same tensors, over its three aggregations."""
    model, tokenizer = AutoModelForCausalLM.from_pretrained(POLICY), load_tokenizer(POLICY)
    prompt = tokenizer(problems()[0][:1], return_tensors="pt").input_ids.repeat(4, 1)
    torch.manual_seed(0)
    completions = torch.randint(5, len(tokenizer), (4, TOKENS))
    mask = torch.ones(4, TOKENS)
    mask[2:, TOKENS // 2 :] = 0
    with torch.no_grad():
        logits = model(input_ids=torch.cat([prompt, completions], dim=1)).logits[:, prompt.shape[1] - 1 : -1]
        logprobs = logprobs_from_logits(logits, completions)
    inputs = {
        "prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completions,
        "completion_mask": mask.long(), "advantages": torch.tensor([1.0, -0.5, 0.5, -1.0]),
        "old_per_token_logps": logprobs + 0.3 * torch.randn(logprobs.shape),
    }  # fmt: skip
    gaps = []
    for loss_type in ("grpo", "dapo", "dr_grpo"):
        theirs_ = trl_grpo_loss(model, tokenizer, inputs, loss_type, beta=0.0, max_completion_length=TOKENS)
        ours_ = grpo_loss(
            logprobs, inputs["old_per_token_logps"], inputs["advantages"], mask, ref_logprobs=None, epsilon=0.2,
            beta=0.0, loss_type=loss_type, max_completion_length=TOKENS,
        ).item()  # fmt: skip
        gaps.append(abs(ours_ - theirs_))
    return max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=12, help="generations each trainer runs (default 12)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    gap = same_loss()
    mine, trl = ours(args.generations)[1:], theirs(args.generations)[1:]
    ratio = statistics.median(mine) / statistics.median(trl)
    row = [
        f"{statistics.median(mine) * 1000:.0f} ms",
        f"{statistics.median(trl) * 1000:.0f} ms",
        f"{ratio:.2f}",
        f"{gap:.1e}",
    ]
    print(
        f"ours {row[0]} a generation, trl.GRPOTrainer {row[1]}: ours/TRL = {row[2]}; largest loss difference {row[3]}"
    )
    save("grpo_step", ["ours (median)", "trl.GRPOTrainer (median)", "ours / TRL", "loss difference"], [row])


if __name__ == "__main__":
    main()
