"""A process that imports the heavy libraries once, then forks a sandboxed Jupyter kernel for each submission.

A kernel that starts from nothing spends about half of a lab's CPU time in the grade profile importing PyTorch,
transformers, datasets, PEFT and TRL (6 of 12 CPU-seconds). The server imports them once; each kernel is a fork of
it, with those modules already in memory (shared, copy-on-write), so a class is graded in little more than the time
its notebooks compute.

    python -m course_utils.instructor.grading.forkserver serve SOCKET [MODULE ...]      # the server
    python -m course_utils.instructor.grading.forkserver connect SOCKET JOB -- KERNEL   # a kernel, for jupyter_client
    python -m course_utils.instructor.grading.forkserver check SOCKET                   # the grader's checks

The kernel command that ``jupyter_client`` launches is the *client* (the second line; ``KERNEL`` is the usual
``python -m ipykernel_launcher -f CONNECTION_FILE``, of which only the connection file is used). It hands the server
the kernel's connection file, environment, resource limits and what the kernel may read (from the worker's ``JOB``
file, see ``sandbox.py``) together with its own standard streams, and lives as long as the kernel, exiting with its
exit status. The server forks a child that builds the sandbox (``isolation.py``) and runs the kernel in a PID
namespace of its own; the kernel's sockets are in the sandbox, and the client links the job's ``sockets`` path to
them. When the client ends (the kernel manager killed it, or its worker died), the server kills the kernel.

Libraries read some settings from the environment when they are imported (``HF_HOME``, ``MPLCONFIGDIR``, the thread
counts): the server is started with the kernels' environment, and their home folder (``HOME``, ``TMPDIR``, the caches)
is the same path for all of them, ``home``, where each kernel's sandbox has a folder in memory of its own.

The grader's checks (``checker.py``) are forked from the same server, outside any sandbox, for the same reason: a
checker forked before any submission ran is as stock as a new process, and starts with the libraries in memory.

The server computes nothing before it forks (no tensor operation starts PyTorch's thread pools), as a DataLoader's
worker processes are forked after ``import torch``; a child keeps only the thread that forked it. This module imports
nothing but the standard library at the top: the client starts for every kernel.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from .isolation import (
    CONNECTION_FILE,
    Filesystem,
    build_root,
    die_with_parent,
    enter_namespaces,
    enter_root,
    lock_sockets,
    new_pid_namespace,
)

# What a lab's kernel imports, heaviest first; ipykernel's application last (it brings IPython, zmq, tornado).
PRELOAD = ("torch", "transformers", "datasets", "peft", "trl", "pandas", "matplotlib", "ipykernel.kernelapp")
LIMITS = {"address_space": resource.RLIMIT_AS, "file_size": resource.RLIMIT_FSIZE}
MESSAGE_BYTES = 1 << 20  # the largest request: an environment, a few paths


def home_variables(home: Path) -> dict[str, str]:
    """The environment variables that put a kernel's home, temporary files and caches in ``home``."""
    return {
        "HOME": str(home),
        "TMPDIR": str(home),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "HF_HOME": str(home / ".huggingface"),
    }


class ForkServer:
    """The server, as a context manager: ``with ForkServer(env, home) as server: ... server.ready() ...``.

    ``env`` is the kernels' environment (their home is ``home``); ``preload`` the modules imported before any fork
    (none: a server that only sandboxes, for a single notebook). Entering starts the server and returns at once: it
    imports while the caller does other work (``course grade`` registers the labs meanwhile); ``ready()`` waits for it.
    """

    def __init__(self, env: Mapping[str, str], home: Path, preload: Sequence[str] = PRELOAD):
        self.env, self.home, self.preload = dict(env), home, tuple(preload)
        self.folder = Path(tempfile.mkdtemp(prefix="course-forkserver-"))  # out of every kernel's sight
        self.address = self.folder / "socket"
        self.root = self.folder / "root"  # empty: each kernel's new root is mounted here, in its own namespace
        self.root.mkdir()
        self.process: subprocess.Popen | None = None
        self.started = False  # it said "ready"
        self.lock = threading.Lock()  # the first kernels of a class ask for it from several threads at once

    def __enter__(self) -> ForkServer:
        log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, "serve", str(self.address), *self.preload],
            env={**self.env, **home_variables(self.home)},
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        return self

    def ready(self) -> Path:
        """The server's address, once it has imported its modules (this waits for that); raises if it could not."""
        with self.lock:
            if not self.started:
                said = self.process.stdout.readline().strip() if self.process and self.process.stdout else b""
                if said != b"ready":
                    log = self.folder / "server.log"
                    problem = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"the fork server did not start: {problem or 'no message'}")
                self.started = True
        return self.address

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.kill()  # its kernels die with it (a parent-death signal)
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the server ----------------------------------------------------------------------------------------------------


