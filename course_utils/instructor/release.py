"""The instructor's side of nbgrader: generate the student labs from the solutions, each installing the package the
course's configuration names, and the manifests the learners' check reads.

The configuration is ``course.toml`` at the repository root; its ``[release] package`` is what every lab's install
cell installs on Colab, pinned (``align-course @ git+https://github.com/OWNER/REPO@TAG``, or ``align-course==1.2.0``).
A GitHub URL also sets where the labs' Colab badges open them (REPO at TAG).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..notebook.submission import MANIFEST_FOLDER, manifest_text

SOURCE_DIR = "solutions"
RELEASE_DIR = "labs"
CONFIG_FILE = "course.toml"
# The install cell's pip line ends with the quoted requirement, the one thing a release rewrites in it.
INSTALL_LINE = re.compile(r'^(\s*!.*\bpip install\b.*)"[^"\n]*"', re.M)
# A Colab badge's link: everything before the lab's path in the repository is the package's to set.
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/\S+?/(labs/[^\s)]+\.ipynb)")
GITHUB = re.compile(r"^git\+https://github\.com/(?P<repository>[^/@]+/[^/@]+?)(?:\.git)?@(?P<ref>[^#]+)")
# What the install cell's shell line would read as IPython's expansions or quotes, not as the requirement.
UNSAFE = set("\"{}$`'\\")
# `nbgrader`, in a process that imports this package first: its __init__ spares it 2 CPU-s of imports (3.6 s -> 1.3 s).
NBGRADER = (sys.executable, "-c", "import course_utils.instructor; from nbgrader.apps.nbgraderapp import main; main()")


def available_labs(root: Path) -> list[str]:
    """The labs of the course: one folder per lab under ``solutions/``."""
    source = root / SOURCE_DIR
    if not source.is_dir():
        raise FileNotFoundError(f"No {SOURCE_DIR}/ folder in {root}: run this from the course repository.")
    return sorted(path.name for path in source.iterdir() if path.is_dir() and any(path.glob("*.ipynb")))


def generate_assignments(root: Path, labs: Iterable[str], release_to: Path, *options: str) -> None:
    """Run ``nbgrader generate_assignment`` on each of ``labs`` of the course in ``root``, writing the student versions
    under ``release_to``; raise with nbgrader's output when it fails.

    One nbgrader process does every lab: its start-up (about 5 s of imports) is paid once, not once per lab. nbgrader
    takes one assignment id and reads it as a glob, so it is given "*" over a scratch source folder that links exactly
    ``labs``. nbgrader shells out to ``alembic``, which lives beside this Python: that folder goes first on PATH.
    """
    labs = list(labs)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    with tempfile.TemporaryDirectory(prefix="course-sources-") as sources:
        for lab in labs:
            (Path(sources) / lab).symlink_to((root / SOURCE_DIR / lab).resolve(), target_is_directory=True)
        args = [
            "generate_assignment",
            "*",
            "--force",
            f"--CourseDirectory.source_directory={sources}",
            f"--CourseDirectory.release_directory={release_to.resolve()}",
            *options,
        ]
        result = subprocess.run([*NBGRADER, *args], cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"nbgrader generate_assignment failed on {', '.join(labs)} in {root}:\n{result.stdout}\n{result.stderr}"
        )


def release(root: Path, labs: list[str] | None = None, package: str | None = None) -> list[Path]:
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` for the given labs (all by default), with their manifests.

    ``package`` (a pinned requirement) is saved in ``course.toml`` first; it names every lab's package, so it is
    refused with a selection of labs. The configured package is written into each released lab's solution (install
    cell, and Colab badge for a GitHub URL) before nbgrader runs: labs/ stays nbgrader's output of solutions/. A
    course without ``course.toml`` releases its install cells as the solutions have them. Raises ValueError, in one
    line, on an unknown lab or a package that is not pinned.
    """
    chosen = labs or available_labs(root)
    unknown = sorted(set(chosen) - set(available_labs(root)))
    if unknown:
        raise ValueError(f"No such lab: {', '.join(unknown)}. Labs: {', '.join(available_labs(root))}.")
    if package is not None:
        if labs:
            raise ValueError("The package is every lab's: release them all with it (name no lab).")
        save_package(root, checked_package(package, package_name(root)))
    configured = configured_package(root)
    if configured is not None:
        for lab in chosen:
            point_to_package(root / SOURCE_DIR / lab / f"{lab}.ipynb", configured)
    generate_assignments(root, chosen, root / RELEASE_DIR, "--no-db")
    write_manifests(root, chosen)
    return [root / RELEASE_DIR / lab for lab in chosen]


def package_name(root: Path) -> str:
    """The name of the course's package, from its ``pyproject.toml``."""
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]


