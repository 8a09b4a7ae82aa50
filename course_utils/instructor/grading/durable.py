"""Files written whole or not at all.

``course grade`` can be stopped at any instant (Ctrl-C, ``kill -9``, a reboot). Every file it writes is written to a
temporary name in the same folder, flushed to the disk, then renamed over the target: a rename within a file system
is atomic, so a reader (the next run, a spreadsheet) finds the old file or the new one, never half of one. A graded
lab's ``results.json`` is written last, after its notebook and feedback page: its presence says the rest is there.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (its folder is created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the data reaches the disk before the name does: a reboot keeps one or the other
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one step."""
    write_bytes(path, text.encode("utf-8"))


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files a run stopped mid-write left under ``folder``."""
    for part in folder.rglob(".*.part") if folder.is_dir() else ():
        part.unlink(missing_ok=True)
