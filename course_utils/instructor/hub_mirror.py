"""A Hub-shaped mirror for a dry run of the ``full`` profile without the Hub: ``COURSE_HUB_MIRROR=DIR``.

Every repository the full profile reads gets a directory ``DIR/<owner>/<name>/`` laid out as on the Hub:

- models of the real architectures (``course_utils.runtime.architectures``: OPT-350m's projected embeddings and
  post-layer-norm, GPT-2's Conv1D attention, SmolLM2's Llama layers with grouped-query attention, DistilBERT with
  NEGATIVE / POSITIVE labels, DeBERTa-v3's relative attention with one output, Qwen2.5's biased q/k/v projections):
  the real configuration classes, module names and context lengths, with random weights, and depth and width shrunk
  (``--size shrunk``, the default) or at their real size;
- datasets in the real schemas and file layouts, with texts at realistic lengths (long tails included, so that
  truncation is exercised), built from our packaged sample data.

The real tokenizers cannot be downloaded here; each model takes the packaged tiny model's tokenizer of its family.

    python -m course_utils.instructor.hub_mirror build/hub-mirror   # then COURSE_HUB_MIRROR=build/hub-mirror
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoTokenizer

from ..runtime.architectures import ARCHITECTURES, model_config
from ..runtime.sources import asset_path

# Rows of each split in the mirror. The labs take at most so many rows (`first_rows`), so a dry run of the code path
# needs far fewer than the real datasets hold: enough for every split and batch, and a long tail of text lengths.
ROWS = {
    "code_alpaca": 400,
    "instruct_pairwise": 400,
    "imdb": {"train": 400, "test": 100, "unsupervised": 100},
    "ultrafeedback": {"train_prefs": 400, "test_prefs": 48},
    "hh_rlhf": {"train": 400, "test": 48},
    "gsm8k": {"train": 400, "test": 100},
}


# Chat models' templates, as TRL ships them (the real ones: TRL recognises a model's tool-call format by its
# template), with the special tokens they write.
CHAT_TEMPLATES = {
    "Qwen/Qwen2.5-0.5B-Instruct": (
        "qwen2_5.jinja",
        ["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"],
    ),
}


def write_model(mirror: Path, hub_id: str, size: str = "shrunk", seed: int = 0) -> None:
    """A randomly initialised model of ``hub_id``'s architecture, with a packaged tokenizer of its family (and, for a
    chat model, its real chat template)."""
    architecture = ARCHITECTURES[hub_id]
    tokenizer = AutoTokenizer.from_pretrained(asset_path("models", architecture.tokenizer_from))
    if hub_id in CHAT_TEMPLATES:
        template, special_tokens = CHAT_TEMPLATES[hub_id]
        tokenizer.add_special_tokens({"additional_special_tokens": special_tokens})
        tokenizer.chat_template = (files("trl") / "chat_templates" / template).read_text()
        tokenizer.eos_token = special_tokens[1]  # a chat model's turn ends its answer (Qwen's <|im_end|>)
        tokenizer.model_max_length = architecture.config["max_position_embeddings"]  # tool prompts are long
    token_ids = {name: getattr(tokenizer, name) for name in ("pad_token_id", "bos_token_id", "eos_token_id")}
    real = architecture.config
    config = model_config(hub_id, size, vocab_size=len(tokenizer), **{k: v for k, v in token_ids.items() if k in real})
    torch.manual_seed(seed)
    target = mirror / hub_id
    model = architecture.model_class(config)
    # Stored in the dtype the real checkpoint is stored in (save_pretrained writes the weights' dtype into the config):
    # transformers loads a checkpoint in that dtype unless told otherwise, so the dry run meets what a T4 meets.
    model.to(config.dtype or torch.float32).save_pretrained(target)
    tokenizer.save_pretrained(target)


# --- datasets, each in its repository's layout ---------------------------------------------------------------------


def write_code_alpaca(mirror: Path, rows: Sequence[dict]) -> None:
    """sahil2801/CodeAlpaca-20k: one JSON array (not JSON lines) of instruction / input / output."""
    folder = mirror / "sahil2801" / "CodeAlpaca-20k"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "code_alpaca_20k.json").write_text(json.dumps(list(rows), indent=2))


def write_instruct_pairs(mirror: Path, rows: Sequence[dict]) -> None:
    """Dahoas/synthetic-instruct-gptj-pairwise: one parquet shard of prompt / chosen / rejected under data/."""
    folder = mirror / "Dahoas" / "synthetic-instruct-gptj-pairwise" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(list(rows)).to_parquet(folder / "train-00000-of-00001.parquet")


def write_imdb(mirror: Path, splits: dict[str, Sequence[dict]]) -> None:
    """stanfordnlp/imdb: one parquet shard per split (train, test, unsupervised) of text / label under plain_text/."""
    folder = mirror / "stanfordnlp" / "imdb" / "plain_text"
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        Dataset.from_list(list(rows)).to_parquet(folder / f"{split}-00000-of-00001.parquet")


def write_ultrafeedback(mirror: Path, splits: dict[str, Sequence[dict]]) -> None:
    """HuggingFaceH4/ultrafeedback_binarized: ``data/<split>-*.parquet``, conversations as lists of messages."""
    folder = mirror / "HuggingFaceH4" / "ultrafeedback_binarized" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        Dataset.from_list(list(rows)).to_parquet(folder / f"{split}-00000-of-00001.parquet")


def write_hh_rlhf(mirror: Path, splits: dict[str, Sequence[dict]]) -> None:
    """Anthropic/hh-rlhf: gzipped JSON lines of chosen / rejected dialogues, one folder per subset."""
    folder = mirror / "Anthropic" / "hh-rlhf" / "helpful-base"
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)


def write_gsm8k(mirror: Path, splits: dict[str, Sequence[dict]]) -> None:
    """openai/gsm8k: one parquet shard per split (train, test) of question / answer under main/ (and socratic/)."""
    folder = mirror / "openai" / "gsm8k" / "main"
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        Dataset.from_list(list(rows)).to_parquet(folder / f"{split}-00000-of-00001.parquet")


def _sample(name: str) -> list[dict]:
    path = asset_path("datasets", *name.split("/"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _stretch(texts: Sequence[str], median: int, rng: random.Random, cap: int) -> Callable[[str], str]:
    """A function that lengthens a text with other sample texts to a length drawn around ``median`` characters.

    Lengths are log-normal (sigma 0.8), as real text lengths roughly are: most near the median, a tail several
    times longer, cut at ``cap``.
    """

    def stretch(text: str) -> str:
        target = min(cap, int(rng.lognormvariate(0, 0.8) * median))
        while len(text) < target:
            text += " " + rng.choice(texts)
        return text

    return stretch


def realistic_datasets(seed: int = 0) -> dict[str, Callable[[Path], None]]:
    """Writers for the six datasets, their texts at about the real datasets' lengths (medians in characters)."""
    rng = random.Random(seed)
    code = _sample("code_alpaca/code_alpaca_sample.jsonl")
    pairs = _sample("instruct_pairwise/instruct_pairwise_sample.jsonl")
    reviews = _sample("imdb/train.jsonl")
    feedback = _sample("ultrafeedback/data/train_prefs-00000-of-00001.jsonl")

    outputs = _stretch([row["output"] for row in code], median=250, rng=rng, cap=3000)
    code_rows = [
        {"instruction": row["instruction"], "input": row["input"], "output": outputs(row["output"])}
        for row in (rng.choice(code) for _ in range(ROWS["code_alpaca"]))
    ]
    answers = _stretch([row["chosen"] for row in pairs], median=450, rng=rng, cap=3000)
    pair_rows = [
        {"prompt": row["prompt"], "chosen": answers(row["chosen"]), "rejected": answers(row["rejected"])}
        for row in (rng.choice(pairs) for _ in range(ROWS["instruct_pairwise"]))
    ]
    review_text = _stretch([row["text"] for row in reviews], median=1000, rng=rng, cap=8000)
    review_rows = {
        split: [
            {"text": review_text(row["text"]), "label": row["label"]} for row in (rng.choice(reviews) for _ in range(n))
        ]
        for split, n in ROWS["imdb"].items()
    }
    prompt_text = _stretch([row["prompt"] for row in feedback], median=400, rng=rng, cap=4000)
    reply_text = _stretch([row["chosen"][1]["content"] for row in feedback], median=1200, rng=rng, cap=6000)

    def conversation(row: dict) -> dict:
        prompt = prompt_text(row["prompt"])
        chosen = [
            {"content": prompt, "role": "user"},
            {"content": reply_text(row["chosen"][1]["content"]), "role": "assistant"},
        ]
        rejected = [
            {"content": prompt, "role": "user"},
            {"content": reply_text(row["rejected"][1]["content"]), "role": "assistant"},
        ]
        prompt_id = hashlib.sha256(prompt.encode()).hexdigest()
        return {
            "prompt": prompt,
            "prompt_id": prompt_id,
            "chosen": chosen,
            "rejected": rejected,
            "messages": chosen,
            "score_chosen": row["score_chosen"],
            "score_rejected": row["score_rejected"],
        }

    feedback_rows = {
        split: [conversation(rng.choice(feedback)) for _ in range(n)] for split, n in ROWS["ultrafeedback"].items()
    }

    def dialogue(row: dict, turns: int) -> dict:
        """An hh-rlhf row: ``turns`` exchanges, the chosen and rejected answers last (every third row has two)."""
        earlier = "".join(
            f"\n\nHuman: {rng.choice(pairs)['prompt']}\n\nAssistant: {answers('Sure.')}" for _ in range(turns - 1)
        )
        head = f"{earlier}\n\nHuman: {row['prompt']}\n\nAssistant:"
        return {"chosen": f"{head} {answers(row['chosen'])}", "rejected": f"{head} {answers(row['rejected'])}"}

    dialogue_rows = {
        split: [dialogue(rng.choice(pairs), 2 if i % 3 == 0 else 1) for i in range(n)]
        for split, n in ROWS["hh_rlhf"].items()
    }
    problems = _sample("gsm8k/main/train.jsonl")
    context = _stretch([row["question"].rsplit(". ", 1)[0] + "." for row in problems], median=120, rng=rng, cap=800)

    def word_problem(row: dict) -> dict:
        """A GSM8K row: a longer story before the question, and a worked solution of 2 to 5 annotated lines (median
        about 230 and 290 characters, as GSM8K's), its last line ``#### <number>``."""
        story, _, question = row["question"].rpartition(". ")
        steps = [rng.choice(problems)["answer"].rsplit("\n#### ", 1)[0] for _ in range(rng.randint(1, 4))]
        worked, final = row["answer"].rsplit("\n#### ", 1)
        return {
            "question": f"{context(story + '.')} {question}",
            "answer": "\n".join([*steps, worked, f"#### {final}"]),
        }

    problem_rows = {split: [word_problem(rng.choice(problems)) for _ in range(n)] for split, n in ROWS["gsm8k"].items()}
    return {
        "code_alpaca": lambda mirror: write_code_alpaca(mirror, code_rows),
        "instruct_pairwise": lambda mirror: write_instruct_pairs(mirror, pair_rows),
        "imdb": lambda mirror: write_imdb(mirror, review_rows),
        "ultrafeedback": lambda mirror: write_ultrafeedback(mirror, feedback_rows),
        "hh_rlhf": lambda mirror: write_hh_rlhf(mirror, dialogue_rows),
        "gsm8k": lambda mirror: write_gsm8k(mirror, problem_rows),
    }


def build_mirror(mirror: Path, size: str = "shrunk", seed: int = 0) -> Path:
    """Write every model and dataset of the full profile under ``mirror``; returns ``mirror``."""
    shutil.rmtree(mirror, ignore_errors=True)
    for hub_id in ARCHITECTURES:
        write_model(mirror, hub_id, size, seed)
    for write in realistic_datasets(seed).values():
        write(mirror)
    return mirror


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", type=Path, help="the folder to write (replaced if it exists)")
    parser.add_argument("--size", choices=("shrunk", "real"), default="shrunk", help="model width and depth")
    args = parser.parse_args()
    build_mirror(args.mirror, args.size)
    print(f"Wrote a Hub-shaped mirror to {args.mirror}: COURSE_HUB_MIRROR={args.mirror.resolve()}")


if __name__ == "__main__":
    main()
