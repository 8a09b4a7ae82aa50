"""A lab's headline result: shown to the learner, and saved for `course demo` to put in its table."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT_DIR_VARIABLE = "COURSE_REPORT_DIR"


def report_result(
    lab: str, metric: str, before: float, after: float, peak: float | None = None, **details: float | list[float]
) -> str:
    """Print and return ``metric: before -> after`` (``before -> peak -> after`` with a ``peak``); also save it as
    JSON when ``COURSE_REPORT_DIR`` is set.

    ``details`` (other figures a test or a benchmark may check) are saved with it, not printed.
    """
    record = {"lab": lab, "metric": metric, "before": before, "after": after, **details}
    if peak is not None:
        record["peak"] = peak
    line = f"{lab}: {metric} {result_figures(record)}"
    print(line)
    directory = os.environ.get(REPORT_DIR_VARIABLE)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"{lab}.json").write_text(json.dumps(record, indent=2) + "\n")
    return line


def result_figures(record: dict) -> str:
    """``before -> after``, or ``before -> peak -> after``, of a saved result.

    >>> result_figures({"before": 0.1, "peak": 1.0, "after": 0.25})
    '0.10 -> 1.00 -> 0.25'
    """
    figures = (
        [record["before"], record["peak"], record["after"]] if "peak" in record else [record["before"], record["after"]]
    )
    return " -> ".join(f"{figure:.2f}" for figure in figures)
