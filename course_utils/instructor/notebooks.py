"""Run notebooks the way a learner or the grader would: in a fresh kernel, in a chosen folder and environment."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
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
    *,
    kernel: KernelPlace | None = None,
    client_class: type[NotebookClient] = NotebookClient,
    **client_options: Any,
) -> float:
    """Execute ``source`` in a fresh Python kernel and save it with its outputs to ``destination``.

    The kernel's working directory is the destination's folder, so what the notebook writes lands beside it, unless
    ``kernel`` says where the kernel runs and under which command (the grader's sandbox). Returns the wall time in
    seconds. A failing cell raises ``nbclient.exceptions.CellExecutionError``, unless ``allow_errors`` (then every cell
    runs, and one that exceeds ``timeout`` is interrupted and fails alone, as when grading). ``after_cell(notebook)``
    is called after each cell; ``client_class`` and ``client_options`` make the client (the grader's own).
    """
    notebook = nbformat.read(source, as_version=4)
    destination.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as scratch:
        place = kernel or KernelPlace(folder=destination.parent, sockets=Path(scratch))
        manager = place.manager(Path(scratch))
        client = client_class(
            notebook,
            km=manager,
            timeout=timeout,
            allow_errors=allow_errors,
            interrupt_on_timeout=allow_errors,  # when grading, a cell that runs too long fails alone
            resources={"metadata": {"path": str(place.folder)}},
            **client_options,
        )
        if after_cell is not None:
            client.on_cell_executed = after_each(client.on_cell_executed, lambda: after_cell(notebook))
        try:
            client.execute(env={**os.environ, **(env or {})})  # the kernel's own: safe with several threads
        finally:
            nbformat.write(notebook, destination)
            if manager.has_kernel:  # nbclient leaves a kernel it did not create running
                run_sync(manager.shutdown_kernel)(now=True)
    return time.perf_counter() - start


def after_each(hook: Callable[..., Any] | None, then: Callable[[], None]) -> Callable[..., None]:
    """An ``on_cell_executed`` hook that runs the client's own ``hook`` (when it has one), then ``then()``."""

    def executed(**details: Any) -> None:
        if hook is not None:
            hook(**details)
        then()

    return executed


@dataclass(frozen=True)
class KernelPlace:
    """Where a kernel runs: its working folder, the folder of its sockets, and the command it runs under.

    The sockets are local (``ipc``, not TCP), so that a kernel without a network still talks to its client. With a
    ``prefix`` (the grader's fork-server client, ``... forkserver connect SOCKET JOB --``), the kernel starts as
    ``prefix + [python, -m, ipykernel_launcher, -f, FILE]`` and is interrupted by a message rather than a signal (the
    signal would reach the prefix's process, not the kernel); the prefix's command makes ``sockets`` (the grader's
    client links it to the folder of the sockets in the kernel's sandbox).
    """

    folder: Path
    sockets: Path
    prefix: tuple[str, ...] = ()

    def manager(self, scratch: Path) -> AsyncKernelManager:
        """A kernel manager for this place; its kernel spec, when it needs one, is written under ``scratch``."""
        if not self.prefix:
            self.sockets.mkdir(parents=True, exist_ok=True)
        # The asynchronous manager: nbclient's checks for a dead kernel and its cell timeouts run while it waits.
        options: dict[str, Any] = {
            "transport": "ipc",
            "ip": str(self.sockets / "kernel"),
            "connection_file": str(scratch / "connection.json"),
        }
        if not self.prefix:
            return AsyncKernelManager(kernel_name="python3", **options)
        spec = scratch / "kernels" / "placed"
        spec.mkdir(parents=True)
        argv = [*self.prefix, sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        description = {"argv": argv, "display_name": "Python 3", "language": "python", "interrupt_mode": "message"}
        (spec / "kernel.json").write_text(json.dumps(description))
        specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
        return AsyncKernelManager(kernel_name="placed", kernel_spec_manager=specs, **options)


def stderr_outputs(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Text written to stderr, by cell id: what would make nbgrader score a correct test cell 0."""
    found = {}
    for cell in notebook.cells:
        text = "".join(output.get("text", "") for output in cell.get("outputs", []) if output.get("name") == "stderr")
        if text:
            found[cell.get("id", "?")] = text
    return found
