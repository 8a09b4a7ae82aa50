"""Drive one submission's kernel from outside its sandbox, and record what happened where the kernel cannot reach.

    python -m course_utils.instructor.grading.worker RECORD_DIR

``RECORD_DIR/job.json`` says how (see ``sandbox.py``). This process is not in the sandbox: the kernel runs there, in
its own user, mount, PID and network namespaces, and talks to this process only through its sockets. What the
grader reads back is written here, in a folder the kernel cannot see, after every cell (so that a timeout or a dead
kernel keeps the cells run so far):

- ``executed.ipynb``, the notebook with the outputs the kernel sent (capped in size, see `OutputBudget`);
- ``record.json``: how the run ended, and for each cell the kernel's execute reply (its status, not only the error
  it chose to print) and, for each test cell, its checks' verdict.
"""

from __future__ import annotations

import ast
import builtins
import copy
import json
import os
import secrets
import select
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.client import timestamp
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..notebooks import KernelPlace, execute_notebook
from . import data
from .cells import GIVEN, CellRecord, RunStatus, imports, is_checked, is_test, names_bound, names_read, segments

SUBMISSION, EXECUTED, RECORD, JOB = "submission.ipynb", "executed.ipynb", "record.json", "job.json"
CHECKER_LOG = "checker.log"  # what the checker wrote on its stderr: why a check could not run
TRUNCATED = "\n[... output truncated by the grader ...]\n"
DATA_SOURCE = Path(data.__file__).read_text(encoding="utf-8")
# A value takes milliseconds; a kernel that does not answer in a minute has been tampered with.
EXPRESSION_SECONDS = 60
NO_ANSWER = "the kernel did not answer"
UNCHECKED = "this test cell has no check (### CHECK): nothing the kernel says earns its points"
BUILTINS = frozenset(dir(builtins))


class OutputBudget:
    """What a notebook's outputs may take: ``cell_bytes`` per cell and ``notebook_bytes`` in all, every kind counted
    (text by its characters, an image or other data by its encoded size). An output past either is shortened (text,
    an error) or left out (anything else), with one mark where the cut is; the cell's later outputs are left out."""

    def __init__(self, cell_bytes: int, notebook_bytes: int):
        self.cell_bytes, self.left = cell_bytes, notebook_bytes
        self.spent: dict[int, int] = {}  # by cell index
        self.cut: set[int] = set()  # cells whose mark is written

    def admit(self, output: nbformat.NotebookNode, cell: int) -> nbformat.NotebookNode | None:
        """The output as kept (itself, shortened, or the mark), or None when the cell was already cut."""
        if cell in self.cut:
            return None
        room = max(0, min(self.cell_bytes - self.spent.get(cell, 0), self.left))
        size = output_size(output)
        if size > room:
            self.cut.add(cell)
            output = shortened(output, room)
            size = room
        self.spent[cell] = self.spent.get(cell, 0) + size
        self.left -= size
        return output


def output_size(output: nbformat.NotebookNode) -> int:
    """How much an output takes: its text, its traceback, or its data in every format it has."""
    if "text" in output:
        return len(output["text"])
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", [])) + len(output.get("evalue", ""))
    return sum(len(json.dumps(value)) for value in output.get("data", {}).values())


def shortened(output: nbformat.NotebookNode, room: int) -> nbformat.NotebookNode:
    """``output`` cut to ``room`` characters and marked: a text, an error's message; anything else becomes the mark."""
    if "text" in output:
        output["text"] = output["text"][:room] + TRUNCATED
        return output
    if output.get("output_type") == "error":  # scoring reads the error's name: keep it
        output["evalue"], output["traceback"] = output.get("evalue", "")[:room] + TRUNCATED, []
        return output
    return nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED)


