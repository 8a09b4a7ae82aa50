"""Run one submission where it can harm nothing else: its own folder, no network, bounded time and memory.

Two processes per submission. The **worker** (``worker.py``) runs outside the sandbox; it starts the **kernel** inside
it and records what the kernel does, in a folder the kernel cannot see. What is isolated (Linux, no root privileges
needed: user, mount, PID and network namespaces via ``unshare``):

- **files**: every mount is read-only except the kernel's own folder; the paths given as ``hidden`` (other
  submissions, the solutions, the gradebook, the input files, the worker's record) are covered by empty read-only
  filesystems; ``/dev/shm`` is private;
- **processes**: the kernel is the first process of a PID namespace, with its own ``/proc``: it sees only its own
  children, cannot signal or trace the worker, and when it ends every process it started ends with it; when the
  worker ends, the kernel is killed (a parent-death signal);
- **network**: a new network namespace with no interfaces, so every connection fails;
- **resources**: address space (``memory_mb``), size of files written, and wall time (the whole process group is
  killed); each cell is interrupted after ``cell_seconds``; printed output is capped per cell.

What is not: CPU share (a submission can use every core until its time runs out) and reading world-readable files
outside ``hidden``. Where ``unshare`` is not available the kernel still runs with the resource limits and the
worker's checks, but sees the machine's files and processes, and the run says ``isolated=False``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
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

from .cells import CellRecord, RunStatus
from .worker import EXECUTED, JOB, RECORD, SUBMISSION

# Runs inside the new namespaces as their root: make everything read-only but $1, hide the arguments up to "--",
# then become the command after it (the kernel).
MOUNT_SCRIPT = r"""
set -e
work="$1"; shift
mount --bind "$work" "$work"
while [ "$1" != "--" ]; do
    if [ -d "$1" ]; then mount -t tmpfs -o ro,size=4k tmpfs "$1"
    elif [ -e "$1" ]; then mount --bind /dev/null "$1"; fi
    shift
done
shift
mount -t tmpfs -o size=256m tmpfs /dev/shm 2>/dev/null || true
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do
    case "$point" in "$work"|/proc*|/sys*|/dev*) ;; *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;; esac
done
cd "$work"
exec "$@"
"""
NAMESPACES = [
    "unshare",
    "--user",
    "--map-root-user",
    "--mount",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount-proc",
]
KERNEL_DIR, RECORD_DIR = "kernel", "record"  # in a submission's folder: the kernel's own, the worker's


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    wall_seconds: float = 900.0
    cell_seconds: int = 300
    memory_mb: int = 6144  # address space: a lab's kernel maps about 2-4 GB
    file_mb: int = 200  # largest file it may write
    output_bytes: int = 100_000  # printed output kept per cell


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
    """Whether this machine lets an ordinary user create user, mount and network namespaces."""
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return False
    return subprocess.run([*NAMESPACES, "true"], capture_output=True).returncode == 0


def run_sandboxed(
    notebook: nbformat.NotebookNode,
    work: Path,
    hidden: list[Path],
    limits: Limits,
    env: dict[str, str],
    references: Sequence[str] = (),
) -> Run:
    """Execute ``notebook`` in the empty folder ``work`` under the sandbox; never raises for what the code does.

    ``references`` are the dotted names of the package's reference implementations of the lab's exercises: they
    raise while test cells run (see ``probe.py``).
    """
    kernel_dir, record_dir = work / KERNEL_DIR, work / RECORD_DIR
    kernel_dir.mkdir(parents=True, exist_ok=True)
    record_dir.mkdir(exist_ok=True)
    nbformat.write(notebook, record_dir / SUBMISSION)
    isolated = namespaces_available()
    variables = {
        **env,
        "HOME": str(kernel_dir),
        "TMPDIR": str(kernel_dir),
        "MPLCONFIGDIR": str(kernel_dir / ".matplotlib"),
        "HF_HOME": str(kernel_dir / ".huggingface"),
    }
    prefix = []
    if isolated:  # the kernel is killed with the worker, then runs in new namespaces, with the record hidden
        prefix = ["setpriv", "--pdeathsig", "KILL", *NAMESPACES, "sh", "-c", MOUNT_SCRIPT, "sandbox", str(kernel_dir)]
        prefix += [str(path) for path in [*hidden, record_dir] if path.exists()] + ["--"]
    job = {
        "prefix": prefix,
        "kernel_dir": str(kernel_dir),
        "env": variables,
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
        os.killpg(process.pid, signal.SIGKILL)  # the worker; its kernel follows (the parent-death signal)
        process.communicate()
        ended = json.loads((record_dir / RECORD).read_text()) if (record_dir / RECORD).exists() else {}
        ended |= {"status": RunStatus.TIMEOUT, "detail": f"the notebook ran longer than {limits.wall_seconds:.0f} s"}
    executed = record_dir / EXECUTED
    notebook_out = nbformat.read(executed, as_version=4) if executed.exists() else None
    cells = {int(index): CellRecord(**record) for index, record in ended.get("cells", {}).items()}
    seconds = time.perf_counter() - start
    return Run(notebook_out, RunStatus(ended["status"]), ended["detail"], isolated, seconds, cells)
