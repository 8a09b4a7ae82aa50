"""The Linux namespaces a submission's kernel runs in, entered from Python (what ``bwrap`` does, as system calls).

No privileges are needed: an ordinary user may create a user namespace, and is root inside it (Linux
``user_namespaces(7)``). The fork server's child for one kernel (see ``forkserver.py``) goes through four steps:

1. `enter_namespaces`: new user, mount and network namespaces (no network interface: every connection fails);
2. `build_root`: a new root file system in memory that holds only what `Filesystem` allows: the Python runtime,
   the environment and the package, read-only; the kernel's home, a ``tmpfs`` of bounded size; a small folder for the
   kernel's sockets, reached from outside through a file descriptor (there is no host folder the kernel can write);
3. `new_pid_namespace`: a fork, whose child is the first process (PID 1) of a PID namespace of its own;
4. `enter_root`, in that child: ``/proc`` for the namespace, ``pivot_root(2)`` into the new root with the host's
   detached, and every capability dropped, so that student code, although uid 0 there, can neither mount, unmount
   nor remount anything (``capabilities(7)``). A nested user namespace would not help it either: mounts copied into
   it are locked (``mount_namespaces(7)``).

An allow-list, not a deny-list: nothing of the host is visible unless it is named in `Filesystem.readable` or is one of
the system folders (`SYSTEM`). The calling process must have one thread: the kernel refuses ``unshare`` of a user
namespace to a multithreaded process, which is why the fork server calls it in a freshly forked child.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# <linux/sched.h>, <linux/mount.h>, <linux/prctl.h>, <linux/capability.h>, <fcntl.h>
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 0x400, 0x800, 0x1000, 0x4000, 0x40000
MS_RELATIME, MS_STRICTATIME = 0x200000, 0x1000000
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
CAPABILITY_VERSION_3 = 0x20080522
O_PATH = 0o10000000
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}  # glibc has no wrapper for it
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
# The operating system's programs and libraries: the Python runtime loads its shared libraries from them.
SYSTEM = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/etc/ld.so.cache", "/etc/alternatives", "/etc/fonts", "/etc/localtime",
)  # fmt: skip
DEVICES = ("null", "zero", "full", "random", "urandom")
# Who uid 0 is, for the libraries that look the user up (``getpass.getuser``): the kernel's only user.
PASSWD, GROUP = "root:x:0:0:root:/nonexistent:/bin/sh\n", "root:x:0:\n"
OLD_ROOT = ".old-root"
CONNECTION_FILE = "connection.json"  # in the sockets folder: the kernel's connection file, as its client wrote it
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *arguments: object) -> int:
    result = getattr(_libc, name)(*arguments)
    if result == -1 or (name != "syscall" and result != 0):
        error = ctypes.get_errno()
        raise OSError(error, f"{name}: {os.strerror(error)}")
    return result


def _mount(source: str | None, target: str | Path, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else str(text).encode()  # noqa: E731
    _call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def die_with_parent() -> None:
    """Be killed (SIGKILL) when the parent process ends, however it ends."""
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(frozen=True)
class Filesystem:
    """What a kernel sees of the files.

    - ``root``: an empty host folder; the new root is a ``tmpfs`` mounted there, then made ``/``;
    - ``readable``: host files and folders seen read-only at their own paths (the environment, the package), besides
      the system folders; ``views``: (host folder, path) pairs, a folder seen read-only at another path (a view of
      the package in place of the package, see ``package_view.py``);
    - ``home``: the kernel's home and working folder, a ``tmpfs`` of ``disk_mb`` megabytes (a path that is the same for
      every kernel, see ``forkserver.py``);
    - ``sockets``: a small ``tmpfs`` where the kernel's sockets are made; `build_root` returns a descriptor of it.
    """

    root: Path
    home: Path
    sockets: Path
    readable: tuple[Path, ...] = ()
    views: tuple[tuple[Path, Path], ...] = ()
    disk_mb: int = 1024
    system: tuple[str, ...] = field(default=SYSTEM)


def enter_namespaces() -> None:
    """Become root of new user, mount and network namespaces; nothing mounted afterwards shows outside them."""
    uid, gid = os.getuid(), os.getgid()
    _call("unshare", CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)  # no network interface: every connection fails
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def build_root(filesystem: Filesystem, connection_info: str) -> int:
    """Mount the new root at ``filesystem.root``, as the class says, with the kernel's connection file
    (``connection_info``) in its sockets folder, as `CONNECTION_FILE`; a descriptor (``O_PATH``) of that folder."""
    root = filesystem.root
    _mount("tmpfs", root, "tmpfs", MS_NOSUID, "size=1m,mode=0755")
    for path in [*filesystem.system, *filesystem.readable]:
        _bind_read_only(Path(path), root)
    for source, path in filesystem.views:
        _bind_read_only(Path(source), root, Path(path))
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    _inside(root, filesystem.home).mkdir(parents=True, exist_ok=True)
    _mount("tmpfs", _inside(root, filesystem.home), "tmpfs", MS_NOSUID | MS_NODEV, f"size={filesystem.disk_mb}m")
    sockets = _inside(root, filesystem.sockets)
    sockets.mkdir(parents=True, exist_ok=True)
    _mount("tmpfs", sockets, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,nr_inodes=64,mode=0700")
    (sockets / CONNECTION_FILE).write_text(connection_info)
    dev = root / "dev"
    dev.mkdir()
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for name in DEVICES:  # the host's device nodes, bound one by one: a tmpfs made here could not hold usable ones
        (dev / name).touch()
        _mount(f"/dev/{name}", dev / name, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "fd/0"), ("stdout", "fd/1"), ("stderr", "fd/2")):
        (dev / name).symlink_to(target)
    (dev / "shm").mkdir()
    _mount("tmpfs", dev / "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=256m")
    (root / "proc").mkdir()
    (root / OLD_ROOT).mkdir()
    return os.open(sockets, O_PATH | os.O_DIRECTORY)


def _inside(root: Path, path: Path) -> Path:
    """Where the absolute ``path`` lies under ``root``."""
    return root / Path(path).relative_to("/")


def _bind_read_only(path: Path, root: Path, at: Path | None = None) -> None:
    """Show the host's ``path`` read-only at the same place under ``root``, or at ``at`` (a symbolic link is copied
    as one)."""
    if not os.path.lexists(path):
        return
    target = _inside(root, at or path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        return  # inside a folder already shown
    if path.is_symlink():
        target.symlink_to(os.readlink(path))
        return
    target.mkdir() if path.is_dir() else target.touch()
    _mount(str(path), target, None, MS_BIND | MS_REC)
    locked = sum(flag for name, flag in LOCKED_FLAGS.items() if name in mount_options(path))
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | locked)


def mount_options(path: Path) -> set[str]:
    """The per-mount options of the mount that holds ``path`` (the longest mount point above it)."""
    resolved = os.path.realpath(path)
    best, options = "", set()
    for point, found in mount_points():
        if (resolved == point or resolved.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, options = point, found
    return options


def mount_points() -> list[tuple[str, set[str]]]:
    """Every mount point of this mount namespace, with its per-mount options (``proc(5)``, /proc/self/mountinfo)."""
    points = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")  # spaces and tabs come escaped as \040, \011
        points[point] = set(fields[5].split(","))
    return sorted(points.items())


def new_pid_namespace() -> int:
    """Fork into a new PID namespace. Returns the child's PID in the parent and 0 in the child, which is PID 1 there
    and is killed when the parent ends. When it ends, every process it started ends with it."""
    _call("unshare", CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        die_with_parent()
    return pid


def enter_root(filesystem: Filesystem) -> None:
    """In PID 1 of the new namespace: its ``/proc``, the new root as ``/`` (the host's gone), no capabilities left."""
    root = filesystem.root
    _mount("proc", root / "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    _call("syscall", ctypes.c_long(SYS_PIVOT_ROOT[platform.machine()]), b".", OLD_ROOT.encode())
    os.chdir("/")
    _call("umount2", f"/{OLD_ROOT}".encode(), MNT_DETACH)
    os.rmdir(f"/{OLD_ROOT}")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    os.chdir(filesystem.home)
    drop_capabilities()


def lock_sockets(filesystem: Filesystem) -> None:
    """Make the sockets folder read-only, once the kernel has made its sockets: code it runs later cannot replace them
    (with links that would lead its client elsewhere). Called by the parent of PID 1, which keeps its capabilities."""
    _mount(None, filesystem.sockets, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


class _CapabilityHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapabilityData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Give up every capability, for good: none left, none to gain by running a program (``capabilities(7)``)."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last + 1):
        _call("prctl", PR_CAPBSET_DROP, capability, 0, 0, 0)  # the bounding set: what a program run later may get
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header, data = _CapabilityHeader(CAPABILITY_VERSION_3, 0), (_CapabilityData * 2)()
    _call("capset", ctypes.byref(header), data)


def runtime_paths(package: Path, extra: Iterable[Path] = ()) -> tuple[Path, ...]:
    """What a kernel must read besides the system folders: this Python, its environment, the package (each also where
    it resolves to), and ``extra``."""
    places = [Path(sys.prefix), Path(sys.base_prefix), package, *extra]
    return tuple(dict.fromkeys(path for place in places for path in (place.absolute(), place.resolve())))


def namespaces_work() -> bool:
    """Whether this machine lets this user build the sandbox (tried in a child process, which then exits)."""
    with tempfile.TemporaryDirectory(prefix="course-sandbox-check-") as scratch:
        filesystem = Filesystem(
            root=Path(scratch) / "root", home=Path(scratch) / "home", sockets=Path(scratch) / "sockets", disk_mb=1
        )
        filesystem.root.mkdir()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                enter_namespaces()
                os.close(build_root(filesystem, "{}"))
                inner = new_pid_namespace()
                if inner == 0:
                    enter_root(filesystem)
                    os._exit(0 if os.getpid() == 1 and not filesystem.root.exists() else 1)
                code = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1])
            finally:
                os._exit(code)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
