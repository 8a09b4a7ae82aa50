"""Put a submitted notebook's grading cells back the way the course released them, and say what was changed.

nbgrader finds graded cells by their metadata. Colab round trips, copy and paste or retyping a cell can lose or
alter that metadata, and a student can edit a test, change its points or delete it. Before grading, every cell of
the release is matched to the submission's cells: by nbgrader id, else by cell id, else by identical source, and the
cells left over by their content and their place between matched neighbours. Then

- test cells are **always** taken from the instructor's source (with the hidden tests), never from the submission;
- answer cells keep the student's code and get their release metadata back;
- a deleted test or answer cell is put back where it was; extra cells that claim to be graded lose that claim.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode

from .cells import cell_key, clear_outputs, grading_info, is_answer, is_test

# How alike two sources must be to be taken for the same cell when nothing else matches them.
MIN_SIMILARITY = 0.6


@dataclass(frozen=True)
class Repair:
    """One change made to a submission before grading."""

    cell: str  # the nbgrader id (or the cell id) of the cell concerned
    action: str


def normalise(source: str) -> str:
    """Source without trailing spaces or surrounding blank lines, for comparing cells."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def similarity(release_cell: NotebookNode, submitted_cell: NotebookNode) -> float:
    """How alike two cells are, 0 to 1; an answer cell also matches on the name of the function it defines."""
    if release_cell.cell_type != submitted_cell.cell_type:
        return 0.0
    ratio = difflib.SequenceMatcher(None, normalise(release_cell.source), normalise(submitted_cell.source)).ratio()
    defined = re.search(r"^def (\w+)\(", release_cell.source, re.M)
    if is_answer(release_cell) and defined and re.search(rf"^def {defined[1]}\(", submitted_cell.source, re.M):
        ratio = max(ratio, 0.9)
    return ratio


def match_cells(release: list[NotebookNode], submitted: list[NotebookNode]) -> dict[int, int]:
    """Release cell index -> submitted cell index, in order (no two matches cross)."""
    anchors: dict[int, int] = {}
    used: set[int] = set()
    by_grade_id = {
        grading_info(c).get("grade_id"): j for j, c in enumerate(submitted) if grading_info(c).get("grade_id")
    }
    by_cell_id = {c.get("id"): j for j, c in enumerate(submitted) if c.get("id")}
    sources: dict[str, list[int]] = {}
    for j, cell in enumerate(submitted):
        sources.setdefault(normalise(cell.source), []).append(j)
    for i, cell in enumerate(release):
        grade_id = grading_info(cell).get("grade_id")
        same_source = sources.get(normalise(cell.source), [])
        for j in (by_grade_id.get(grade_id), by_cell_id.get(cell.get("id")), *same_source[:1]):
            if j is not None and j not in used and submitted[j].cell_type == cell.cell_type:
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


def _only_code_cell_left(release, i, i1, submitted, candidates) -> bool:
    """True when the answer cell ``i`` is the last unmatched code cell of its gap and one code cell is left for it."""
    code_left = [j for j in candidates if submitted[j].cell_type == "code"]
    later_code = [k for k in range(i + 1, i1) if release[k].cell_type == "code"]
    return len(code_left) == 1 and not later_code


def _keep_in_order(anchors: dict[int, int]) -> dict[int, int]:
    """The largest subset of matches whose submitted positions increase with the release positions."""
    pairs = sorted(anchors.items())
    best: list[list[tuple[int, int]]] = []
    for pair in pairs:  # longest increasing subsequence, O(n^2): notebooks have tens of cells
        chains = [chain for chain in best if chain[-1][1] < pair[1]]
        best.append(max(chains, key=len, default=[]) + [pair])
    return dict(max(best, key=len, default=[]))


def repair(submitted: NotebookNode, release: NotebookNode, source: NotebookNode) -> tuple[NotebookNode, list[Repair]]:
    """The submission with its grading cells restored, and the list of what was repaired.

    ``release`` is the student version of the lab (labs/), ``source`` the instructor's (solutions/): its test cells,
    hidden tests included, are what gets graded.
    """
    instructor_tests = {grading_info(c)["grade_id"]: c for c in source.cells if is_test(c)}
    matches = match_cells(release.cells, submitted.cells)
    matched_back = {j: i for i, j in matches.items()}
    # Graded cells of the release with no counterpart: deleted. Each goes back before the first cell that followed it.
    deleted = [i for i, cell in enumerate(release.cells) if i not in matches and grading_info(cell)]
    repairs: list[Repair] = []
    cells: list[NotebookNode] = []
    for j, cell in enumerate(submitted.cells):
        i = matched_back.get(j)
        if i is None:
            cell = copy.deepcopy(cell)
            if grading_info(cell):  # a copied or invented graded cell must not be graded
                repairs.append(Repair(cell_key(cell), "removed grading metadata from an extra cell"))
                cell.metadata.pop("nbgrader", None)
            cells.append(cell)
            continue
        while deleted and deleted[0] < i:
            cells.append(_reinsert(release.cells[deleted.pop(0)], instructor_tests, repairs))
        cells.append(_restore(cell, release.cells[i], instructor_tests, repairs))
    cells += [_reinsert(release.cells[i], instructor_tests, repairs) for i in deleted]
    seen: set[str] = set()
    for cell in cells:  # nbformat 4.5 wants unique ids; a copied cell or an old format may lack them
        if not cell.get("id") or cell.id in seen:
            cell.id = nbformat.v4.new_code_cell().id
        seen.add(cell.id)
    repaired = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(release.metadata))
    return repaired, repairs


def _restore(cell: NotebookNode, release_cell: NotebookNode, tests: dict, repairs: list[Repair]) -> NotebookNode:
    """A matched cell as it must be graded."""
    info, wanted = grading_info(cell), grading_info(release_cell)
    key = wanted.get("grade_id", cell_key(release_cell))
    if is_test(release_cell):
        restored = copy.deepcopy(tests[key])
        clear_outputs(restored)
        restored.id = release_cell.id
        if not info:
            repairs.append(Repair(key, "restored lost grading metadata"))
        else:
            for field, what in (("points", "points"), ("grade", "graded flag"), ("grade_id", "cell id")):
                if info.get(field) != wanted.get(field):
                    repairs.append(Repair(key, f"restored {what} ({info.get(field)!r} -> {wanted.get(field)!r})"))
        if normalise(cell.source) != normalise(release_cell.source):
            repairs.append(Repair(key, "replaced an edited test cell with the original"))
        return restored
    restored = copy.deepcopy(cell)
    if wanted and info != wanted:
        restored.metadata["nbgrader"] = copy.deepcopy(wanted)
        repairs.append(
            Repair(key, "restored lost grading metadata" if not info else "restored altered grading metadata")
        )
    elif not wanted and info:
        restored.metadata.pop("nbgrader", None)
        repairs.append(Repair(key, "removed grading metadata from an ungraded cell"))
    return restored


def _reinsert(release_cell: NotebookNode, tests: dict, repairs: list[Repair]) -> NotebookNode:
    key = grading_info(release_cell)["grade_id"]
    if is_test(release_cell):
        repairs.append(Repair(key, "restored a deleted test cell"))
        cell = copy.deepcopy(tests[key])
    else:
        repairs.append(Repair(key, "restored a deleted answer cell (as released: unanswered)"))
        cell = copy.deepcopy(release_cell)
    clear_outputs(cell)
    return cell
