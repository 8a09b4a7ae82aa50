"""Simulated submissions: the notebooks a class hands in, good and bad, made from a lab's release and solution.

Try the grading setup on these before the real class does: a correct notebook must get full marks whatever state
its metadata is in, and a broken one must lose only the points it deserves. Each function returns a new notebook;
the inputs are never changed.
"""

from __future__ import annotations

import copy
import json

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from .cells import SOLUTION_BLOCK, grading_info


def solved(release: NotebookNode, source: NotebookNode) -> NotebookNode:
    """The release with every answer cell written as the solution has it: what a perfect student hands in."""
    answers = {
        grading_info(cell)["grade_id"]: cell.source for cell in source.cells if grading_info(cell).get("solution")
    }
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = grading_info(cell).get("grade_id")
        if grading_info(cell).get("solution") and grade_id in answers:
            cell.source = SOLUTION_BLOCK.sub(lambda match: match[1], answers[grade_id])
    return notebook


def find_cell(notebook: NotebookNode, grade_id: str) -> int:
    """The index of the cell with this nbgrader id."""
    for index, cell in enumerate(notebook.cells):
        if grading_info(cell).get("grade_id") == grade_id:
            return index
    raise KeyError(f"No cell has the nbgrader id {grade_id!r}.")


def with_source(notebook: NotebookNode, grade_id: str, source: str) -> NotebookNode:
    """A cell's code replaced: a student's own (wrong) answer, or a test edited to ``pass``."""
    changed = copy.deepcopy(notebook)
    changed.cells[find_cell(changed, grade_id)].source = source
    return changed


def with_grading(notebook: NotebookNode, grade_id: str, **fields: object) -> NotebookNode:
    """A cell's nbgrader metadata altered, e.g. ``points=100`` or ``grade=False``."""
    changed = copy.deepcopy(notebook)
    changed.cells[find_cell(changed, grade_id)].metadata["nbgrader"].update(fields)
    return changed


def without_cell(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    """A cell deleted."""
    changed = copy.deepcopy(notebook)
    del changed.cells[find_cell(changed, grade_id)]
    return changed


def with_cell_after(notebook: NotebookNode, grade_id: str, source: str) -> NotebookNode:
    """A code cell of the student's own added after the cell with this id."""
    changed = copy.deepcopy(notebook)
    changed.cells.insert(find_cell(changed, grade_id) + 1, new_code_cell(source))
    return changed


def stripped(notebook: NotebookNode) -> NotebookNode:
    """Every trace of nbgrader gone, as after some editors' round trips or a copy into a new notebook."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        cell.metadata.pop("nbgrader", None)
    return changed


def as_colab_saves_it(notebook: NotebookNode) -> str:
    """The file Colab downloads: format 4.0 without cell ids, Colab's metadata, sources as lists of lines."""
    cells = []
    for index, cell in enumerate(notebook.cells):
        saved = {key: value for key, value in copy.deepcopy(cell).items() if key != "id"}
        saved["metadata"] = {"id": f"c0LaB{index:03d}", **saved["metadata"]}
        if cell.cell_type == "code":
            saved["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
        saved["source"] = cell.source.splitlines(keepends=True)
        cells.append(saved)
    metadata = {
        "colab": {"provenance": [], "gpuType": "T4"},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",
    }
    return json.dumps({"nbformat": 4, "nbformat_minor": 0, "metadata": metadata, "cells": cells}, indent=2)


# One line of tampering each, as a student who wants the points could share it (the threat model: docs/grading.md).
REWRITER_MARKER = "course-grader-rewriter"
FORGE = "\n".join(  # what a grader might read back, written in the kernel's folder, forever, saying all went well
    [
        "import json, pathlib, time",
        "while True:",
        "    for name in ('executed.ipynb', 'status.json', 'record.json', '../record/record.json'):",
        "        try:",
        "            pathlib.Path(name).write_text(json.dumps({'status': 'ok', 'detail': '', 'cells': {}}))",
        "        except OSError:",
        "            pass",
        "    time.sleep(0.05)",
    ]
)
TAMPERING = {
    "handler": "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)\n",
    "traceback": "get_ipython().showtraceback = lambda *args, **kwargs: None\n",
    "rewriter": "import subprocess\nimport sys\n\n"  # in a session of its own, to outlive the kernel's process group
    f"subprocess.Popen([sys.executable, '-c', {FORGE!r}, {REWRITER_MARKER!r}], start_new_session=True)\n",
}
# Helpers a test compares with, patched to agree with anything (in the first answer cell: before every test).
LYING_HELPERS = """import math

import numpy
import torch

math.isclose = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
"""
# What passing tests print, then an exit before the grader can see more (after a test cell).
FAKE_PASS = 'print("All tests passed.")\n\nimport os\n\nos._exit(0)\n'
PRINT_TESTS = """import glob
import linecache
import os

for path in glob.glob("**/*.ipynb", recursive=True) + glob.glob("../**/*.ipynb", recursive=True):
    print(path, open(path).read())
cells = [entry[2] for name, entry in linecache.cache.items() if len(entry) > 2 and not os.path.exists(name)]
print("".join(line for lines in cells for line in lines))
print(In)
"""


def with_first_answer(notebook: NotebookNode, code: str) -> NotebookNode:
    """``code`` run first thing in the notebook's first answer cell (e.g. a line of ``TAMPERING``)."""
    first = next(cell for cell in notebook.cells if grading_info(cell).get("solution"))
    return with_source(notebook, grading_info(first)["grade_id"], code + first.source)


def wrapping(notebook: NotebookNode, references: list[str]) -> NotebookNode:
    """Each answer cell that defines a function named like one of the package's ``references`` replaced by a
    one-line wrapper around it: the work delegated, every visible check (even ``__module__``) still passing."""
    changed = notebook
    for dotted in references:
        module, name = dotted.rsplit(".", 1)
        for cell in notebook.cells:
            if grading_info(cell).get("solution") and f"def {name}(" in cell.source:
                wrapper = f"import {module}\n\n\ndef {name}(*args, **kwargs):\n    return {dotted}(*args, **kwargs)\n"
                changed = with_source(changed, grading_info(cell)["grade_id"], wrapper)
    return changed
