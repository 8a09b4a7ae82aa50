"""Reading a recipe's rows, checked before any model is loaded: a bad file stops the run with one line that names
the file and the problem."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset

HH_ASSISTANT = "\n\nAssistant:"
# What each method needs in a row (any one of the column sets).
SCHEMAS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sft": (("prompt", "completion"), ("chosen",)),
    "reward": (("chosen", "rejected"),),
    "ppo": (("prompt",), ("chosen",)),
    "dpo": (("chosen", "rejected"),),
    "grpo": (("prompt",),),  # and any other columns: the reward function reads them
}
SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


class DataError(ValueError):
    """A data file that cannot be trained on; the message is one line: ``<file>: <problem>``."""


def read_rows(paths: Sequence[str | Path], method: str) -> Dataset:
    """The rows of every file in ``paths``, each checked: it exists, it parses, it has rows, and every row has the
    columns ``method`` needs (`SCHEMAS`)."""
    rows: list[dict] = []
    layout = None
    for path in map(Path, paths):
        found = read_file(path)
        if not found:
            raise DataError(f"{path}: no rows.")
        columns = check_columns(found, method, str(path))
        if layout is not None and columns != layout[1]:
            # one table in the end: its columns are the first row's, and the other layout's would be lost
            raise DataError(
                f"{path}: its rows have {'/'.join(columns)} where {layout[0]}'s have {'/'.join(layout[1])}."
            )
        layout = layout or (path, columns)
        rows += found
    return Dataset.from_list(rows)


def read_file(path: Path) -> list[dict]:
    """The rows of one JSON-lines (optionally gzipped), JSON (an array of objects) or Parquet file."""
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    name = path.name
    if not name.endswith(SUFFIXES):
        raise DataError(f"{path}: unknown format; use one of {', '.join(SUFFIXES)}.")
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow's errors have no common base worth naming
            raise DataError(f"{path}: not a Parquet file ({error}).") from None
    try:
        text = (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else path.open(encoding="utf-8")).read()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read ({error}).") from None
    if name.endswith(".json"):
        try:
            rows = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not JSON (line {error.lineno}: {error.msg}).") from None
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected an array of objects, got {type(rows).__name__}.")
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}: line {number} is not JSON ({error.msg}).") from None
    return rows


def check_columns(rows: Sequence[dict], method: str, where: str) -> tuple[str, ...]:
    """Every row is an object with the same one of ``method``'s column sets, each a string (a ppo prompt not empty);
    else one line saying which row. Returns that column set."""
    options, layout = SCHEMAS[method], None
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{where}: row {number} is a {type(row).__name__}, not an object.")
        present = [columns for columns in options if all(isinstance(row.get(column), str) for column in columns)]
        if not present:
            wanted = " or ".join("/".join(columns) for columns in options)
            raise DataError(f"{where}: row {number} has no {wanted} text columns ({method} needs them).")
        layout = layout or present[0]
        if present[0] != layout:
            raise DataError(f"{where}: row {number} has {'/'.join(present[0])} where row 1 has {'/'.join(layout)}.")
        if layout == ("chosen",) and HH_ASSISTANT not in row["chosen"]:
            raise DataError(f"{where}: row {number}'s chosen dialogue has no {HH_ASSISTANT.strip()!r} turn to learn.")
        if layout == ("prompt",) and not row["prompt"].strip():
            raise DataError(f"{where}: row {number}'s prompt is empty (the policy needs something to answer).")
    return layout or options[0]


def method_rows(rows: Dataset, method: str) -> Dataset:
    """``rows`` in the schema the method's trainer reads.

    sft: prompt / completion (the loss on the completion only); an hh-rlhf dialogue (``chosen``) is cut before its
    last ``Assistant:`` turn, which becomes the completion. ppo: the prompt alone, cut the same way. reward and dpo:
    chosen / rejected, the whole dialogues (TRL finds the shared prompt itself). grpo: every column as it is.
    """
    if method in ("reward", "dpo"):
        return rows.select_columns(["chosen", "rejected"])
    if method == "grpo":
        return rows  # the prompt, and whatever else the reward function reads
    wanted = ["prompt", "completion"] if method == "sft" else ["prompt"]
    if all(column in rows.column_names for column in wanted):
        return rows.select_columns(wanted)

    def split(row: dict) -> dict:
        head, _, tail = row["chosen"].rpartition(HH_ASSISTANT)  # check_columns made sure there is one
        return {"prompt": head + HH_ASSISTANT, "completion": tail}

    return rows.map(split, remove_columns=rows.column_names).select_columns(wanted)
