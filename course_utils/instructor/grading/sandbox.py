"""Run one submission where it can harm nothing else: its own folder, no network, bounded time and memory.

Two processes per submission. The **worker** (``worker.py``) runs outside the sandbox; it starts the **kernel** inside
it and records what the kernel does, in a folder the kernel cannot see. The kernel is forked by a server that has
imported the labs' libraries already (``forkserver.py``). What is isolated (Linux, no root privileges needed: user,
mount, PID and network namespaces, entered with system calls in ``isolation.py``):

- **files**: an allow-list. The kernel's root holds the system's programs and libraries, this Python and its
  environment, and the package, read-only, and its home, a folder in memory of ``disk_mb`` megabytes; nothing else
  of the machine (no course folder, no other submission, no ``/tmp``, no gradebook anywhere); ``/dev/shm`` is private;
- **processes**: the kernel is the first process of a PID namespace, with its own ``/proc``: it sees only its own
  children, cannot signal or trace the worker, and when it ends every process it started ends with it; when the
  worker ends, its fork-server client dies with it (a parent-death signal) and the server kills the kernel;
- **network**: a new network namespace with no interfaces, so every connection fails;
- **resources**: address space (``memory_mb``), size of files written, and wall time (the whole process group is
  killed); each cell is interrupted after ``cell_seconds``; outputs of every kind are capped per cell and per
  notebook (``worker.py``).

What is not: CPU share (a submission can use every core until its time runs out). Where namespaces are not available
the kernel still runs with the resource limits and the worker's checks, but sees the machine's files and processes,
and the run says ``isolated=False``.
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

from . import checker, forkserver
from .cells import CellRecord, RunStatus
from .forkserver import ForkServer, home_variables
from .isolation import namespaces_work, runtime_paths
from .limits import Limits
from .worker import EXECUTED, JOB, RECORD, SUBMISSION

# In a submission's folder: the worker's record; the kernel's home where it has no namespaces (else it is in memory).
RECORD_DIR, HOME_DIR = "record", "home"
SOCKETS = "sockets"  # in the record: a link to the folder of the kernel's sockets, in its sandbox


@dataclass
class Run:
    """A sandboxed execution: the notebook as far as it got, and how it ended."""

    notebook: nbformat.NotebookNode | None
    status: RunStatus
    detail: str
    isolated: bool
    seconds: float  # wall time
    cells: dict[int, CellRecord] = field(default_factory=dict)  # by cell index: what the worker saw
    check_seconds: float = 0.0  # of the wall time, waiting for the checks apart from the kernel


@cache
def namespaces_available() -> bool:
    """Whether this machine lets an ordinary user create user, mount, network and PID namespaces."""
    return namespaces_work()


def run_sandboxed(
    notebook: nbformat.NotebookNode,
    work: Path,
    limits: Limits,
    env: dict[str, str],
    server: ForkServer | None = None,
    readable: Sequence[Path] = (),
    view: Path | None = None,
) -> Run:
    """Execute ``notebook`` in the sandbox, recording in the empty folder ``work``; never raises for what the code does.

    The kernel is forked by ``server`` (started with ``env``, see
    ``forkserver.py``), or by a server of its own that imports nothing when none is given. It reads the runtime, the
    package (or ``view`` in its place: ``package_view.py``) and ``readable`` (a course's data outside the package,
    say), and nothing else of this machine. Test cells are checked apart from it (``checker.py``).
    """
    record_dir = work / RECORD_DIR
    record_dir.mkdir(parents=True, exist_ok=True)
    isolated = namespaces_available()
    if isolated and server is None:
        (work / HOME_DIR).mkdir(exist_ok=True)
        with ForkServer(env, home=work / HOME_DIR, preload=()) as own:
            return run_sandboxed(notebook, work, limits, env, own, readable, view)
    nbformat.write(notebook, record_dir / SUBMISSION)
    package = Path(course_utils.__file__).parent  # the whole package, not only this module's room of it
    if server is not None:  # forked by the server, in new namespaces: a home in memory, sockets reached by a link
        client = [sys.executable, "-m", forkserver.__name__]
        place = {"prefix": [*client, "connect", str(server.ready()), str(record_dir / JOB), "--"]}
        place |= {"folder": record_dir, "home": server.home, "sockets": record_dir / SOCKETS, "root": server.root}
        place["checker"] = [*client, "check", str(server.ready())]  # the checks are forked by the server too
    else:  # no namespaces here: a kernel of the machine's, in a folder of its own
        place = {"prefix": [], "folder": work / HOME_DIR, "home": work / HOME_DIR, "sockets": work / HOME_DIR / ".ipc"}
        place["checker"] = [sys.executable, "-m", checker.__name__]
        place["folder"].mkdir(exist_ok=True)
    replaced = {package.absolute(), package.resolve()} if view is not None else set()  # by the view, where it is
    views = [(view, path) for path in sorted(replaced)]
    job = {
        **{key: value if isinstance(value, list) else str(value) for key, value in place.items()},
        "readable": [str(path) for path in runtime_paths(package, readable) if path not in replaced],
        "views": [[str(source), str(path)] for source, path in views],
        "disk_mb": limits.disk_mb,
        "isolated": isolated,
        "env": {**env, **home_variables(place["home"])},
        "check_env": env,
        "cell_seconds": limits.cell_seconds,
        "output_bytes": limits.output_bytes,
        "notebook_output_bytes": limits.notebook_output_bytes,
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
    status, checks = RunStatus(ended["status"]), float(ended.get("check_seconds", 0.0))
    return Run(notebook_out, status, ended["detail"], isolated, seconds, cells, checks)
