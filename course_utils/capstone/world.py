"""The capstone's world: what its policy is asked, how it is asked, and what it is taught first.

A question is what the gold judge reads; a *query* is the question as the policy sees it (`World.query`); an answer
is what the policy wrote, up to ``World.answer_end``. In ``tiny`` the world is our how-to sample (its phrases:
`templates.py`); in ``full``, the single-turn dialogues of hh-rlhf's helpful-base split. The rows TRL's trainers read
(`preference_rows`, `query_rows`) are written from it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from datasets import Dataset, load_dataset
from transformers import PreTrainedTokenizerBase

from ..runtime.profiles import Profile
from ..runtime.sources import resolve

HH_HUMAN, HH_ASSISTANT = "\n\nHuman: ", "\n\nAssistant:"


@dataclass(frozen=True)
class World:
    """What the capstone's policy is asked, how it is asked, and what it is taught first.

    ``questions`` are what the gold judge reads; ``sft_rows`` (prompt / completion) what SFT imitates.
    """

    questions: list[str]
    sft_rows: Dataset
    chat: bool  # True: queries are hh-rlhf dialogues ("Human: ... Assistant:"); False: the question, a blank line
    # An answer stops here as well as at the end-of-sequence token: the end of its line (tiny); None (full): only at
    # the end-of-sequence token, which SFT taught it to write after each answer (hh-rlhf's answers span lines).
    answer_end: str | None

    def query(self, question: str) -> str:
        """The text the policy continues to answer ``question``.

        >>> World([], Dataset.from_dict({}), chat=False, answer_end="\\n").query("How do I boil an egg?")
        'How do I boil an egg?\\n\\n'
        """
        return f"{HH_HUMAN}{question}{HH_ASSISTANT}" if self.chat else f"{question}\n\n"


def load_world(profile: Profile) -> World:
    """The tiny how-to world (our preference sample: 200 questions on 40 tasks) or, in ``full``, the single-turn
    dialogues of hh-rlhf's helpful-base split (question, and the chosen answer for SFT)."""
    if not profile.is_full:
        rows = load_dataset(resolve("capstone_dialogues", profile), split="train")
        world = World(sorted(set(rows["prompt"])), Dataset.from_dict({}), chat=False, answer_end="\n")
        sft = rows.map(lambda row: {"prompt": world.query(row["prompt"]), "completion": row["chosen"]})
        return replace(world, sft_rows=sft.select_columns(["prompt", "completion"]))
    rows = load_dataset(resolve("capstone_dialogues", profile), data_dir="helpful-base", split="train")
    single = rows.filter(lambda row: row["chosen"].count(HH_HUMAN) == 1)
    split = [row["chosen"].rsplit(HH_ASSISTANT, 1) for row in single]
    questions = [head.removeprefix(HH_HUMAN).strip() for head, _ in split]
    sft = Dataset.from_dict(
        {"prompt": [head + HH_ASSISTANT for head, _ in split], "completion": [tail for _, tail in split]}
    )
    return World(sorted(set(questions)), sft, chat=True, answer_end=None)


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, world: World) -> list[int]:
    """The tokens an answer stops at: the end-of-sequence token, and ``world.answer_end`` (which must be one token)."""
    if world.answer_end is None:
        return [tokenizer.eos_token_id]
    stop = tokenizer.encode(world.answer_end, add_special_tokens=False)
    if len(stop) != 1:
        raise ValueError(f"The answer end {world.answer_end!r} must be one token, not {len(stop)}.")
    return [tokenizer.eos_token_id, stop[0]]


def preference_rows(world: World, pairs: Sequence[dict[str, str]]) -> Dataset:
    """Gold-labelled pairs as ``trl.DPOTrainer`` reads them: the policy's query as the prompt, the two answers."""
    return Dataset.from_dict(
        {
            "prompt": [world.query(pair["prompt"]) for pair in pairs],
            "chosen": [pair["chosen"] for pair in pairs],
            "rejected": [pair["rejected"] for pair in pairs],
        }
    )


def query_rows(world: World, questions: Sequence[str]) -> Dataset:
    """Questions as ``trl.GRPOTrainer`` (or ``RLOOTrainer``) reads them: the query as the prompt, and the question
    in a column of its own, which the trainer hands to the reward function."""
    return Dataset.from_dict({"prompt": [world.query(q) for q in questions], "question": list(questions)})
