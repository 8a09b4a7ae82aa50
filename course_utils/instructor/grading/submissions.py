"""Find the submitted notebooks in a folder or an LMS zip, and tell whose they are and for which lab."""

from __future__ import annotations

import re
import stat
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import durable

# `<student>_<anything>_<lab>.ipynb`, e.g. `jdoe_lab2_reward_modeling.ipynb` or an LMS's
# `jdoe_123456_78910_lab2_reward_modeling (1).ipynb`. `{labs}` becomes the alternation of the course's labs.
DEFAULT_PATTERN = r"^(?P<student>[A-Za-z0-9.@+-]+)_(?:.*_)?(?P<lab>{labs})(?: ?\(\d+\))?\.ipynb$"
# A student id becomes a folder name: whatever a custom pattern captures, it may not climb out (`..`) or hide (`.x`).
SAFE_STUDENT = re.compile(r"[\w@+-][\w.@+-]*")


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lab."""

    student: str
    lab: str
    path: Path  # the copy in nbgrader's layout, ``submitted/<student>/<lab>/<lab>.ipynb``
    origin: str  # the name it arrived with, in the folder or zip (an LMS's feedback upload matches on it)


@dataclass
class Collection:
    """What was found: the submissions to grade and the files that could not be used, with why."""

    submissions: list[Submission] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # files whose name does not match (or gives no usable id)
    duplicates: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (student, lab) -> files
    refused: dict[str, str] = field(default_factory=dict)  # file -> why it is not read (a symbolic link)


def compile_pattern(pattern: str, labs: list[str]) -> re.Pattern[str]:
    """The file-name pattern with ``{labs}`` filled in; it must capture ``student`` and ``lab``."""
    compiled = re.compile(pattern.replace("{labs}", "|".join(re.escape(lab) for lab in sorted(labs, key=len)[::-1])))
    if not {"student", "lab"} <= set(compiled.groupindex):
        raise ValueError(f"The pattern {pattern!r} must have named groups (?P<student>...) and (?P<lab>...).")
    return compiled


def collect(
    source: Path,
    labs: list[str],
    destination: Path,
    pattern: str = DEFAULT_PATTERN,
    holds: Callable[[str], bool] = lambda student: True,
) -> Collection:
    """The submissions in ``source`` (a folder, searched recursively, or a zip file) for the given labs, of the
    students ``holds(student)`` keeps (a shard's share of the class; everyone by default).

    Notebooks are copied to ``destination/<student>/<lab>/<lab>.ipynb``, nbgrader's layout. A file whose name does
    not match is reported as unknown; two files for the same student and lab are both reported and neither is
    graded (which one is the final one is for the instructor to say). A symbolic link is refused, never followed: it
    could lead to any file the grader can read (a solution, another student's notebook).
    """
    matcher = compile_pattern(pattern, labs)
    found: dict[tuple[str, str], list[tuple[str, bytes]]] = defaultdict(list)
    collection = Collection()
    for name, read in _notebook_files(source):
        if read is None:
            collection.refused[name] = "a symbolic link"
            continue
        # The file's name, else its path: Moodle puts each student's files in a folder named after the student.
        match = matcher.match(PurePosixPath(name).name) or matcher.match(name)
        if match is None or match["lab"] not in labs or not SAFE_STUDENT.fullmatch(match["student"]):
            collection.unknown.append(name)
        elif holds(match["student"]):
            found[(match["student"], match["lab"])].append((name, read()))
    for (student, lab), files in sorted(found.items()):
        if len(files) > 1:
            collection.duplicates[(student, lab)] = sorted(name for name, _ in files)
            continue
        target = destination / student / lab / f"{lab}.ipynb"
        durable.write_bytes(target, files[0][1])
        collection.submissions.append(Submission(student, lab, target, origin=files[0][0]))
    collection.unknown.sort()
    return collection


def _notebook_files(source: Path):
    """(name, reader) for every file in a folder or a zip, skipping folders and macOS metadata; the reader is None for
    a symbolic link."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.is_dir() and not info.filename.startswith("__MACOSX/"):
                    if stat.S_ISLNK(info.external_attr >> 16):  # Unix mode bits, in the high half
                        yield info.filename, None
                        continue
                    data = archive.read(info)
                    yield info.filename, (lambda data=data: data)
    elif source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.name.startswith("."):
                continue
            if path.is_symlink():
                yield str(path.relative_to(source)), None
            elif path.is_file():
                yield str(path.relative_to(source)), path.read_bytes
    else:
        raise FileNotFoundError(f"{source} is neither a folder nor a zip file.")
