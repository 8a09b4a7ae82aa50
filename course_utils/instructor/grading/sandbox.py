"""Run one submission where it can harm nothing else: its own folder, no network, bounded time and memory.

What is isolated (Linux, no root privileges needed: user, mount and network namespaces via ``unshare``):
- **files**: every mount is read-only except the submission's own folder; the paths given as ``hidden`` (other
  submissions, the solutions, the gradebook, the input files) are covered by empty read-only filesystems;
  ``/dev/shm`` is private;
- **network**: a new network namespace with no interfaces, so every connection fails;
- **resources**: address space (``memory_mb``), size of files written, and wall time (the whole process group is
  killed); each cell is interrupted after ``cell_seconds``; printed output is capped per cell.

What is not: CPU share (a submission can use every core until its time runs out), the list of processes (``ps``
shows others), and reading world-readable files outside ``hidden``. Where ``unshare`` is not available the
submission still runs with the resource limits, and the run says ``isolated=False``.
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
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nbformat

from .cells import RunStatus
from .worker import EXECUTED, STATUS, SUBMISSION

# Runs inside the new namespaces as their root: make everything read-only but $1, hide the other arguments.
MOUNT_SCRIPT = r"""
set -e
work="$1"; shift
mount --bind "$work" "$work"
for hidden in "$@"; do
    if [ -d "$hidden" ]; then mount -t tmpfs -o ro,size=4k tmpfs "$hidden"
    elif [ -e "$hidden" ]; then mount --bind /dev/null "$hidden"; fi
done
mount -t tmpfs -o size=256m tmpfs /dev/shm 2>/dev/null || true
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do
    case "$point" in "$work"|/proc*|/sys*|/dev*) ;; *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;; esac
done
exec "$PYTHON" -m course_utils.instructor.grading.worker "$work" "$CELL_SECONDS" "$OUTPUT_BYTES"
"""


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


@cache
def namespaces_available() -> bool:
    """Whether this machine lets an ordinary user create user, mount and network namespaces."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "--net", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def run_sandboxed(
    notebook: nbformat.NotebookNode, work: Path, hidden: list[Path], limits: Limits, env: dict[str, str]
) -> Run:
    """Execute ``notebook`` in the empty folder ``work`` under the sandbox; never raises for what the code does."""
    work.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, work / SUBMISSION)
    isolated = namespaces_available()
    variables = {
        **env,
        "HOME": str(work),
        "TMPDIR": str(work),
        "MPLCONFIGDIR": str(work / ".matplotlib"),
        "HF_HOME": str(work / ".huggingface"),
        "PYTHON": sys.executable,
        "CELL_SECONDS": str(limits.cell_seconds),
        "OUTPUT_BYTES": str(limits.output_bytes),
    }
    if isolated:
        command = ["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork"]
        command += ["sh", "-c", MOUNT_SCRIPT, "sandbox", str(work), *[str(path) for path in hidden if path.exists()]]
    else:
        command = [
            sys.executable,
            "-m",
            "course_utils.instructor.grading.worker",
            str(work),
            str(limits.cell_seconds),
            str(limits.output_bytes),
        ]

    def limit_resources() -> None:  # in the child, before it starts: inherited by the kernel
        memory = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=work,
        env={**os.environ, **variables},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=limit_resources,
        start_new_session=True,
    )
    try:
        log, _ = process.communicate(timeout=limits.wall_seconds)
        status = json.loads((work / STATUS).read_text()) if (work / STATUS).exists() else None
        if status is None:
            status = {"status": RunStatus.CRASHED, "detail": log.decode(errors="replace")[-2000:]}
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        status = {"status": RunStatus.TIMEOUT, "detail": f"the notebook ran longer than {limits.wall_seconds:.0f} s"}
    executed = work / EXECUTED
    notebook_out = nbformat.read(executed, as_version=4) if executed.exists() else None
    return Run(notebook_out, RunStatus(status["status"]), status["detail"], isolated, time.perf_counter() - start)
