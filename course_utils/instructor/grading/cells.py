"""The vocabulary every step of grading shares, in one place (as nbgrader keeps its cell predicates in one module).

- which cells are graded: `grading_info`, `is_test`, `is_answer`, `cell_key`; which functions of the package are a
  lab's reference implementations: `references`;
- the markers of the instructor's source: `SOLUTION_BLOCK` (the answer, replaced by a stub in the release) and
  `HIDDEN_BLOCK` (tests that only the grader runs); in a test cell, `CHECK` and `CALL` lines say which of its parts
  check (they run where the student's code cannot reach them) and which call the student's code: `segments`; what a
  check finds bound: `GIVEN`;
- `clear_outputs`, for notebooks whose saved outputs are no evidence;
- `RunStatus`, how a submission's run ended, said the same way by the worker, the sandbox, scoring and the exports;
- `CellRecord`, what the worker saw of one cell (its execute reply, its checks' verdict).
"""

from __future__ import annotations

import ast
import re
import symtable
from dataclasses import dataclass
from enum import StrEnum

from nbformat import NotebookNode

# The cell predicates the learner's check before submitting shares, kept here beside the others.
from ...notebook.matching import grading_info as grading_info
from ...notebook.matching import is_answer as is_answer


def marked_block(name: str) -> re.Pattern[str]:
    """``### BEGIN <name>`` ... ``### END <name>`` lines (indented or not); group 1 is what lies between them."""
    return re.compile(rf"[ \t]*### BEGIN {name}\n(.*?)[ \t]*### END {name}\n?", re.S)


SOLUTION_BLOCK = marked_block("SOLUTION")
HIDDEN_BLOCK = marked_block("HIDDEN TESTS")
# In a test cell, a line of its own: what follows ``### CHECK`` checks, what follows ``### CALL`` calls the student's
# code. A cell begins with a call; a hidden block begins with a check's part (it draws the inputs of its call).
CHECK, CALL = "### CHECK", "### CALL"
# What a check finds bound before it runs, in a learner's notebook and under the grader alike: ``profile``, the
# profile the lab runs in (under ``course grade``, the grader's own, never the kernel's word for it).
GIVEN = frozenset({"profile"})
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass(frozen=True)
class Segment:
    """A part of a test cell: a call of the student's code (in the kernel) or a check (where the kernel cannot reach).

    In a learner's notebook the whole cell runs in the kernel, top to bottom, and the markers are comments.
    """

    check: bool
    code: str


def segments(source: str) -> list[Segment]:
    """A test cell's calls and checks, in order (empty parts left out)."""
    parts: list[Segment] = []
    check, lines = False, []
    for line in [*source.splitlines(), CALL]:
        marker = line.strip()
        if marker in (CHECK, CALL, HIDDEN_BEGIN, HIDDEN_END):
            code = "\n".join(lines).strip("\n")
            if code.strip():
                parts.append(Segment(check, code + "\n"))
            check, lines = marker in (CHECK, HIDDEN_BEGIN), []
        else:
            lines.append(line)
    return parts


def names_read(code: str) -> set[str]:
    """The names a part reads from its namespace (bound there first or not), in its own code or in the functions,
    lambdas and comprehensions it defines; their parameters and locals are theirs."""
    table = symtable.symtable(code, "<part>", "exec")
    read = {symbol.get_name() for symbol in table.get_symbols() if symbol.is_referenced()}
    scopes = list(table.get_children())
    while scopes:
        scope = scopes.pop()
        scopes += scope.get_children()
        read |= {symbol.get_name() for symbol in scope.get_symbols() if symbol.is_global() and symbol.is_referenced()}
    return read


def names_bound(code: str) -> set[str]:
    """The names a part binds in its namespace: assigned, imported, defined, or looped over."""
    table = symtable.symtable(code, "<part>", "exec")
    return {symbol.get_name() for symbol in table.get_symbols() if symbol.is_assigned() or symbol.is_imported()}


def imports(source: str) -> str:
    """A test cell's import statements (those at its top level, hidden tests' included), one per line."""
    lines = [line for line in source.splitlines() if line.strip() not in (HIDDEN_BEGIN, HIDDEN_END)]
    tree = ast.parse("\n".join(lines))
    return "".join(ast.unparse(node) + "\n" for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def is_checked(cell: NotebookNode) -> bool:
    """A test cell whose checks say where they begin: under ``course grade`` they run apart from the kernel."""
    return is_test(cell) and any(line.strip() == CHECK for line in cell.source.splitlines())


def is_test(cell: NotebookNode) -> bool:
    """An autograded test: graded, and not an answer."""
    info = grading_info(cell)
    return bool(info.get("grade")) and not info.get("solution")


def cell_key(cell: NotebookNode) -> str:
    """How a repair or a result names a cell: its nbgrader id, else its cell id."""
    return grading_info(cell).get("grade_id") or cell.get("id", "")


def references(notebook: NotebookNode) -> list[str]:
    """The dotted names of the package functions that solve the lab's exercises, from the lab's notebook metadata.

    ``{"course": {"references": ["course_utils.ppo.losses.gae_advantages", ...]}}``: while test cells run, these raise
    (a submission that delegates to them earns nothing for that exercise).
    """
    return list(notebook.metadata.get("course", {}).get("references", []))


def clear_outputs(*cells: NotebookNode) -> None:
    """Remove the outputs and execution count of each code cell, in place (``clear_outputs(*notebook.cells)``)."""
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None


class RunStatus(StrEnum):
    """How a submission's run ended. A string, so it reads and exports as its value (``"kernel died"``)."""

    OK = "ok"  # every cell ran (some may have failed: that is scoring's business)
    CELL_TIMEOUT = "cell timeout"  # a cell ran past its time limit and was interrupted
    KERNEL_DIED = "kernel died"  # os._exit, a crash or the memory limit
    TIMEOUT = "timeout"  # the whole notebook ran past its wall time and was killed
    CRASHED = "crashed"  # the grader itself could not run the notebook: not the student's doing
    UNREADABLE = "unreadable"  # the file is not a notebook


@dataclass
class CellRecord:
    """What the worker saw of one cell: the kernel's execute reply, and a test cell's verdict."""

    reply: str | None = None  # the reply's status: "ok", "error", "aborted"; None when the cell got no reply
    error: str = ""  # the reply's "ename: evalue", when it has one
    check: str | None = None  # a test cell's verdict, from its checks: "" passed, else why it failed