@dataclass
class Child:
    """A kernel the server forked, and the connection of the client that asked for it."""

    pid: int
    pidfd: int  # readable when the child ends
    connection: socket.socket


def serve(address: str, modules: Sequence[str]) -> None:
    """Import ``modules``, say ``ready``, then fork a kernel for each client that connects, until killed."""
    die_with_parent()
    sys.path[:] = [path for path in sys.path if path not in ("", os.getcwd())]  # as ipykernel_launcher does
    for module in modules:
        importlib.import_module(module)
    # What the imports made lives as long as the kernels: out of the collector's sight, a kernel's full collections
    # do not walk it (0.3 s each with the libraries loaded) nor write to its pages, which a fork shares until they are
    # written (https://docs.python.org/3/library/gc.html#gc.freeze).
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # SEQPACKET: one request, one message
    listener.bind(address)
    listener.listen(64)
    print("ready", flush=True)
    selector = selectors.DefaultSelector()  # one thread: forking is safe
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, Child] = {}  # by pidfd

    def close_all() -> None:  # in a forked child: nothing of the server's stays open in a kernel
        selector.close()
        listener.close()
        for child in children.values():
            child.connection.close()
            os.close(child.pidfd)

    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                connection, _ = listener.accept()
                message, streams, _, _ = socket.recv_fds(connection, MESSAGE_BYTES, 3)
                pid = os.fork()
                if pid == 0:
                    close_all()
                    request = json.loads(message)
                    if request.get("checker"):
                        connection.close()
                        exit_after(run_checker, request, streams)
                    exit_after(run_kernel, request, streams, connection)
                for stream in streams:
                    os.close(stream)
                child = Child(pid, os.pidfd_open(pid), connection)
                children[child.pidfd] = child
                selector.register(child.pidfd, selectors.EVENT_READ)
                selector.register(connection, selectors.EVENT_READ, child)
            elif isinstance(key.data, Child):  # the client said nothing more: it ended, so the kernel goes too
                if not receive_or_nothing(key.data.connection):
                    selector.unregister(key.data.connection)
                    os.kill(key.data.pid, signal.SIGKILL)
            else:  # a child ended: tell its client how
                child = children.pop(key.fd)
                status = os.waitpid(child.pid, 0)[1]
                selector.unregister(child.pidfd)
                os.close(child.pidfd)
                try:
                    selector.unregister(child.connection)
                except KeyError:
                    pass  # its client had already gone
                try:
                    child.connection.send(str(exit_code(status)).encode())
                except OSError:
                    pass
                child.connection.close()


def receive_or_nothing(connection: socket.socket) -> bytes:
    """A byte from ``connection``, or ``b""`` when its other end has closed it or is gone (reset)."""
    try:
        return connection.recv(1)
    except OSError:
        return b""


def exit_code(status: int) -> int:
    """A process's wait status as the exit code a shell would report (128 + N for signal N)."""
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def take(request: dict, streams: list[int]) -> None:
    """In a child of the server: the client's standard streams and resource limits, and death with the server."""
    os.setsid()  # a session of its own: signals to the grader's terminal do not reach it
    for target, stream in enumerate(streams):
        os.dup2(stream, target)
        os.close(stream)
    die_with_parent()  # the server
    for name, limit in request["limits"].items():
        resource.setrlimit(LIMITS[name], tuple(limit))


def exit_after(body: Callable[..., int], *arguments: object) -> NoReturn:
    """In a child of the server: ``body(*arguments)``, then exit with the code it returned (1 when it raised: why is
    printed on the client's stderr)."""
    code = 1
    try:
        code = body(*arguments)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_checker(request: dict, streams: list[int]) -> int:
    """The grader's checks (``checker.py``), outside any sandbox, on the client's streams; their exit code.

    Forked before any submission ran in it, the child is as stock as a fresh process, with the libraries imported.
    """
    take(request, streams)
    os.environ.clear()
    os.environ.update(request["env"])
    from .checker import main

    main()
    return 0


