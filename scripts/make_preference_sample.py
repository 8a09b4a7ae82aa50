"""Generate a small synthetic preference dataset in the schema of Dahoas/synthetic-instruct-gptj-pairwise.

The Hub dataset holds about 33,000 rows, each with three strings: a user ``prompt``, a ``chosen`` answer (the
better one) and a ``rejected`` answer. This script writes a few hundred rows in exactly that schema, written for
this course from templates; nothing is copied from the real dataset.

What makes an answer better is kept simple enough for a tiny reward model to learn in seconds, and varied enough
that no single surface feature (length, a polite word) gives it away:

* chosen answers are **relevant** (they are about the task asked), **complete** (every step and a closing line)
  and **polite**;
* rejected answers have one defect each: *off-topic* chatter, a polite and complete answer to a *different task*,
  *truncated* mid-sentence, a *refusal* with no reason, *rude*, or *repetitive*.

The different-task answers are the hard case on purpose: only relevance separates them from a good answer, and a
tiny reward model trained for seconds mostly misses it (Lab 2 shows where it fails; Lab 3 shows why that matters).

A prompt is one of ~40 everyday tasks asked in one of five phrasings, and most prompts get several pairs (a chosen
and a rejected answer each), as in real preference data. Lab 2 splits the rows *by prompt*, so no held-out prompt is
ever seen in training.

Run it from anywhere::

    python scripts/make_preference_sample.py

It writes ``course_utils/assets/datasets/instruct_pairwise/instruct_pairwise_sample.jsonl`` and, from the same
templates, ``train_prefs`` / ``test_prefs`` splits in the schema of HuggingFaceH4/ultrafeedback_binarized (Lab 4)
under ``course_utils/assets/datasets/ultrafeedback/``; the output depends only on the seeds.
"""

from __future__ import annotations

import hashlib
import random

from jsonl import DATASETS, write_jsonl

from course_utils.capstone.templates import CHATTER, CLOSINGS, OPENINGS, PHRASINGS, REFUSALS, RUDE, STEP_FORMS, TASKS

ULTRAFEEDBACK_DIR = DATASETS / "ultrafeedback"
OUTPUT_PATH = DATASETS / "instruct_pairwise" / "instruct_pairwise_sample.jsonl"

# Defects of the rejected answers and how often each is drawn.
DEFECTS = {"off_topic": 0.25, "wrong_task": 0.1, "truncated": 0.25, "refusal": 0.2, "repetitive": 0.1, "rude": 0.1}


def good_answer(rng: random.Random, task: str) -> str:
    """A relevant, complete and polite answer for ``task``."""
    s1, s2, s3 = TASKS[task]
    body = rng.choice(STEP_FORMS).format(task=task, s1=s1, s2=s2, s3=s3)
    return f"{rng.choice(OPENINGS)}{body} {rng.choice(CLOSINGS)}"


