"""Put a submitted notebook's grading cells back the way the course released them, and say what was changed.

nbgrader finds graded cells by their metadata. Colab round trips, copy and paste or retyping a cell can lose or
alter that metadata, and a student can edit a test, change its points or delete it. Before grading, every cell of
the release is matched to the submission's cells (``course_utils.notebook.matching``, which the learner's check
before submitting shares). Then

- test cells are **always** taken from the instructor's source (with the hidden tests), never from the submission;
- answer cells keep the student's code and get their release metadata back;
- a deleted test or answer cell is put back where it was; extra cells that claim to be graded lose that claim.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode

from ...notebook.matching import match_cells, normalise
from .cells import cell_key, clear_outputs, grading_info, is_test


@dataclass(frozen=True)
class Repair:
    """One change made to a submission before grading."""

    cell: str  # the nbgrader id (or the cell id) of the cell concerned
    action: str


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
