"""Which cell of a handed-in notebook is which cell of the lab as released, however the notebook travelled.

nbgrader finds graded cells by their metadata, and a Colab round trip, copy and paste or a retyped cell can lose or
alter it. The grader's repair (``course_utils/instructor/grading/repair.py``) and the learner's check before
submitting (``submission.py``) both ask this module, so that what the check says the grader will do is what it does.

Every cell of the release is matched to the submission's cells: by nbgrader id, else by cell id, else by identical
source; of those matches the largest set that keeps the notebook's order is kept; then the cells left over are matched
by their content between matched neighbours (an answer cell also by the name of the function it defines, and the one
code cell left between its neighbours is taken for a lone answer). Cells are read as the notebook file's JSON objects
(or nbformat's nodes, which are such objects): no nbformat needed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

# How alike two sources must be to be taken for the same cell when nothing else matches them.
MIN_SIMILARITY = 0.6
DEFINED = re.compile(r"^def (\w+)\(", re.M)

Cell = Mapping[str, Any]


def source_of(cell: Cell) -> str:
    """A cell's source as one string (a notebook file may keep it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def grading_info(cell: Cell) -> dict:
    """The cell's nbgrader metadata ({} when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_answer(cell: Cell) -> bool:
    """A cell the student writes."""
    return bool(grading_info(cell).get("solution"))


def normalise(source: str) -> str:
    """Source without trailing spaces or surrounding blank lines, for comparing cells."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def similarity(release_cell: Cell, submitted_cell: Cell) -> float:
    """How alike two cells are, 0 to 1; an answer cell also matches on the name of the function it defines."""
    if release_cell.get("cell_type") != submitted_cell.get("cell_type"):
        return 0.0
    released, submitted = source_of(release_cell), source_of(submitted_cell)
    ratio = difflib.SequenceMatcher(None, normalise(released), normalise(submitted)).ratio()
    defined = DEFINED.search(released)
    if is_answer(release_cell) and defined and re.search(rf"^def {defined[1]}\(", submitted, re.M):
        ratio = max(ratio, 0.9)
    return ratio


def match_cells(release: Sequence[Cell], submitted: Sequence[Cell]) -> dict[int, int]:
    """Release cell index -> submitted cell index, in order (no two matches cross)."""
    anchors: dict[int, int] = {}
    used: set[int] = set()
    by_grade_id = {
        grading_info(c).get("grade_id"): j for j, c in enumerate(submitted) if grading_info(c).get("grade_id")
    }
    by_cell_id = {c.get("id"): j for j, c in enumerate(submitted) if c.get("id")}
    sources: dict[str, list[int]] = {}
    for j, cell in enumerate(submitted):
        sources.setdefault(normalise(source_of(cell)), []).append(j)
    for i, cell in enumerate(release):
        grade_id = grading_info(cell).get("grade_id")
        same_source = sources.get(normalise(source_of(cell)), [])
        for j in (by_grade_id.get(grade_id), by_cell_id.get(cell.get("id")), *same_source[:1]):
            if j is not None and j not in used and submitted[j].get("cell_type") == cell.get("cell_type"):
                anchors[i] = j
                used.add(j)
                break
    anchors = _keep_in_order(anchors)
    # Fill each gap between consecutive anchors by content, keeping order.
    bounds = [(-1, -1), *sorted(anchors.items()), (len(release), len(submitted))]
    for (i0, j0), (i1, j1) in zip(bounds, bounds[1:], strict=False):
        next_j = j0 + 1
        for i in range(i0 + 1, i1):
            candidates = [j for j in range(next_j, j1) if j not in anchors.values()]
            scored = [(similarity(release[i], submitted[j]), j) for j in candidates]
            best = max(scored, default=(0.0, None))
            lone_answer = is_answer(release[i]) and _only_code_cell_left(release, i, i1, submitted, candidates)
            if best[1] is not None and (best[0] >= MIN_SIMILARITY or lone_answer):
                anchors[i] = best[1]
                next_j = best[1] + 1
    return dict(sorted(anchors.items()))


def _only_code_cell_left(
    release: Sequence[Cell], i: int, i1: int, submitted: Sequence[Cell], candidates: list[int]
) -> bool:
    """True when the answer cell ``i`` is the last unmatched code cell of its gap and one code cell is left for it."""
    code_left = [j for j in candidates if submitted[j].get("cell_type") == "code"]
    later_code = [k for k in range(i + 1, i1) if release[k].get("cell_type") == "code"]
    return len(code_left) == 1 and not later_code


def _keep_in_order(anchors: dict[int, int]) -> dict[int, int]:
    """The largest subset of matches whose submitted positions increase with the release positions."""
    pairs = sorted(anchors.items())
    best: list[list[tuple[int, int]]] = []
    for pair in pairs:  # longest increasing subsequence, O(n^2): notebooks have tens of cells
        chains = [chain for chain in best if chain[-1][1] < pair[1]]
        best.append(max(chains, key=len, default=[]) + [pair])
    return dict(max(best, key=len, default=[]))
