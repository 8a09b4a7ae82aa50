"""`course train sft|reward|ppo|dpo|grpo`: the command line of `run_recipe`."""

from __future__ import annotations

import argparse
import sys

from .config import METHODS, RecipeConfig

# What a flag means where its name does not say it all (RecipeConfig documents every field).
MEANINGS = {
    "mini-batch-size": "ppo and grpo: answers per optimiser update; default: the whole batch",
    "group-size": "grpo: answers sampled per prompt; ",
    "max-new-tokens": "ppo: the longest answer sampled; ",
    "beta": "the KL coefficient (DPO's beta; PPO's fixed KL penalty; GRPO's k3 weight); ",
    "batch-size": "rows per process per step (ppo: answers sampled; grpo: prompts); ",
}


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    """The flags of `course train`: each sets the `RecipeConfig` field of its name, over ``--config``'s value."""
    train.add_argument("method", choices=METHODS, help=", ".join(METHODS))
    train.add_argument("--config", help="a YAML or JSON file of RecipeConfig settings (flags override it)")
    train.add_argument("--model", help="a Hub id or a local directory")
    train.add_argument("--reward-model", help="ppo: the reward model scoring the answers (a Hub id or a directory)")
    train.add_argument(
        "--reward-function", help="grpo: your verifier, module:function or file.py:function (completions, **columns)"
    )
    train.add_argument("--output-dir", help="where the model, metrics.json and loss.png go")
    train.add_argument("--train", dest="train_files", nargs="+", help=".jsonl, .jsonl.gz, .json or .parquet files")
    train.add_argument("--dataset", help="a Hub dataset id instead of files (e.g. Anthropic/hh-rlhf)")
    train.add_argument("--data-dir", help="the dataset's folder (e.g. helpful-base)")
    train.add_argument("--eval", dest="eval_files", nargs="+", help="evaluation files (default: --eval-fraction)")
    train.add_argument("--eval-fraction", type=float, help="held out of the training rows (default 0.05)")
    train.add_argument("--full", dest="lora", action="store_const", const=False, help="full fine-tuning, no LoRA")
    train.add_argument(
        "--stop-on-warning",
        action="store_const",
        const=True,
        help="ppo: stop at the reward-hacking monitor's first warning (its KL, entropy and length on held-out prompts)",
    )
    for name, kind in (
        ("lora-r", int),
        ("max-steps", int),
        ("batch-size", int),
        ("mini-batch-size", int),
        ("group-size", int),
        ("gradient-accumulation-steps", int),
        ("learning-rate", float),
        ("max-length", int),
        ("max-new-tokens", int),
        ("beta", float),
        ("logging-steps", int),
        ("seed", int),
    ):
        field = name.replace("-", "_")
        default = RecipeConfig.__dataclass_fields__[field].default
        train.add_argument(
            f"--{name}", type=kind, help=MEANINGS.get(name, "") + ("" if default is None else f"default {default}")
        )


def train_command(args: argparse.Namespace) -> int:
    """Run `course train`: 2 (with one line on stderr) for a bad configuration or data file, 0 when trained."""
    from .data import DataError

    settings = {name: value for name, value in vars(args).items() if name not in ("command", "root", "config")}
    try:
        config = RecipeConfig.from_sources(args.config, **settings)
    except ValueError as error:
        print(f"course train: {error}", file=sys.stderr)
        return 2
    from .run import run_recipe

    try:
        output = run_recipe(config)
    except DataError as error:  # raised before any model is loaded
        print(f"course train: {error}", file=sys.stderr)
        return 2
    print(f"Trained {config.method} on {config.model}: model, metrics.json and loss.png in {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`course train`'s command line on its own (``python -m course_utils.recipes METHOD ...``)."""
    parser = argparse.ArgumentParser(prog="course train", description="Train with a lab's method on your data.")
    add_train_arguments(parser)
    return train_command(parser.parse_args(argv))
