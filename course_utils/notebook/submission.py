"""Before you submit: what the grader will see of a learner's notebook, said in the notebook (each lab's last cell).

``check_submission(lab)`` finds the notebook it runs in, compares its graded cells with the lab's manifest (the graded
cells as the course released them, package data written by `course release`), runs a fresh copy of it in the grade
profile, and prints one line per problem, or one line saying that all is well:

- an answer cell that still raises ``NotImplementedError``;
- a graded cell whose nbgrader metadata was lost or edited, an edited or deleted test cell, a deleted answer cell, a
  cell claiming to be graded: with what the grader's repair (``course_utils/instructor/grading/repair.py``) will do
  about it (test cells are always the course's copy; answer cells keep the learner's code);
- a cell whose saved output is an error;
- after the fresh run: each visible test that fails (the first line of its message) and each other cell that raised.

It runs on Colab's base install: the notebook is read as JSON (no nbformat), and the fresh run is IPython's
``InteractiveShell`` in a child Python. Under the grader (``NBGRADER_EXECUTION``) it does nothing and prints nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from .matching import Cell, grading_info, match_cells, normalise, source_of

# Where the manifests live in the package: course_utils/assets/labs/<lab>.json (`course release` writes them).
MANIFEST_FOLDER = ("assets", "labs")
# The check cell's own id: it is left out of what it checks and runs.
CHECK_CELL_ID = "check-submission"
# The grader's limit on a whole notebook (`course grade --wall-seconds`): a fresh run past it would fail there too.
FRESH_RUN_SECONDS = 900
# How long Colab's frontend may take to send the notebook.
COLAB_SECONDS = 30
# nbgrader's stub in an answer cell (nbgrader_config.py), on a line of its own: a comment does not count.
UNANSWERED = re.compile(r"^\s*raise NotImplementedError\(\)", re.M)
# The Colab install cell: a shell line that pip-installs (it does nothing off Colab; the fresh run leaves it out).
INSTALL = re.compile(r"^\s*[!%].*\bpip install\b", re.M)


@dataclass(frozen=True)
class ReleasedCell:
    """A graded cell as the course released it."""

    grade_id: str
    kind: str  # "answer" (the learner writes it) or "test"
    points: float | None  # a test's points; None for an answer
    id: str
    nbgrader: dict[str, Any]
    source: str
    index: int  # its place among the release's cells


@dataclass(frozen=True)
class RunItem:
    """A cell of the fresh run: how the report names it, the code it runs, and whether it is a visible test."""

    label: str
    source: str
    test: bool


def manifest_of(lab: str, notebook: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest of a released notebook (a JSON object): every cell, in order, with its type, id, source and
    nbgrader metadata, what the grader's repair matches a submission against (its outputs and other metadata left out).
    """
    cells = []
    for cell in notebook["cells"]:
        info = grading_info(cell)
        kept = {
            "cell_type": cell["cell_type"],
            "id": cell.get("id", ""),
            "metadata": {"nbgrader": info} if info else {},
        }
        cells.append(kept | {"source": source_of(cell).splitlines(keepends=True)})
    return {"lab": lab, "cells": cells}


def manifest_text(lab: str, notebook: Mapping[str, Any]) -> str:
    """The manifest file's text, as `course release` writes it."""
    return json.dumps(manifest_of(lab, notebook), indent=1, ensure_ascii=False) + "\n"


def read_manifest(lab: str) -> list[Cell]:
    """The cells of ``lab`` as released, from the package data; FileNotFoundError for an unknown lab."""
    # importlib.resources directly: runtime.sources.asset_path would import PyTorch, which this check never needs.
    path = files("course_utils").joinpath(*MANIFEST_FOLDER, f"{lab}.json")
    if not path.is_file():
        raise FileNotFoundError(f"No lab named {lab!r} in this course package (no manifest at {path}).")
    return released_cells(json.loads(path.read_text(encoding="utf-8")))


def released_cells(manifest: Mapping[str, Any]) -> list[Cell]:
    """The release's cells, from a manifest object."""
    return list(manifest["cells"])


def graded_cells(release: list[Cell]) -> list[ReleasedCell]:
    """The release's graded cells: answers and tests, in order."""
    graded = []
    for index, cell in enumerate(release):
        info = grading_info(cell)
        if info.get("solution") or info.get("grade"):
            kind = "answer" if info.get("solution") else "test"
            points = info.get("points") if kind == "test" else None
            graded.append(ReleasedCell(info["grade_id"], kind, points, cell["id"], info, source_of(cell), index))
    return graded


