"""Generate small arithmetic word problems in the schema of openai/gsm8k (config ``main``).

GSM8K's rows are a ``question`` and an ``answer``: a worked solution whose computations carry calculator annotations
(``48/2 = <<48/2=24>>24``) and whose last line is ``#### <the number>``. This script writes templated problems,
written for this course, in exactly that schema, so that the lab on verifiable rewards reads the tiny profile's
problems and GSM8K with the same code:

- ``main/train.jsonl`` and ``main/test.jsonl``: problems a small model can solve in its head (sums, differences and
  products of one-digit numbers); the test questions never appear in training;
- ``tool/train.jsonl`` and ``tool/test.jsonl``: products of two two-digit numbers, which it cannot: what the
  calculator is for;
- ``demonstrations/train.jsonl``: the training questions of both solved by a careless tutor, whose final value is
  off by a little in `SLIPS` of its solutions: what the lab's SFT imitates, errors included (the verifier and RL
  then do better than the demonstrations; GSM8K's own solutions play this part in ``full``).

It also gives the tiny model's pretraining text (`pretraining_documents`): the same kind of problems told as short
stories with their computations, and worksheets of one-digit arithmetic, never in the question-and-answer layout and
never with a ``####`` line: the model knows its tables but not the format a verifier reads.

    python scripts/make_arithmetic_sample.py

The output depends only on the seed.
"""

from __future__ import annotations

import random
import re

from jsonl import DATASETS, write_jsonl

OUTPUT_DIR = DATASETS / "gsm8k"
SEED = 0
NAMES = ("Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade", "Kim", "Leo", "Mia", "Noor", "Omar")
ITEMS = ("apples", "books", "coins", "stamps", "marbles", "pens", "cards", "shells", "stickers", "eggs", "plums")
CONTAINERS = ("boxes", "bags", "jars", "baskets", "packs")


def _calculation(left: int, sign: str, right: int) -> tuple[str, int]:
    """``"12+7 = <<12+7=19>>19"`` and 19: a computation written as GSM8K annotates it."""
    value = {"+": left + right, "-": left - right, "*": left * right}[sign]
    return f"{left}{sign}{right} = <<{left}{sign}{right}={value}>>{value}", value


def problem(rng: random.Random, kind: str) -> dict[str, str]:
    """One problem of ``kind`` (``add``, ``sub``, ``mul`` or ``tool``) in GSM8K's schema."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    if kind == "add":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        work, value = _calculation(a, "+", b)
        question = f"{name} has {a} {item}. {name} gets {b} more. How many {item} does {name} have now?"
        solution = f"{name} has {work} {item}."
    elif kind == "sub":
        a, b = rng.randint(10, 18), rng.randint(2, 9)
        work, value = _calculation(a, "-", b)
        question = f"{name} has {a} {item} and gives {b} away. How many {item} does {name} have left?"
        solution = f"{name} has {work} {item} left."
    elif kind in ("mul", "tool"):
        low, high = (2, 9) if kind == "mul" else (11, 99)  # tool: two-digit factors, beyond the tiny model's head
        a, b = rng.randint(low, high), rng.randint(low, high)
        box = rng.choice(CONTAINERS)
        work, value = _calculation(a, "*", b)
        question = f"{name} has {a} {box} with {b} {item} in each. How many {item} does {name} have?"
        solution = f"{name} has {work} {item}."
    else:
        raise ValueError(f"Unknown kind {kind!r}.")
    return {"question": question, "answer": f"{solution}\n#### {value}"}


IN_HEAD_KINDS = ("add", "sub", "mul")


def problems(count: int, kinds: tuple[str, ...], seed: int, exclude: set[str] = frozenset()) -> list[dict[str, str]]:
    """``count`` distinct problems, kinds in turn, none whose question is in ``exclude``."""
    rng, rows, seen = random.Random(seed), [], set(exclude)
    while len(rows) < count:
        row = problem(rng, kinds[len(rows) % len(kinds)])
        if row["question"] not in seen:
            seen.add(row["question"])
            rows.append(row)
    return rows


def test_rows() -> list[dict[str, str]]:
    """The held-out problems."""
    return problems(200, IN_HEAD_KINDS, SEED)


def worksheet_line(rng: random.Random) -> str:
    """One line of a one-digit arithmetic worksheet: ``"7*8 = <<7*8=56>>56"``, the facts the in-head kinds use."""
    sign = rng.choice("+-*")
    left, right = (rng.randint(10, 18), rng.randint(2, 9)) if sign == "-" else (rng.randint(2, 9), rng.randint(2, 9))
    return _calculation(left, sign, right)[0]


def pretraining_documents(count: int = 6000, worksheets: int = 3000, seed: int = SEED + 1) -> list[str]:
    """Problems told as stories with their computations, then worksheets of six facts each; without the
    question-and-answer layout or ``####``, and never a held-out question."""
    documents = []
    held_out = {row["question"] for row in test_rows()}
    for row in problems(count, (*IN_HEAD_KINDS, "tool"), seed, exclude=held_out):
        story = row["question"].rsplit(". ", 1)[0] + "."
        worked = row["answer"].rsplit("\n#### ", 1)[0].replace("\n", " ")
        documents.append(f"{story} {worked}")
    rng = random.Random(seed)
    documents += [" ".join(worksheet_line(rng) for _ in range(6)) for _ in range(worksheets)]
    return documents


# The share of the tutor's solutions that slip, and by how much their value is off when one does.
SLIPS = 0.4
SLIP_SIZES = (-10, -2, -1, 1, 2, 10)


def careless(row: dict[str, str], rng: random.Random) -> dict[str, str]:
    """``row`` solved by the careless tutor: with probability `SLIPS`, the value it computes (and reports after
    ``####``) is off by one of `SLIP_SIZES`; the computation it writes stays the question's."""
    if rng.random() >= SLIPS:
        return row
    value = int(row["answer"].rsplit("#### ", 1)[1])
    wrong = abs(value + rng.choice(SLIP_SIZES))
    worked = re.sub(r"=(\d+)>>\1", f"={wrong}>>{wrong}", row["answer"].rsplit("\n#### ", 1)[0])
    return {"question": row["question"], "answer": f"{worked}\n#### {wrong}"}


def main() -> None:
    test = test_rows()
    held_out = {row["question"] for row in test}
    train = problems(1000, IN_HEAD_KINDS, SEED + 2, exclude=held_out)
    tool_test = problems(200, ("tool",), SEED + 3)
    tool_train = problems(300, ("tool",), SEED + 5, exclude={row["question"] for row in tool_test})
    write_jsonl(train, OUTPUT_DIR / "main" / "train.jsonl")
    write_jsonl(test, OUTPUT_DIR / "main" / "test.jsonl")
    write_jsonl(tool_train, OUTPUT_DIR / "tool" / "train.jsonl")
    write_jsonl(tool_test, OUTPUT_DIR / "tool" / "test.jsonl")
    rng = random.Random(SEED + 4)
    demonstrations = [careless(row, rng) for row in [*train, *tool_train]]
    write_jsonl(demonstrations, OUTPUT_DIR / "demonstrations" / "train.jsonl")


if __name__ == "__main__":
    main()
