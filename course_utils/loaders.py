"""Load the models and datasets of each lab by role, in whatever profile the lab runs."""

from __future__ import annotations

import torch
from datasets import DatasetDict, load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .profiles import Profile
from .sources import resolve

HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 42
CODE_ALPACA_FIELDS = ("instruction", "input", "output")


def load_causal_lm(role: str, profile: Profile) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal language model and its tokenizer, on the profile's device, in float32.

    Training precision is left to the trainer (fp16 mixed precision on a T4); float32 weights keep the optimizer
    stable. A tokenizer without a padding token gets its end-of-sequence token as padding.
    """
    source = resolve(role, profile)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(profile.device)
    return model, tokenizer


def load_sft_model(profile: Profile) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Lab 1's base model: facebook/opt-350m (full) or the packaged OPT-style tiny model."""
    return load_causal_lm("sft_model", profile)


def load_code_alpaca(profile: Profile) -> DatasetDict:
    """CodeAlpaca (instruction / input / output) with a fixed 80/20 train / test split.

    The split is made here, once, with a fixed seed, before anything is tuned: the test rows are never seen in
    training, so BLEU on them measures generalisation. Fields are stripped of surrounding whitespace: a response
    that began with spaces would merge with the template's final newline into one token, hiding the template.
    """
    rows = load_dataset(resolve("code_alpaca", profile), split="train")
    rows = rows.map(lambda row: {field: row[field].strip() for field in CODE_ALPACA_FIELDS})
    return rows.train_test_split(test_size=HELD_OUT_FRACTION, seed=SPLIT_SEED)