def check_submission(lab: str, path: str | None = None) -> None:
    """Print what the grader will see of this notebook: one line per problem, or one line saying all is well.

    The notebook is ``path`` when given; else the one this runs in: on Colab, as the browser has it now; in Jupyter
    (``JPY_SESSION_NAME``) or VS Code (``__vsc_ipynb_file__``), its last saved version, so save it first. Under the
    grader it does nothing.
    """
    if os.environ.get("NBGRADER_EXECUTION"):
        return
    try:
        released = read_manifest(lab)
    except FileNotFoundError as error:
        print(error)
        return
    notebook, trouble = find_notebook(lab, path)
    if notebook is None:
        print(trouble)
        return
    for line in submission_report(notebook, released):
        print(line)


def find_notebook(lab: str, path: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """The notebook to check, or None and one line saying why there is none."""
    if path is None and "google.colab" in sys.modules:
        from google.colab import _message  # the frontend's own request; Colab keeps no file of the notebook

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=COLAB_SECONDS)
        if not reply:
            return None, f"Colab did not send the notebook within {COLAB_SECONDS} s: run this cell again."
        return reply["ipynb"], ""
    path = path or os.environ.get("JPY_SESSION_NAME") or vscode_notebook()
    if path is None:
        return None, (
            "Could not tell which file this notebook is (not on Colab, no JPY_SESSION_NAME from Jupyter, no "
            f'__vsc_ipynb_file__ from VS Code): run check_submission("{lab}", path="<the .ipynb file>").'
        )
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")), ""
    except (OSError, ValueError) as error:
        return None, f"Could not read the notebook {path}: {error}"