def bad_answer(rng: random.Random, task: str, defect: str) -> str:
    """An answer for ``task`` with exactly one ``defect`` (a key of ``DEFECTS``)."""
    s1, _, _ = TASKS[task]
    if defect == "off_topic":
        return rng.choice(OPENINGS) + " ".join(rng.sample(CHATTER, rng.randint(2, 3)))
    if defect == "wrong_task":
        return good_answer(rng, rng.choice([other for other in TASKS if other != task]))
    if defect == "truncated":
        words = good_answer(rng, task).split()
        # Cut somewhere in the middle of the steps, never at a sentence end.
        cut = rng.randrange(len(words) // 3, 2 * len(words) // 3)
        return " ".join(words[:cut]).rstrip(".,:!")
    if defect == "refusal":
        return rng.choice(REFUSALS)
    if defect == "repetitive":
        return f"To {task}, {s1}. " + " ".join([f"{s1.capitalize()}."] * rng.randint(3, 5))
    if defect == "rude":
        return rng.choice(RUDE).format(task=task, s1=s1)
    raise ValueError(f"Unknown defect {defect!r}; expected one of {', '.join(DEFECTS)}.")


def all_prompts() -> list[tuple[str, str]]:
    """Every (task, prompt) pair: each task asked in each phrasing."""
    return [(task, phrasing.format(task=task)) for task in TASKS for phrasing in PHRASINGS]


def draw_pairs(
    rng: random.Random, prompts: list[tuple[str, str]], n_rows: int, defects: dict[str, float] = DEFECTS
) -> list[dict[str, str]]:
    """``n_rows`` unique (prompt, chosen, rejected) rows over ``prompts``, shuffled; rejected answers drawn from
    ``defects`` (defect -> weight).

    Every prompt is used before any prompt gets a second pair, so prompts get about the same number of pairs.
    """
    if not 0 <= n_rows <= 3 * len(prompts):
        raise ValueError(f"n_rows must be between 0 and {3 * len(prompts)}, got {n_rows}.")
    rng.shuffle(prompts)
    rows: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    while len(rows) < n_rows:
        task, prompt = prompts[len(rows) % len(prompts)]
        defect = rng.choices(list(defects), weights=list(defects.values()))[0]
        pair = (prompt, good_answer(rng, task), bad_answer(rng, task, defect))
        if pair not in seen:
            seen.add(pair)
            rows.append({"prompt": pair[0], "chosen": pair[1], "rejected": pair[2]})
    rng.shuffle(rows)
    return rows


def make_rows(n_rows: int = 480, seed: int = 0) -> list[dict[str, str]]:
    """``n_rows`` preference pairs in the synthetic-instruct-gptj-pairwise schema, deterministically from ``seed``."""
    return draw_pairs(random.Random(seed), all_prompts(), n_rows)


def ultrafeedback_row(rng: random.Random, pair: dict[str, str]) -> dict[str, object]:
    """A pair in the schema of HuggingFaceH4/ultrafeedback_binarized: conversations as lists of messages.

    ``prompt_id`` is the SHA-256 of the prompt, as there; the scores (1 to 10) rate the chosen answer higher.
    """

    def conversation(answer: str) -> list[dict[str, str]]:
        return [{"content": pair["prompt"], "role": "user"}, {"content": answer, "role": "assistant"}]

    chosen = conversation(pair["chosen"])
    return {
        "prompt": pair["prompt"],
        "prompt_id": hashlib.sha256(pair["prompt"].encode()).hexdigest(),
        "chosen": chosen,
        "rejected": conversation(pair["rejected"]),
        "messages": chosen,
        "score_chosen": float(rng.randint(7, 10)),
        "score_rejected": float(rng.randint(1, 5)),
    }


def make_ultrafeedback_splits(seed: int = 2, test_prompts: int = 40) -> dict[str, list[dict[str, object]]]:
    """``train_prefs`` and ``test_prefs`` in ultrafeedback_binarized's schema, with disjoint prompts (as there).

    UltraFeedback's rejected answers are worse answers *to the same question* (several models answered it), so this
    sample has no answers to a different task.
    """
    defects = {defect: weight for defect, weight in DEFECTS.items() if defect != "wrong_task"}
    rng = random.Random(seed)
    prompts = all_prompts()
    rng.shuffle(prompts)
    splits = {"train_prefs": (prompts[test_prompts:], 400), "test_prefs": (prompts[:test_prompts], 80)}
    return {
        name: [ultrafeedback_row(rng, pair) for pair in draw_pairs(rng, split_prompts, n_rows, defects)]
        for name, (split_prompts, n_rows) in splits.items()
    }


def pretraining_documents(seed: int = 1, answers_per_prompt: int = 3) -> list[str]:
    """Plain question-and-answer text from the same world, with no preference in it.

    Every prompt followed by answers of every quality, good or with any defect, drawn uniformly. The tiny backbone
    of Labs 2 and 4 is pretrained on these, so it knows the language of the tasks and that an answer usually
    follows from its question (as gpt2 learned from web text), but it never sees which answer was preferred, nor the
    pairs of the sample (a different seed draws them).
    """
    rng = random.Random(seed)
    documents = []
    for task in TASKS:
        for phrasing in PHRASINGS:
            for _ in range(answers_per_prompt):
                defect = rng.choice([None, *DEFECTS])
                answer = good_answer(rng, task) if defect is None else bad_answer(rng, task, defect)
                documents.append(f"{phrasing.format(task=task)}\n\n{answer}")
    rng.shuffle(documents)
    return documents


def main() -> None:
    """Write the samples to ``course_utils/assets/datasets/instruct_pairwise/`` and ``.../ultrafeedback/``."""
    write_jsonl(make_rows(), OUTPUT_PATH)
    # Named as the Hub's shards are, so that `load_dataset` finds the custom split names.
    for split, rows in make_ultrafeedback_splits().items():
        write_jsonl(rows, ULTRAFEEDBACK_DIR / "data" / f"{split}-00000-of-00001.jsonl")


if __name__ == "__main__":
    main()