class Checks:
    """The checker process (``checker.py``), started on the first request; ``command`` starts it, with ``env``."""

    def __init__(self, command: list[str], env: dict[str, str], seconds: float, log: Path):
        self.command, self.env, self.seconds, self.log = command, env, seconds, log
        self.process: subprocess.Popen | None = None
        self.spent = 0.0  # wall seconds waiting for answers (the checker's start included)

    def ask(self, request: dict) -> dict:
        """The checker's answer to ``request``; a failed check when it does not answer within ``seconds``."""
        began = time.perf_counter()
        try:
            return self.answer(request)
        finally:
            self.spent += time.perf_counter() - began

    def answer(self, request: dict) -> dict:
        if self.process is None:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log.open("ab"), env=self.env
            )
        failed = {"passed": False, "printed": "", "values": "{}"}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], self.seconds)
            line = self.process.stdout.readline() if ready else b""
        except OSError:
            line = b""
        if not line:
            self.close()
            why = "it ran past its time limit" if not ready else "the checker stopped (see checker.log)"
            return {**failed, "error": f"the grader could not check this cell: {why}"}
        return json.loads(line)

    def close(self) -> None:
        """Stop the checker (a new one starts on the next request)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class GradingClient(NotebookClient):
    """nbclient's client, running test cells as the grader does, and keeping each cell's execute reply.

    A test cell runs part by part: its calls in the kernel, its checks in ``checks``, and its verdict is theirs
    alone (a test cell with no check fails).
    Test cells run without ``store_history``, so that later cells cannot read them back from ``In`` or the history.
    Outputs are admitted against ``budget`` as they arrive; a display is kept as first shown (an update could be of
    any size), and widgets are not followed (their state would be saved with the notebook).
    """

    def __init__(
        self,
        notebook: nbformat.NotebookNode,
        *,
        records: dict[int, CellRecord],
        budget: OutputBudget,
        checks: Checks,
        **options: Any,
    ):
        super().__init__(notebook, **options)
        self.records, self.budget, self.checks = records, budget, checks  # records: filled as cells run
        self.on_cell_executed = self.keep_reply

    def keep_reply(self, cell_index: int, execute_reply: dict | None, **_: Any) -> None:
        """nbclient's ``on_cell_executed`` hook: keep the status (and error) the kernel replied for this cell."""
        content = (execute_reply or {}).get("content", {})
        error = f"{content.get('ename', '')}: {content.get('evalue', '')}".strip(": ")
        record = self.records.setdefault(cell_index, CellRecord())
        record.reply, record.error = content.get("status", "no reply"), error

    def output(
        self, outs: list[nbformat.NotebookNode], msg: dict, display_id: str | None, cell_index: int
    ) -> nbformat.NotebookNode | None:
        """nbclient's, then the output admitted against the budget (shortened, or left out)."""
        output = super().output(outs, msg, display_id, cell_index)
        if output is not None and outs and outs[-1] is output:
            kept = self.budget.admit(output, cell_index)
            outs[-1:] = [kept] if kept is not None else []
        return output

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        """nbclient's handler of display updates: none are applied."""

    def handle_comm_msg(self, outs: list[nbformat.NotebookNode], msg: dict, cell_index: int) -> None:
        """nbclient's handler of widget messages: none are followed."""

    async def async_execute_cell(  # type: ignore[override]
        self,
        cell: nbformat.NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> nbformat.NotebookNode:
        if not (cell.cell_type == "code" and cell.source.strip() and is_test(cell)):
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        record = self.records.setdefault(cell_index, CellRecord())
        if is_checked(cell):
            await self.run_checked(cell, cell_index, record)
        else:
            record.check = UNCHECKED
        return cell

    async def run_checked(self, cell: nbformat.NotebookNode, cell_index: int, record: CellRecord) -> None:
        """Run a checked test cell part by part: its calls in the kernel, its checks in the checker, with only data
        between them; ``record.check`` is the verdict, from the checks alone. The cell's recorded time runs from its
        first call to its last part, whether call or check."""
        try:
            await self.run_parts(cell, cell_index, record)
        finally:
            cell.metadata.setdefault("execution", {})["shell.execute_reply"] = timestamp()
            self.nb.cells[cell_index] = cell  # nbclient put the last part there: the notebook keeps the whole cell

    async def run_parts(self, cell: nbformat.NotebookNode, cell_index: int, record: CellRecord) -> None:
        """`run_checked`'s parts, in order, until one fails."""
        parts, header = segments(cell.source), imports(cell.source)
        known = GIVEN | names_bound(header)  # what the checks' namespace holds: givens, imports, what checks bound
        made = "{}"  # the values the last check made for the calls after it
        cell.outputs = []
        for position, part in enumerate(parts):
            if part.check:
                later = set().union(set(), *(names_read(p.code) for p in parts[position + 1 :] if not p.check))
                answer = await self.run_check(part.code, cell, cell_index, header, known, later)
                if not answer["passed"]:
                    record.check = answer["error"]
                    return
                known |= names_bound(part.code)
                made = answer["values"]
            elif failure := await self.run_call(part.code, cell, cell_index, made, record):
                record.check = failure
                return
        record.check = ""

    async def run_check(
        self, code: str, cell: nbformat.NotebookNode, cell_index: int, header: str, known: set[str], later: set[str]
    ) -> dict:
        """One check, in the checker, on the kernel's values of the names it reads that the checks do not hold;
        ``later`` are the names the calls after it read (what it binds of them comes back in the answer's values)."""
        values, problems = await self.values(sorted(names_read(code) - names_bound(code) - known - BUILTINS))
        if problems:
            return {"passed": False, "error": "the check could not read what your code made: " + "; ".join(problems)}
        wanted = sorted(names_bound(code) - names_bound(header) & later)  # imports are the calls' own to make
        answer = self.checks.ask(
            {"cell": cell_index, "imports": header, "code": code, "values": values, "wanted": wanted}
        )
        if answer["printed"]:
            self.show(cell, cell_index, answer["printed"])
        return answer

    async def run_call(
        self, code: str, cell: nbformat.NotebookNode, cell_index: int, made: str, record: CellRecord
    ) -> str:
        """One call, in the kernel, after the values the checks ``made`` for it are bound there; why it failed, or
        ``""``. Its outputs are the cell's."""
        if made != "{}":
            given, problem = await self.evaluate(
                f"(lambda ns: (exec({DATA_SOURCE!r}, ns), globals().update(ns['decode']({made!r})), '')[2])({{}})"
            )
            if given is None:
                return f"the grader could not hand the test's inputs to the kernel ({problem})"
        piece = copy.deepcopy(cell)
        piece.source, piece.outputs = code, []
        await super().async_execute_cell(piece, cell_index, store_history=False)
        cell.outputs += piece.outputs
        cell.execution_count = piece.execution_count
        began = piece.metadata.get("execution", {}).get("iopub.execute_input")  # the cell ran from its first call
        if began is not None:
            cell.metadata.setdefault("execution", {}).setdefault("iopub.execute_input", began)
        return "" if record.reply == "ok" else record.error or "the call did not finish"

    async def values(self, names: list[str]) -> tuple[str, list[str]]:
        """The kernel's values of ``names``, encoded as data (``data.py``), and what kept any of them from being."""
        if not names:
            return "{}", []
        answer, problem = await self.evaluate(
            f"(lambda ns: (exec({DATA_SOURCE!r}, ns), ns['encode_names']({names!r}, globals()))[1])({{}})"
        )
        try:
            said = json.loads(answer or "")
            given = {name: said["values"][name] for name in names if name in said["values"]}  # nothing unasked
            return json.dumps(given), [str(said["missing"][name]) for name in names if name in said["missing"]]
        except Exception:
            return "{}", [f"the kernel gave no answer for {', '.join(names)}" + (f" ({problem})" if problem else "")]

    def show(self, cell: nbformat.NotebookNode, cell_index: int, text: str) -> None:
        """What a check printed, as the cell's output (admitted against the budget like the kernel's)."""
        kept = self.budget.admit(nbformat.v4.new_output("stream", name="stdout", text=text), cell_index)
        if kept is not None:
            cell.outputs.append(kept)

    async def evaluate(self, expression: str) -> tuple[str | None, str]:
        """The string ``expression`` evaluates to in the kernel, as a user expression (which skips input transformers,
        the history and IPython's events); or None and why not (`NO_ANSWER` when the kernel said nothing in time)."""
        message_id = self.kc.execute(
            "", silent=True, store_history=False, user_expressions={"value": expression}, stop_on_error=False
        )
        try:
            reply = await self.reply_to(message_id, EXPRESSION_SECONDS)
        except Empty:
            return None, NO_ANSWER
        answer = reply["content"].get("user_expressions", {}).get("value", {})
        try:
            value = ast.literal_eval(answer["data"]["text/plain"])
        except Exception:
            return None, answer.get("ename") or reply["content"].get("ename") or ""
        return (value, "") if isinstance(value, str) else (None, "not a string")

    async def reply_to(self, message_id: str, seconds: float) -> dict:
        """The shell reply to ``message_id`` (others are dropped); raises ``queue.Empty`` after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Empty
            message = await ensure_async(self.kc.shell_channel.get_msg(timeout=remaining))
            if message["parent_header"].get("msg_id") == message_id:
                return message


def main(folder: str) -> None:
    """Run the job described in ``folder/job.json``, saving the notebook and the record after each cell."""
    record_dir = Path(folder)
    job = json.loads((record_dir / JOB).read_text())
    executed = record_dir / EXECUTED
    records: dict[int, CellRecord] = {}
    status = {"status": RunStatus.OK, "detail": ""}

    def save(notebook: nbformat.NotebookNode | None = None) -> None:
        if notebook is not None:
            nbformat.write(notebook, executed)
        cells = {index: asdict(record) for index, record in records.items()}
        (record_dir / RECORD).write_text(json.dumps({**status, "check_seconds": checks.spent, "cells": cells}))

    # The checks' inputs are drawn from a seed the kernel never sees.
    env = {**os.environ, **job["check_env"], "COURSE_GRADING_SEED": str(secrets.randbelow(2**31))}
    checks = Checks(job["checker"], env, float(job["cell_seconds"]), record_dir / CHECKER_LOG)
    try:
        execute_notebook(
            record_dir / SUBMISSION,
            executed,
            env=job["env"],
            timeout=int(job["cell_seconds"]),
            allow_errors=True,
            after_cell=save,
            kernel=KernelPlace(folder=Path(job["folder"]), sockets=Path(job["sockets"]), prefix=tuple(job["prefix"])),
            client_class=GradingClient,
            records=records,
            budget=OutputBudget(int(job["output_bytes"]), int(job["notebook_output_bytes"])),
            checks=checks,
        )
    except DeadKernelError:
        status = {"status": RunStatus.KERNEL_DIED, "detail": "the kernel died (os._exit, a crash or the memory limit)"}
    except CellTimeoutError:
        status = {"status": RunStatus.CELL_TIMEOUT, "detail": f"a cell ran longer than {job['cell_seconds']} s"}
    finally:
        checks.close()
    save(nbformat.read(executed, as_version=4) if executed.exists() else None)


if __name__ == "__main__":
    main(*sys.argv[1:])
