"""Write sample datasets as JSON lines, the same way for every builder (so rebuilt files are byte-identical)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

# Where the sample datasets are packaged (inside `course_utils`, so they install with it).
DATASETS = Path(__file__).resolve().parents[1] / "course_utils" / "assets" / "datasets"


def write_jsonl(rows: Sequence[dict], path: Path) -> None:
    """Write ``rows`` to ``path``, one JSON object per line, UTF-8 with ``\\n`` line ends; report what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"Wrote {len(rows)} rows to {path}")
