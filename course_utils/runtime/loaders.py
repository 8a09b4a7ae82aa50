"""Load the models and datasets of each lab by role, in whatever profile the lab runs."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict, load_dataset
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Pipeline,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    pipeline,
)

from ..ppo import CausalLMWithValueHead
from .profiles import Profile
from .sources import resolve

HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 42
CODE_ALPACA_FIELDS = ("instruction", "input", "output")
ULTRAFEEDBACK_SPLITS = ("train_prefs", "test_prefs")


def load_causal_lm(role: str, profile: Profile) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal language model and its tokenizer, on the profile's device, in float32.

    Training precision is left to the trainer (fp16 mixed precision on a T4); float32 weights keep the optimizer
    stable. A tokenizer without a padding token gets its end-of-sequence token as padding.
    """
    source = resolve(role, profile)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(profile.device)
    return model, load_tokenizer(source)


def load_tokenizer(source: str) -> PreTrainedTokenizerBase:
    """The tokenizer at ``source``, with its end-of-sequence token as padding if it has no padding token (GPT-2)."""
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def first_rows(rows: Dataset, n: int) -> Dataset:
    """The first ``n`` rows, or every row when there are fewer: a fixed sample, the same on every run."""
    return rows.select(range(min(n, len(rows))))


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


def load_reward_model(profile: Profile) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Lab 2's reward model: gpt2 (full) or the packaged GPT-2-style tiny model, with a scalar head.

    ``AutoModelForSequenceClassification`` with ``num_labels=1`` puts a new, randomly initialised linear layer (the
    *score head*) on the last hidden state: one number per text. The model reads it at the last token that is not
    padding, so it must know the padding token id.
    """
    source = resolve("reward_model", profile)
    tokenizer = load_tokenizer(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(profile.device), tokenizer


def load_saved_reward_model(
    path: str | Path, device: str | torch.device
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A reward model saved by ``RewardTrainer.save_model`` (Lab 2, `course train reward`) or a Hub id, ready to
    score texts; one that scores with more than one number (a classifier) is refused.

    In ``tiny`` the folder holds the whole model; in ``full``, a LoRA adapter (with the trained score head) that is
    put on its base model and merged into it, so that scoring costs no more than with a plain model.
    """
    path = Path(path)
    if (path / "adapter_config.json").exists():
        from peft import AutoPeftModelForSequenceClassification

        adapted = AutoPeftModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
        model = adapted.merge_and_unload()
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
    if model.config.num_labels != 1:
        raise ValueError(f"{path}: a classifier with {model.config.num_labels} labels, not a reward model (1 score).")
    tokenizer = load_tokenizer(str(path))
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device).eval(), tokenizer


def load_instruct_pairs(profile: Profile) -> Dataset:
    """synthetic-instruct-gptj-pairwise (prompt / chosen / rejected): its single train split, every row.

    The Hub dataset has no held-out split; Lab 2 makes one itself, by prompt.
    """
    return load_dataset(resolve("instruct_pairwise", profile), split="train")


def load_ppo_policy(profile: Profile) -> tuple[CausalLMWithValueHead, PreTrainedTokenizerBase]:
    """Lab 3's policy: lvwerra/gpt2-imdb (gpt2 tuned on IMDB reviews) or the packaged tiny one, with a value head."""
    source = resolve("ppo_policy", profile)
    model = CausalLMWithValueHead.from_pretrained(source, dtype=torch.float32).to(profile.device)
    return model, load_tokenizer(source)


def load_sentiment_pipeline(profile: Profile) -> Pipeline:
    """Lab 3's reward model: lvwerra/distilbert-imdb (or the packaged tiny one) as a sentiment-analysis pipeline.

    ``top_k=None`` returns the score of *every* label, and ``function_to_apply="none"`` returns raw logits instead of
    probabilities: a logit keeps growing as a text gets more positive, where a probability saturates at 1.
    """
    return pipeline(
        "sentiment-analysis",
        model=resolve("sentiment_model", profile),
        top_k=None,
        function_to_apply="none",
        device=profile.device,
    )


def load_imdb(profile: Profile, split: str = "train") -> Dataset:
    """IMDB movie reviews (text / label, 0 negative and 1 positive): stanfordnlp/imdb or our packaged sample."""
    return load_dataset(resolve("imdb", profile), split=split)


def held_out_openings(profile: Profile, tokenizer: PreTrainedTokenizerBase, count: int = 48) -> list[list[int]]:
    """The first six tokens of the first ``count`` IMDB test reviews longer than 200 characters: the openings a
    check asks Lab 3's policies to continue, the same on every run and never trained on."""
    long_reviews = (text for text in load_imdb(profile, split="test")["text"] if len(text) > 200)
    return [tokenizer.encode(text)[:6] for text in islice(long_reviews, count)]


def load_dpo_models(
    profile: Profile, source: str | Path | None = None
) -> tuple[PreTrainedModel, PreTrainedModel, PreTrainedTokenizerBase]:
    """Lab 4's policy and its frozen reference, two copies of the same model, and the tokenizer.

    ``source`` is the SFT model Lab 4 trains first (a directory); without it, the base model: SmolLM2-360M (full) or
    the packaged tiny GPT-2.
    The reference is loaded again, not copied from the policy in memory: ``trl.DPOTrainer`` needs either an explicit
    reference model or a policy it can reload by name.
    """
    if source is None:
        policy, tokenizer = load_causal_lm("dpo_model", profile)
        reference, _ = load_causal_lm("dpo_model", profile)
    else:
        policy, reference = (
            AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(profile.device) for _ in range(2)
        )
        tokenizer = load_tokenizer(str(source))
    return policy, reference.eval().requires_grad_(False), tokenizer


def load_ultrafeedback(profile: Profile) -> DatasetDict:
    """ultrafeedback_binarized's preference splits, ``train_prefs`` and ``test_prefs`` (prompts do not overlap).

    ``chosen`` and ``rejected`` are conversations: lists of ``{"role", "content"}`` messages.
    """
    # Only these two of the dataset's six splits are downloaded: their shards are named after them under data/.
    files = {split: f"data/{split}-*" for split in ULTRAFEEDBACK_SPLITS}
    return load_dataset(resolve("ultrafeedback", profile), data_files=files)
