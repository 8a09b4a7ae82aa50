"""Execute one submission inside its sandbox (see ``sandbox.py``).

    python -m course_utils.instructor.grading.worker DIR CELL_SECONDS OUTPUT_BYTES


Reads ``DIR/submission.ipynb`` and writes ``DIR/executed.ipynb`` after every cell, so that whatever happens next
(a timeout, a kernel that dies, a memory limit) the cells run so far are kept. Writes ``DIR/status.json`` at the end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..notebooks import execute_notebook
from .cells import RunStatus

SUBMISSION, EXECUTED, STATUS = "submission.ipynb", "executed.ipynb", "status.json"
TRUNCATED = "\n[... output truncated by the grader ...]\n"


def cap_outputs(notebook: nbformat.NotebookNode, max_bytes: int) -> None:
    """Shorten each cell's text outputs to ``max_bytes`` characters in all (100k printed lines stay readable)."""
    for cell in notebook.cells:
        budget, kept = max_bytes, []
        for output in cell.get("outputs", []):
            if "text" not in output:
                kept.append(output)
                continue
            if budget <= 0:
                continue  # already cut: the marker is in an earlier output
            text = output["text"] if isinstance(output["text"], str) else "".join(output["text"])
            output["text"] = text[:budget] + (TRUNCATED if len(text) > budget else "")
            budget -= len(text)
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept


def main(folder: str, cell_seconds: str, output_bytes: str) -> None:
    """Execute ``folder/submission.ipynb``, saving after each cell, and record how the run ended."""
    work = Path(folder)
    executed = work / EXECUTED
    limit = int(output_bytes)

    def save(notebook: nbformat.NotebookNode) -> None:
        cap_outputs(notebook, limit)
        nbformat.write(notebook, executed)

    status = {"status": RunStatus.OK, "detail": ""}
    try:
        execute_notebook(work / SUBMISSION, executed, timeout=int(cell_seconds), allow_errors=True, after_cell=save)
    except DeadKernelError:
        status = {"status": RunStatus.KERNEL_DIED, "detail": "the kernel died (os._exit, a crash or the memory limit)"}
    except CellTimeoutError:
        status = {"status": RunStatus.CELL_TIMEOUT, "detail": f"a cell ran longer than {cell_seconds} s"}
    if executed.exists():
        save(nbformat.read(executed, as_version=4))
    (work / STATUS).write_text(json.dumps(status))


if __name__ == "__main__":
    main(*sys.argv[1:])
