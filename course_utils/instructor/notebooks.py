"""Run notebooks the way a learner or the grader would: in a fresh kernel, in a chosen folder and environment."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient


def execute_notebook(
    source: Path,
    destination: Path,
    env: Mapping[str, str] | None = None,
    timeout: int = 600,
    allow_errors: bool = False,
    after_cell: Callable[[nbformat.NotebookNode], None] | None = None,
) -> float:
    """Execute ``source`` in a fresh Python kernel and save it with its outputs to ``destination``.

    The kernel's working directory is the destination's folder, so what the notebook writes lands beside it.
    Returns the wall time in seconds. A failing cell raises ``nbclient.exceptions.CellExecutionError``, unless
    ``allow_errors`` (then every cell runs, and one that exceeds ``timeout`` is interrupted and fails alone, as when
    grading). ``after_cell(notebook)`` is called after each cell.
    """
    notebook = nbformat.read(source, as_version=4)
    destination.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # A local socket (not TCP) to talk to the kernel, in a private folder that disappears afterwards.
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        # The asynchronous manager: nbclient's checks for a dead kernel and its cell timeouts run while it waits.
        kernel = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(
            notebook,
            km=kernel,
            timeout=timeout,
            allow_errors=allow_errors,
            interrupt_on_timeout=allow_errors,  # when grading, a cell that runs too long fails alone
            resources={"metadata": {"path": str(destination.parent)}},
        )
        if after_cell is not None:
            client.on_cell_executed = lambda **_: after_cell(notebook)
        try:
            client.execute(env={**os.environ, **(env or {})})  # the kernel's own: safe with several threads
        finally:
            nbformat.write(notebook, destination)
            if kernel.has_kernel:  # nbclient leaves a kernel it did not create running
                run_sync(kernel.shutdown_kernel)(now=True)
    return time.perf_counter() - start


def stderr_outputs(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Text written to stderr, by cell id: what would make nbgrader score a correct test cell 0."""
    found = {}
    for cell in notebook.cells:
        text = "".join(output.get("text", "") for output in cell.get("outputs", []) if output.get("name") == "stderr")
        if text:
            found[cell.get("id", "?")] = text
    return found