def checked_package(spec: str, name: str) -> str:
    """``spec`` when it pins the course's package ``name`` (to a git tag or commit, or to one version), with no
    extras (Colab gets the base install); else ValueError, in one line, saying what to write."""
    example = f"e.g. '{name} @ git+https://github.com/OWNER/REPO@v1.0.0' or '{name}==1.0.0'"
    try:
        requirement = Requirement(spec)
    except InvalidRequirement:
        raise ValueError(f"{spec!r} is not a requirement pip can read; {example}.") from None
    if canonicalize_name(requirement.name) != canonicalize_name(name):
        raise ValueError(f"{spec!r} installs {requirement.name}, not the course's package {name}; {example}.")
    if requirement.extras:
        raise ValueError(f"{spec!r} asks for extras; Colab gets the base install only; {example}.")
    if UNSAFE & set(spec):
        raise ValueError(
            f"{spec!r} has quotes, braces, $, backticks or backslashes, which the install cell cannot hold."
        )
    if requirement.url is not None:
        if not git_ref(requirement.url):
            raise ValueError(f"{spec!r} is not pinned: give a git URL ending with @ and a tag or commit; {example}.")
    else:
        clauses = list(requirement.specifier)
        if len(clauses) != 1 or clauses[0].operator not in ("==", "===") or "*" in clauses[0].version:
            raise ValueError(f"{spec!r} is not pinned: name one version with ==; {example}.")
    return spec


def git_ref(url: str) -> str:
    """The tag or commit a ``git+`` URL pins ("" when it is no git URL, or pins nothing)."""
    if not url.startswith("git+"):
        return ""
    path = urlsplit(url.removeprefix("git+").split("#")[0]).path
    return path.rpartition("@")[2] if "@" in path else ""


def colab_badge_base(package: str) -> str | None:
    """Where the Colab badges open the labs for ``package``: its GitHub repository at the pinned tag or commit, up
    to the lab's path; None when it is not a GitHub URL (the badges are then left as they are)."""
    found = GITHUB.match(Requirement(package).url or "")
    return f"https://colab.research.google.com/github/{found['repository']}/blob/{found['ref']}" if found else None


def configured_package(root: Path) -> str | None:
    """The package ``course.toml`` names, checked (None without a ``course.toml``)."""
    path = root / CONFIG_FILE
    if not path.exists():
        return None
    package = tomllib.loads(path.read_text()).get("release", {}).get("package")
    if package is None:
        raise ValueError(f"{CONFIG_FILE} names no package: set one with `course release --package ...`.")
    try:
        return checked_package(package, package_name(root))
    except ValueError as error:
        raise ValueError(f"{CONFIG_FILE}: {error}") from None


def save_package(root: Path, package: str) -> None:
    """Set ``[release] package`` in ``course.toml`` (created when missing), keeping the rest of the file."""
    path = root / CONFIG_FILE
    line = f"package = {json.dumps(package)}"  # a JSON string of these characters is a TOML basic string
    text = path.read_text() if path.exists() else "[release]\n" + line + "\n"
    text, found = re.subn(r"^package\s*=.*$", lambda _: line, text, count=1, flags=re.M)
    if not found:
        raise ValueError(f"{CONFIG_FILE} has no `package = ...` line under [release] to set.")
    path.write_text(text)


def point_to_package(path: Path, package: str) -> None:
    """Write ``package`` into the notebook's install cell, and for a GitHub URL its Colab badges' repository and
    tag, editing the notebook's JSON in place (cell ids and the rest unchanged; the file is rewritten only when
    something changed). ValueError when the notebook has no install cell, or more than one."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    installs = [cell for cell in notebook["cells"] if INSTALL_LINE.search("".join(cell["source"]))]
    if len(installs) != 1:
        raise ValueError(f"{path.name}: expected one install cell (a `pip install` line), found {len(installs)}.")
    badge = colab_badge_base(package)
    for cell in notebook["cells"]:
        text = INSTALL_LINE.sub(lambda found: f'{found[1]}"{package}"', "".join(cell["source"]))
        if badge is not None:
            text = BADGE.sub(lambda found: f"{badge}/{found[1]}", text)
        if text != "".join(cell["source"]):  # the other cells are left as their file holds them
            cell["source"] = text.splitlines(keepends=True)
    written = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if written != path.read_text(encoding="utf-8"):
        path.write_text(written, encoding="utf-8")


def write_manifests(root: Path, labs: Iterable[str]) -> None:
    """Write each released lab's manifest into the package data (``course_utils/assets/labs/<lab>.json``): its cells
    as released, which the learners' check before submitting matches their notebook against, as the grader does."""
    folder = root / "course_utils" / Path(*MANIFEST_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    for lab in labs:
        released = json.loads((root / RELEASE_DIR / lab / f"{lab}.ipynb").read_text(encoding="utf-8"))
        (folder / f"{lab}.json").write_text(manifest_text(lab, released), encoding="utf-8")
