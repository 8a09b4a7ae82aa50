"""The Linux namespaces a submission's kernel runs in, entered from Python (what ``unshare(1)`` does, as system calls).

A process calls `enter_namespaces` once, then `new_pid_namespace`: afterwards it is the root of new user, mount and
network namespaces, its files are what `MountPlan` leaves visible, and the process it forks next is the first process
(PID 1) of a PID namespace of its own. No privileges are needed: an ordinary user may create a user namespace, and is
root inside it (Linux ``user_namespaces(7)``). The process must have one thread: the kernel refuses ``unshare`` of a
user namespace to a multithreaded process, which is why the fork server calls it in a freshly forked child.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass
from pathlib import Path

# <linux/sched.h>, <linux/mount.h>, <linux/prctl.h>
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 0x400, 0x800, 0x1000, 0x4000, 0x40000
MS_RELATIME, MS_STRICTATIME = 0x200000, 0x1000000
PR_SET_PDEATHSIG = 1
# Flags a remount must keep: in a user namespace, those the mount came with are locked (``mount_namespaces(7)``).
LOCKED_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *arguments: object) -> None:
    if getattr(_libc, name)(*arguments) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}: {os.strerror(error)}")


def _mount(source: str | None, target: str | Path, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else str(text).encode()  # noqa: E731
    _call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def die_with_parent() -> None:
    """Be killed (SIGKILL) when the parent process ends, however it ends."""
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(frozen=True)
class MountPlan:
    """What a kernel sees of the files: everything read-only but ``work``, ``hidden`` covered by empty read-only file
    systems, and ``work`` also mounted at ``home`` (a path that is the same for every kernel, see ``forkserver.py``)."""

    work: Path
    home: Path
    hidden: tuple[Path, ...] = ()


def enter_namespaces(plan: MountPlan) -> None:
    """Become root of new user, mount and network namespaces, and mount the files as ``plan`` says."""
    uid, gid = os.getuid(), os.getgid()
    _call("unshare", CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)  # no network interface: every connection fails
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here shows outside
    for writable in (plan.work, plan.home):
        _mount(str(plan.work), writable, None, MS_BIND | MS_REC)
    for path in plan.hidden:
        if path.is_dir():
            _mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=4k")
        elif path.exists():
            _mount("/dev/null", path, None, MS_BIND)
    try:
        _mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=256m")  # a private /dev/shm, where it can be mounted
    except OSError:
        pass
    keep = {str(plan.work), str(plan.home)}
    for point, options in mount_points():
        if point in keep or point.startswith(("/proc", "/sys", "/dev")):
            continue
        locked = sum(flag for name, flag in LOCKED_FLAGS.items() if name in options)
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)
        except OSError:
            pass  # a mount that cannot be remounted (already read-only, or not ours to change)
    os.chdir(plan.work)


def mount_points() -> list[tuple[str, set[str]]]:
    """Every mount point of this mount namespace, with its per-mount options (``proc(5)``, /proc/self/mountinfo)."""
    points = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")  # spaces and tabs come escaped as \040, \011
        points[point] = set(fields[5].split(","))
    return sorted(points.items())


def new_pid_namespace() -> int:
    """Fork into a new PID namespace. Returns the child's PID in the parent and 0 in the child, which is PID 1 there,
    sees a ``/proc`` of its own namespace, and is killed when the parent ends. When it ends, every process it started
    ends with it."""
    _call("unshare", CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        die_with_parent()
        _mount(None, "/proc", None, MS_REC | MS_PRIVATE)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return pid


def namespaces_work() -> bool:
    """Whether this machine lets this user create the namespaces (tried in a child process, which then exits)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            here = Path("/tmp")
            enter_namespaces(MountPlan(work=here, home=here))
            inner = new_pid_namespace()
            if inner == 0:
                os._exit(0 if os.getpid() == 1 else 1)
            code = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1])
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
