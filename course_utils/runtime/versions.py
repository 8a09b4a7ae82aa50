"""Is this Python fit to run the labs? The versions the course needs, and a runtime that must be restarted.

Two moments need it:
- the install cell on Colab, right after ``pip install --report ...``: if pip replaced a package that the runtime had
  already imported, the old version stays in memory until a restart (`restart_notice`);
- ``setup()`` at the top of every lab: a Python or a library outside the versions the course was tested at, or a
  library whose loaded version is not the installed one, stops the lab with one line saying what to do
  (`check_runtime`).
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

DISTRIBUTION = "align-course"
RESTART = "restart the runtime (on Colab: Runtime > Restart session) and run the notebook again from the top"


class CourseSetupError(RuntimeError):
    """A problem with the runtime that the learner fixes by installing or restarting; shown as one line."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: the message is all a learner needs.
        return [f"{type(self).__name__}: {self}"]


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Align_Course`` and ``align-course`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_distributions() -> dict[str, str]:
    """The distributions whose modules this Python has imported, each with the module that shows it.

    Namespace packages (``google``, shared by many distributions) have no file of their own and prove nothing.
    """
    owners = metadata.packages_distributions()
    found = {}
    for name, module in list(sys.modules.items()):
        if "." in name or getattr(module, "__file__", None) is None:
            continue
        for distribution in owners.get(name, []):
            found.setdefault(canonical(distribution), name)
    return found


def restart_notice(report: str | Path) -> str | None:
    """After ``pip install --report REPORT``: one line asking for a restart if pip replaced an imported package.

    pip's report lists what it installed (nothing for a requirement that was already satisfied). A package in that
    list whose modules this Python had already imported still runs its old code, and its compiled parts can clash
    with the new files. Prints the line and returns it; returns None (and prints nothing) when no restart is needed.
    """
    installed = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(Path(report).read_text())["install"]
    }
    imported = imported_distributions()
    imported.pop(DISTRIBUTION, None)  # the course itself: imported after the install, to run this very check
    stale = sorted(set(installed) & set(imported))
    if not stale:
        return None
    changes = ", ".join(
        f"{name} {getattr(sys.modules[imported[name]], '__version__', '?')} -> {installed[name]}" for name in stale
    )
    line = f"Now {RESTART}: the install replaced {changes}, already imported in this runtime."
    print(line)
    return line


def check_runtime(distribution: str = DISTRIBUTION) -> None:
    """Raise `CourseSetupError` (one line) if this Python cannot run the labs as they were tested.

    - the Python version is outside the course's ``Requires-Python``;
    - a library the course needs is missing or outside the versions the course admits (its ``Requires-Dist``);
    - a library's loaded version is not the installed one (it was upgraded after being imported: restart).

    Nothing is checked when the course runs from a source tree that was never installed.
    """
    try:
        requires_python = metadata.metadata(distribution)["Requires-Python"]
        requirements = [Requirement(text) for text in metadata.requires(distribution) or []]
    except metadata.PackageNotFoundError:
        return
    python = ".".join(map(str, sys.version_info[:3]))
    if requires_python and not Requirement(f"python{requires_python}").specifier.contains(python):
        raise CourseSetupError(
            f"This course needs Python {requires_python}, and this is Python {python}: use a supported Python."
        )
    wrong = [
        problem
        for requirement in requirements
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""})
        for problem in [_version_problem(requirement)]
        if problem
    ]
    if wrong:
        install = " ".join(f'"{requirement}"' for requirement, _ in wrong)
        found = ", ".join(found for _, found in wrong)
        raise CourseSetupError(
            f"This course needs other library versions ({found}): run pip install -U {install}, then {RESTART}."
        )
    stale = [text for requirement in requirements if (text := _loaded_but_replaced(requirement.name))]
    if stale:
        raise CourseSetupError(f"{', '.join(stale)}: {RESTART}.")


def _version_problem(requirement: Requirement) -> tuple[Requirement, str] | None:
    """``(requirement, what was found)`` when the installed version does not satisfy it, else None."""
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return requirement, f"{requirement.name} is not installed"
    if requirement.specifier.contains(installed, prereleases=True):
        return None
    return requirement, f"{requirement.name} {installed} is installed"


def _loaded_but_replaced(name: str) -> str | None:
    """'transformers 5.15.1 is loaded but 5.24.0 is installed' when the module in memory is older or newer.

    Local version labels do not count: a CUDA build of torch says ``2.11.0+cu130`` where pip's metadata says
    ``2.11.0``.
    """
    module = sys.modules.get(name.replace("-", "_"))
    loaded = getattr(module, "__version__", None)
    if not isinstance(loaded, str):
        return None
    installed = metadata.version(name)
    try:
        same = Version(loaded).public == Version(installed).public
    except InvalidVersion:
        same = loaded == installed
    return None if same else f"{name} {loaded} is loaded but {installed} is installed"
