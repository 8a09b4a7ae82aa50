"""Run one submission where it can harm nothing else: its own folder, no network, bounded time and memory.

Two processes per submission. The **worker** (``worker.py``) runs outside the sandbox; it starts the **kernel** inside
it and records what the kernel does, in a folder the kernel cannot see. The kernel is forked by a server that has
imported the labs' libraries already (``forkserver.py``). What is isolated (Linux, no root privileges needed: user,
mount, PID and network namespaces, entered with system calls in ``isolation.py``):

- **files**: every mount is read-only except the kernel's own folder; the paths given as ``hidden`` (other
  submissions, the solutions, the gradebook, the input files, the worker's record) are covered by empty read-only
  filesystems; ``/dev/shm`` is private;
- **processes**: the kernel is the first process of a PID namespace, with its own ``/proc``: it sees only its own
  children, cannot signal or trace the worker, and when it ends every process it started ends with it; when the
  worker ends, its fork-server client dies with it (a parent-death signal) and the server kills the kernel;
- **network**: a new network namespace with no interfaces, so every connection fails;
- **resources**: address space (``memory_mb``), size of files written, and wall time (the whole process group is
  killed); each cell is interrupted after ``cell_seconds``; printed output is capped per cell.

What is not: CPU share (a submission can use every core until its time runs out) and reading world-readable files
outside ``hidden``. Where namespaces are not available the kernel still runs with the resource limits and the
worker's checks, but sees the machine's files and processes, and the run says ``isolated=False``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import nbformat

import course_utils

from . import forkserver
from .cells import CellRecord, RunStatus
from .forkserver import ForkServer, home_variables
from .isolation import namespaces_work
from .limits import Limits
from .worker import EXECUTED, JOB, RECORD, SUBMISSION

KERNEL_DIR, RECORD_DIR = "kernel", "record"  # in a submission's folder: the kernel's own, the worker's


@dataclass
class Run:
    """A sandboxed execution: the notebook as far as it got, and how it ended."""

    notebook: nbformat.NotebookNode | None
    status: RunStatus
    detail: str
    isolated: bool
    seconds: float  # wall time
    cells: dict[int, CellRecord] = field(default_factory=dict)  # by cell index: what the worker saw


@cache
def namespaces_available() -> bool:
    """Whether this machine lets an ordinary user create user, mount, network and PID namespaces."""
    return namespaces_work()


def run_sandboxed(
    notebook: nbformat.NotebookNode,
    work: Path,
    hidden: list[Path],
    limits: Limits,
    env: dict[str, str],
    references: Sequence[str] = (),
    server: ForkServer | None = None,
) -> Run:
    """Execute ``notebook`` in the empty folder ``work`` under the sandbox; never raises for what the code does.

    ``references`` are the dotted names of the package's reference implementations of the lab's exercises: they
    raise while test cells run (see ``probe.py``). The kernel is forked by ``server`` (started with ``env``, see
    ``forkserver.py``), or by a server of its own that imports nothing when none is given.
    """
    kernel_dir, record_dir = work / KERNEL_DIR, work / RECORD_DIR
    kernel_dir.mkdir(parents=True, exist_ok=True)
    record_dir.mkdir(exist_ok=True)
    isolated = namespaces_available()
    if isolated and server is None:
        with ForkServer(env, home=kernel_dir, preload=()) as own:
            return run_sandboxed(notebook, work, hidden, limits, env, references, own)
    nbformat.write(notebook, record_dir / SUBMISSION)
    # In the sandbox the kernel's folder is also mounted at the server's home: one path for every kernel.
    home = server.home if server is not None else kernel_dir
    prefix = []
    if server is not None:  # the kernel is forked by the server, in new namespaces, with these paths hidden
        hidden = [*hidden, record_dir, server.folder]
        client = [sys.executable, "-m", forkserver.__name__, "connect", str(server.ready())]
        prefix = [*client, str(record_dir / JOB), "--"]
    job = {
        "prefix": prefix,
        "kernel_dir": str(kernel_dir),
        "home": str(home),
        "hidden": [str(path) for path in hidden if path.exists()],
        "isolated": isolated,
        "env": {**env, **home_variables(home)},
        "cell_seconds": limits.cell_seconds,
        "output_bytes": limits.output_bytes,
        "references": list(references),
        "package": str(Path(course_utils.__file__).parent),
    }
    (record_dir / JOB).write_text(json.dumps(job))

    def limit_resources() -> None:  # in the worker, before it starts: inherited by the kernel
        memory = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "course_utils.instructor.grading.worker", str(record_dir)],
        cwd=record_dir,
        env={**os.environ, "TMPDIR": str(record_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=limit_resources,
        start_new_session=True,
    )
    try:
        log, _ = process.communicate(timeout=limits.wall_seconds)
        ended = json.loads((record_dir / RECORD).read_text()) if (record_dir / RECORD).exists() else None
        if ended is None:
            ended = {"status": RunStatus.CRASHED, "detail": log.decode(errors="replace")[-2000:]}
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the worker; its client dies with it, the server then kills the kernel
        process.communicate()
        ended = json.loads((record_dir / RECORD).read_text()) if (record_dir / RECORD).exists() else {}
        ended |= {"status": RunStatus.TIMEOUT, "detail": f"the notebook ran longer than {limits.wall_seconds:.0f} s"}
    executed = record_dir / EXECUTED
    notebook_out = nbformat.read(executed, as_version=4) if executed.exists() else None
    cells = {int(index): CellRecord(**record) for index, record in ended.get("cells", {}).items()}
    seconds = time.perf_counter() - start
    return Run(notebook_out, RunStatus(ended["status"]), ended["detail"], isolated, seconds, cells)
