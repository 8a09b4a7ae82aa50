"""Generate a small synthetic movie-review dataset in the schema of stanfordnlp/imdb.

The Hub dataset has 25,000 training and 25,000 test reviews, each a ``text`` string with a ``label`` (0 negative,
1 positive). This script writes a few hundred reviews per split in exactly that schema, written for this course
from templates (nothing is copied from IMDB).

A review opens with a neutral sentence (when or how the reviewer saw the film), then gives its opinion in sentences
whose words carry the sentiment (sometimes with a neutral plot summary among them), and closes with a verdict. So
the first few tokens of a review, the *query* of Lab 3, say nothing about its sentiment, and a policy that continues
them can go either way: PPO teaches it to go the positive way. Many reviews are under 200 characters, so the lab's
length filter (from the classic recipe) has something to filter.

Run it from anywhere::

    python scripts/make_review_sample.py

It writes ``course_utils/assets/datasets/imdb/{train,test}.jsonl``; the output depends only on the seed.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from jsonl import DATASETS, write_jsonl

OUTPUT_DIR = DATASETS / "imdb"

OPENINGS = (
    "I watched this movie last {day}.",
    "I saw this film at the cinema with {company}.",
    "This film came out a few years ago.",
    "I had heard a lot about this movie before I saw it.",
    "My {relative} told me to watch this film.",
    "I rented this movie on a rainy {day}.",
    "This is a {genre} film from a young director.",
    "I went to see this movie on {day} night.",
)
ABOUT = (
    "It is about a {role} who {plot}.",
    "The story follows a {role} who {plot}.",
    "The main character is a {role} who {plot}.",
)
POSITIVE = (
    "The acting is wonderful.",
    "The story kept me hooked until the very end.",
    "The music is beautiful and fits every scene.",
    "It is one of the best films I have seen this year.",
    "The director did a brilliant job.",
    "The characters feel real and the dialogue is clever.",
    "Every scene looks gorgeous.",
    "The ending made me smile.",
    "The cast is excellent, especially the lead.",
    "It is funny, moving and full of surprises.",
)
NEGATIVE = (
    "The acting is terrible.",
    "The story is boring and far too slow.",
    "The music is loud and annoying.",
    "It is one of the worst films I have seen this year.",
    "The director did a poor job.",
    "The characters are flat and the dialogue is silly.",
    "Every scene looks cheap.",
    "The ending made no sense at all.",
    "The cast is awful, especially the lead.",
    "It is dull, predictable and full of mistakes.",
)
VERDICTS = {
    1: ("I loved it and would watch it again.", "Highly recommended.", "A great film, ten out of ten.", "Go see it!"),
    0: ("I hated it and would never watch it again.", "Avoid it.", "A bad film, two out of ten.", "What a waste!"),
}
FILLERS = {
    "day": ("weekend", "Friday", "Sunday", "Monday", "holiday"),
    "company": ("my friends", "my family", "my sister", "a colleague", "my partner"),
    "relative": ("brother", "sister", "cousin", "mother", "uncle"),
    "genre": ("crime", "comedy", "science fiction", "war", "family", "horror"),
    "role": ("teacher", "detective", "pilot", "farmer", "young singer", "retired soldier", "nurse", "chef"),
    "plot": (
        "loses everything",
        "moves to a new city",
        "finds an old letter",
        "must save a small town",
        "falls in love",
        "tries to win a contest",
        "searches for a lost brother",
    ),
}


def fill(rng: random.Random, template: str) -> str:
    """``template`` with each ``{slot}`` replaced by a random filler."""
    return template.format(**{slot: rng.choice(options) for slot, options in FILLERS.items()})


def make_review(rng: random.Random, label: int) -> str:
    """One review: a neutral opening, opinions of the given sentiment (1 positive, 0 negative), a verdict.

    The plot summary, when there is one, comes after the first opinion: opinions start early, as they do in the
    short reviews a tiny policy can learn from in seconds.
    """
    opinions = rng.sample(POSITIVE if label == 1 else NEGATIVE, rng.randint(1, 4))
    middle = opinions[:1] + ([fill(rng, rng.choice(ABOUT))] if rng.random() < 0.5 else []) + opinions[1:]
    return " ".join([fill(rng, rng.choice(OPENINGS)), *middle, rng.choice(VERDICTS[label])])


def make_split(n_rows: int, seed: int, exclude: Collection[str] = ()) -> list[dict[str, object]]:
    """``n_rows`` reviews, half positive and half negative, shuffled; unique texts, none of them in ``exclude``."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    seen: set[str] = set(exclude)
    while len(rows) < n_rows:
        label = len(rows) % 2
        text = make_review(rng, label)
        if text not in seen:
            seen.add(text)
            rows.append({"text": text, "label": label})
    rng.shuffle(rows)
    return rows


def opinion_sentences() -> list[tuple[str, int]]:
    """Every opinion and verdict sentence with its label: short texts the tiny sentiment classifier also learns."""
    return [(text, 1) for text in POSITIVE + VERDICTS[1]] + [(text, 0) for text in NEGATIVE + VERDICTS[0]]


def main() -> None:
    """Write the default sample to ``course_utils/assets/datasets/imdb/``."""
    train = make_split(600, seed=0)
    write_jsonl(train, OUTPUT_DIR / "train.jsonl")
    write_jsonl(make_split(200, seed=1, exclude={row["text"] for row in train}), OUTPUT_DIR / "test.jsonl")


if __name__ == "__main__":
    main()