def vscode_notebook() -> str | None:
    """The notebook file VS Code's Jupyter extension names in the kernel's namespace, if it runs this."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None


def submission_report(notebook: Mapping[str, Any], release: list[Cell], run: bool = True) -> list[str]:
    """One line per problem the grader will see in ``notebook`` (against the ``release``'s cells), or one line saying
    all is well.

    ``run=False`` leaves out the fresh run (the visible tests are then not run).
    """
    cells = notebook["cells"]
    released = graded_cells(release)
    matched = match_cells(release, cells)  # as the grader's repair matches them
    matches = {k: matched[cell.index] for k, cell in enumerate(released) if cell.index in matched}
    problems = graded_cell_problems(released, cells, matches)
    problems += [
        f"{label(cell, j)}: raised {describe(output.get('ename', ''), output.get('evalue', ''))} when it last ran"
        for j, cell in enumerate(cells)
        if is_code(cell)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    plan = run_plan(released, cells, matches)
    if run:
        problems += fresh_run(plan)
    if problems:
        return problems
    tests = sum(item.test for item in plan)
    ran = f"the {tests} visible tests pass after a fresh run" if run else "the visible tests were not run"
    return [f"All is well: every graded cell is answered and as released, nothing raised, and {ran}."]


def is_code(cell: Mapping[str, Any]) -> bool:
    """A code cell other than this check's own (found by its id, or by its call when an editor dropped the id)."""
    return (
        cell.get("cell_type") == "code"
        and cell.get("id") != CHECK_CELL_ID
        and "check_submission(" not in source_of(cell)
    )


def label(cell: Mapping[str, Any], index: int) -> str:
    """How the report names a cell: its nbgrader id, else its place."""
    return grading_info(cell).get("grade_id") or place(cell, index)


def place(cell: Mapping[str, Any], index: int) -> str:
    """A cell's number in the notebook, and its first line."""
    first = next((line.strip() for line in source_of(cell).splitlines() if line.strip()), "")
    return f'cell {index + 1} ("{first[:40]}{"..." if len(first) > 40 else ""}")'


def describe(name: str, value: str) -> str:
    """An error in one line: an assertion's message alone, else ``Name: first line of the message``."""
    first = next((line.strip() for line in str(value).splitlines() if line.strip()), "")
    if name == "AssertionError" and first:
        return first
    return f"{name}: {first}" if first else name


def graded_cell_problems(released: list[ReleasedCell], cells: list[Cell], matches: dict[int, int]) -> list[str]:
    """What is wrong with the graded cells, and what the grader's repair will do about it, one line each."""
    problems = []
    for k, cell in enumerate(released):
        if k not in matches:
            if cell.kind == "test":
                problems.append(f"{cell.grade_id}: this test cell is missing; the grader will put the course's back")
            else:
                problems.append(
                    f"{cell.grade_id}: this answer cell is missing; the grader will put it back unanswered "
                    "(its tests will fail)"
                )
            continue
        submitted = cells[matches[k]]
        info = grading_info(submitted)
        if cell.kind == "test":
            worth = f"{cell.points:g} point{'' if cell.points == 1 else 's'}"
            outcome = f"the grader will grade the course's copy of this test ({worth})"
        else:
            outcome = "the grader will give it back and grade your code"
        if not info:
            problems.append(f"{cell.grade_id}: its grading metadata is gone; {outcome}")
        elif info != cell.nbgrader:
            edited = sorted(
                key for key in info.keys() | cell.nbgrader.keys() if info.get(key) != cell.nbgrader.get(key)
            )
            problems.append(f"{cell.grade_id}: its grading metadata was edited ({', '.join(edited)}); {outcome}")
        if cell.kind == "test" and normalise(source_of(submitted)) != normalise(cell.source):
            problems.append(f"{cell.grade_id}: this test cell was edited; the grader will run the course's copy")
        if cell.kind == "answer" and UNANSWERED.search(source_of(submitted)):
            problems.append(f"{cell.grade_id}: not answered yet (it still raises NotImplementedError)")
    matched = set(matches.values())
    problems += [
        f"{place(cell, j)}: has grading metadata but is not one of the lab's graded cells; the grader will ignore it"
        for j, cell in enumerate(cells)
        if j not in matched and grading_info(cell)
    ]
    return problems


def run_plan(released: list[ReleasedCell], cells: list[Mapping[str, Any]], matches: dict[int, int]) -> list[RunItem]:
    """The code cells as the grader will run them: test cells as released (an edited one replaced, a deleted one put
    back), answer cells as written (a deleted one put back unanswered), the install cell left out."""
    back = {j: k for k, j in matches.items()}
    missing = sorted(k for k in range(len(released)) if k not in matches)
    plan = []

    def put_back(before: int) -> None:
        while missing and missing[0] < before:
            cell = released[missing.pop(0)]
            plan.append(RunItem(cell.grade_id, cell.source, cell.kind == "test"))

    for j, cell in enumerate(cells):
        if not is_code(cell):
            continue
        k = back.get(j)
        if k is None:
            if not INSTALL.search(source_of(cell)):
                plan.append(RunItem(label(cell, j), source_of(cell), False))
            continue
        put_back(k)
        test = released[k].kind == "test"
        plan.append(RunItem(released[k].grade_id, released[k].source if test else source_of(cell), test))
    put_back(len(released))
    return plan


def fresh_run(plan: list[RunItem]) -> list[str]:
    """Run ``plan`` in a fresh Python in the grade profile, as the grader would; a line per cell that raised."""
    if importlib.util.find_spec("IPython") is None:
        return ["The fresh run needs IPython, which is not installed here (pip install ipython): no test was run."]
    env = {
        **os.environ,
        "NBGRADER_EXECUTION": "autograde",  # the labs pick the grade profile, and this check does nothing
        "COURSE_PROFILE": "",  # as the grader does: the learner's own choice of profile does not count there
        "HF_HUB_OFFLINE": "1",  # the grader has no network
        "HF_DATASETS_OFFLINE": "1",
        "MPLBACKEND": "Agg",  # no window for plots
    }
    with tempfile.TemporaryDirectory(prefix="course-check-") as scratch:
        folder = Path(scratch)
        (folder / "cells.json").write_text(json.dumps([item.source for item in plan]), encoding="utf-8")
        env["IPYTHONDIR"] = str(folder / "ipython")  # the shell's history stays out of the learner's home
        command = [sys.executable, "-m", __name__, str(folder / "cells.json"), str(folder / "outcomes.json")]
        try:
            # Its own folder: what the notebook saves there (models, plots) must not overwrite the learner's files.
            done = subprocess.run(
                command,
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                timeout=FRESH_RUN_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return [f"The fresh run took over {FRESH_RUN_SECONDS} s and was stopped; the grader would stop it too."]
        outcomes = json.loads((folder / "outcomes.json").read_text()) if (folder / "outcomes.json").exists() else []
    lines = []
    for item, error in zip(plan, outcomes, strict=False):
        if error is not None:
            lines.append(f"{item.label}: {'fails' if item.test else 'raises'} after a fresh run: {describe(*error)}")
    if len(outcomes) < len(plan):
        said = [line for line in done.stderr.splitlines() if line.strip()]
        why = said[-1].strip() if said else f"exit status {done.returncode}"
        lines.append(f"The fresh run stopped in {plan[len(outcomes)].label}: its Python ended ({why}).")
    return lines


def run_cells(cells_path: Path, outcomes_path: Path) -> None:
    """The fresh run's child: each source of ``cells_path`` run in one IPython shell (magics and ``!`` commands
    work); after each, the outcomes so far written to ``outcomes_path`` (None, or the error's name and message), so
    that a run that dies still says where."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    outcomes: list[tuple[str, str] | None] = []
    for source in json.loads(cells_path.read_text(encoding="utf-8")):
        result = shell.run_cell(source, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        outcomes.append(None if error is None else (type(error).__name__, str(error)))
        outcomes_path.write_text(json.dumps(outcomes), encoding="utf-8")


if __name__ == "__main__":
    run_cells(Path(sys.argv[1]), Path(sys.argv[2]))
