"""Time one PPO step of `course_utils.ppo` on a fixed setup, so that later changes can be compared.

    python benchmarks/ppo_step.py                 # tiny: the packaged gpt2-imdb-tiny policy, batch 32, on the CPU
    python benchmarks/ppo_step.py --size full     # gpt2's architecture (random weights), batch 128, GPU if any

The batch is fixed: queries of 2 to 7 tokens and responses of 4 to 15 tokens drawn with seeded `LengthSampler`s
from the policy's vocabulary, and fixed scores, so every run does the same work. It prints milliseconds per step
(rollout statistics, `ppo_epochs` passes of mini-batches, KL control), the tokens (query + response) processed per
second of step, the time to sample the responses with `PPOTrainer.generate`, and on a GPU the peak memory.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from results import save
from transformers import GPT2Config, GPT2LMHeadModel

from course_utils.ppo import PPOConfig, PPOTrainer
from course_utils.ppo.length_sampler import LengthSampler
from course_utils.ppo.value_head import CausalLMWithValueHead
from course_utils.runtime.loaders import load_tokenizer
from course_utils.runtime.profiles import Profile
from course_utils.runtime.sources import asset_path
from course_utils.runtime.training import mixed_precision


def build_model(size: str, device: str) -> CausalLMWithValueHead:
    """The tiny packaged policy, or gpt2-small's architecture with random weights (memory and time are the same)."""
    if size == "tiny":
        return CausalLMWithValueHead.from_pretrained(str(asset_path("models", "gpt2-imdb-tiny"))).to(device)
    torch.manual_seed(0)
    return CausalLMWithValueHead(GPT2LMHeadModel(GPT2Config())).to(device)


def fixed_batch(batch_size: int, vocab_size: int, eos: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Seeded queries and responses of the classic recipe's lengths, without end-of-sequence tokens inside."""
    generator = torch.Generator().manual_seed(0)
    query_lengths, response_lengths = LengthSampler(2, 8, seed=0), LengthSampler(4, 16, seed=1)

    def tokens(n: int) -> torch.Tensor:
        ids = torch.randint(0, vocab_size - 1, (n,), generator=generator)
        return torch.where(ids == eos, ids + 1, ids)

    return [tokens(query_lengths()) for _ in range(batch_size)], [tokens(response_lengths()) for _ in range(batch_size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--batch-size", type=int, help="default: 32 for tiny, 128 for full")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = "cuda" if args.size == "full" and torch.cuda.is_available() else "cpu"
    batch_size = args.batch_size or (32 if args.size == "tiny" else 128)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(asset_path("models", "gpt2-imdb-tiny")))
    model = build_model(args.size, device)
    vocab_size = model.config.vocab_size
    mixed = mixed_precision(Profile(args.size, device))
    config = PPOConfig(batch_size=batch_size, mini_batch_size=batch_size, mixed_precision=mixed)
    trainer = PPOTrainer(config, model, tokenizer)
    queries, responses = fixed_batch(batch_size, vocab_size, tokenizer.eos_token_id)
    scores = torch.linspace(-2, 2, batch_size)
    tokens_per_step = sum(len(q) + len(r) for q, r in zip(queries, responses, strict=True))

    trainer.step(queries, responses, scores)  # warm-up: allocations, kernels
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step_times, generate_times = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        trainer.generate(queries, LengthSampler(4, 16, seed=2), batch_size=batch_size, do_sample=True, top_k=0)
        if device == "cuda":
            torch.cuda.synchronize()
        generate_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        trainer.step(queries, responses, scores)
        if device == "cuda":
            torch.cuda.synchronize()
        step_times.append(time.perf_counter() - started)

    step, generate = statistics.median(step_times), statistics.median(generate_times)
    setup = (
        f"{args.size} ({model.policy.num_parameters():,} parameters), batch {batch_size}, device {device}, "
        f"precision {mixed}, {config.ppo_epochs} PPO epochs of mini-batches of {config.mini_batch_size}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    rows = [
        ["ppo step", f"{step * 1000:.1f} ms (median of {args.repeats})"],
        ["tokens per second of step", f"{tokens_per_step / step:.0f} ({tokens_per_step} query + response tokens)"],
        ["generate", f"{generate * 1000:.1f} ms per batch of {batch_size} responses"],
    ]
    if device == "cuda":
        rows.append(["peak GPU memory", f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"])
    print(f"setup: {setup}")
    for name, figure in rows:
        print(f"{name + ':':<28}{figure}")
    if args.batch_size is None and args.repeats >= 5:  # the setup the docs describe
        save(f"ppo_step_{args.size}", ["measure", "figure"], rows, [f"setup: {setup}"])


if __name__ == "__main__":
    main()
