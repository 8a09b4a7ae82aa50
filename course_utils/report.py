"""A lab's headline result: shown to the learner, and saved for `course demo` to put in its table."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT_DIR_VARIABLE = "COURSE_REPORT_DIR"


def report_result(lab: str, metric: str, before: float, after: float, **details: float) -> str:
    """Print and return ``metric: before -> after``; also save it as JSON when ``COURSE_REPORT_DIR`` is set.

    ``details`` (other figures a test or a benchmark may check) are saved with it, not printed.
    """
    line = f"{lab}: {metric} {before:.2f} -> {after:.2f}"
    print(line)
    directory = os.environ.get(REPORT_DIR_VARIABLE)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        record = {"lab": lab, "metric": metric, "before": before, "after": after, **details}
        (Path(directory) / f"{lab}.json").write_text(json.dumps(record, indent=2) + "\n")
    return line