def run_kernel(request: dict, streams: list[int], connection: socket.socket) -> int:
    """Take the client's streams and limits, enter the sandbox, run the kernel; its exit code.

    The kernel makes its sockets in a folder of the sandbox; the client gets a descriptor of that folder over
    ``connection`` (see `connect`). Once the kernel has made them, and before it runs any code it is sent, this process
    (outside the kernel's PID namespace, with its capabilities) makes the folder read-only.
    """
    take(request, streams)
    filesystem = Filesystem(
        root=Path(request["root"]),
        home=Path(request["home"]),
        sockets=Path(request["sockets"]),
        readable=tuple(Path(path) for path in request["readable"]),
        views=tuple((Path(source), Path(path)) for source, path in request["views"]),
        disk_mb=request["disk_mb"],
    )
    connection_info = Path(request["connection_file"]).read_text()
    enter_namespaces()
    sockets = build_root(filesystem, connection_info)
    socket.send_fds(connection, [b"sockets"], [sockets])
    os.close(sockets)
    connection.close()
    bound, made = os.pipe()  # the kernel says it made its sockets
    locked, lock = os.pipe()  # ... and waits to hear they are locked
    kernel = new_pid_namespace()
    if kernel:  # here, outside the kernel's PID namespace: lock its sockets, wait for it, and end as it ends
        os.close(made), os.close(locked)
        if os.read(bound, 1):
            lock_sockets(filesystem)
            os.write(lock, b"1")
        return exit_code(os.waitpid(kernel, 0)[1])
    os.close(bound), os.close(lock)
    enter_root(filesystem)
    os.environ.clear()
    os.environ.update(request["env"])
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", str(filesystem.sockets / CONNECTION_FILE)])
    os.write(made, b"1")
    if os.read(locked, 1) != b"1":
        raise RuntimeError("the sandbox could not lock the kernel's sockets")
    app.start()
    return 0


# --- the client ----------------------------------------------------------------------------------------------------


def connect(address: str, job_file: str, kernel_command: Sequence[str]) -> int:
    """Ask the server at ``address`` for a kernel as ``job_file`` describes; wait for it to end; its exit status.

    The kernel's sockets are in its sandbox: the server's child sends a descriptor of their folder, and this process
    links the job's ``sockets`` path to it (``/proc/PID/fd/N``), where the kernel's client connects.
    """
    die_with_parent()  # the worker that launched this kernel
    job = json.loads(Path(job_file).read_text())
    request = {
        "connection_file": kernel_command[list(kernel_command).index("-f") + 1],
        "env": dict(os.environ),
        "limits": {name: resource.getrlimit(limit) for name, limit in LIMITS.items()},  # the worker's, inherited
        **{key: job[key] for key in ("root", "home", "sockets", "readable", "views", "disk_mb")},
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
        connection.connect(address)
        socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
        reply, descriptors, _, _ = socket.recv_fds(connection, 16, 1)
        if descriptors:  # the sockets' folder; then, when the kernel ends, its exit status
            os.symlink(f"/proc/{os.getpid()}/fd/{descriptors[0]}", job["sockets"])
            reply = connection.recv(16)
    return int(reply) if reply else 1


def check(address: str) -> int:
    """Ask the server at ``address`` for a checker on this process's standard streams; its exit status."""
    die_with_parent()  # the worker that started the checks
    request = {
        "checker": True,
        "env": dict(os.environ),
        "limits": {name: resource.getrlimit(limit) for name, limit in LIMITS.items()},
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
        connection.connect(address)
        socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
        reply = connection.recv(16)
    return int(reply) if reply else 1


def main(arguments: Sequence[str]) -> None:
    command, address, *rest = arguments
    if command == "serve":
        serve(address, rest)
    elif command == "check":
        sys.exit(check(address))
    elif command == "connect":
        job_file, separator, *kernel_command = rest
        sys.exit(connect(address, job_file, kernel_command))
    else:
        sys.exit(f"unknown command {command!r}: serve, connect or check")


if __name__ == "__main__":
    main(sys.argv[1:])
