"""The grader's checks, run in a process of their own that the student's kernel cannot reach.

    python -m course_utils.instructor.grading.checker      # requests on stdin, answers on stdout, a JSON line each

Under ``course grade`` a test cell is cut into parts (``cells.segments``): its *calls* run in the student's kernel,
its *checks* here. The worker (``worker.py``) is the only go-between: it asks the kernel for the values a check reads
and hands them over as data (``data.py``: numbers, text, lists, dicts, tensors; nothing unpickled), and hands the
kernel the values a call reads that a check made (a hidden test's inputs). So a check's verdict depends on the values
the student's functions returned and on nothing else of the kernel: a forged reply, a patched library or a lying
``__eq__`` there changes nothing here. This process was started stock (forked from the grader's fork server before
any submission ran, or started afresh), with the real package: the references a hidden check compares with are here,
and never in the kernel.

A request is ``{"cell": INDEX, "imports": CODE, "code": CODE, "values": DATA, "wanted": [NAME, ...]}``: the cell's
import statements run first, in a namespace of its own (once per cell) that starts with ``profile`` (``cells.GIVEN``:
the profile this process detects, as a lab's ``setup()`` would, never the kernel's), then the check's code with the
values bound.
The answer is ``{"passed": BOOL, "error": TEXT, "printed": TEXT, "values": DATA}``: the ``wanted`` names as the check
left them. ``COURSE_GRADING_SEED``, set for this process only, seeds the inputs hidden checks draw
(``course_utils.notebook.checks.grading_rng``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import traceback
from typing import Any, TextIO

from ...library_output import silence_libraries
from ...runtime.profiles import Profile, choose
from .data import NotData, decode, encode


class Checker:
    """The namespaces of the cells being checked, one per cell, each starting with the ``given`` names."""

    def __init__(self, profile: Profile) -> None:
        self.given = {"profile": profile}
        self.namespaces: dict[int, dict[str, Any]] = {}

    def answer(self, request: dict) -> dict:
        """Run one check; never raises for what the check found."""
        printed = io.StringIO()
        try:
            namespace = self.namespaces.get(request["cell"])
            if namespace is None:
                namespace = self.namespaces[request["cell"]] = {"__name__": "__course_check__", **self.given}
                exec(compile(request["imports"], "<imports>", "exec"), namespace)
            namespace.update(decode(request["values"]))
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                exec(compile(request["code"], "<check>", "exec"), namespace)
            values = encode({name: namespace[name] for name in request["wanted"] if name in namespace})
        except AssertionError as error:
            return {"passed": False, "error": failure(error), "printed": printed.getvalue(), "values": "{}"}
        except NotData as error:
            return {"passed": False, "error": f"NotData: {error}", "printed": printed.getvalue(), "values": "{}"}
        except Exception as error:  # the check itself broke: say where, for the instructor
            where = traceback.format_exc(limit=-1).strip().splitlines()[-2:]
            problem = f"the check failed to run: {failure(error)} ({' '.join(line.strip() for line in where[:1])})"
            return {"passed": False, "error": problem, "printed": printed.getvalue(), "values": "{}"}
        return {"passed": True, "error": "", "printed": printed.getvalue(), "values": values}


def failure(error: BaseException) -> str:
    """An error as ``Name: message`` (the message alone says what was expected)."""
    return f"{type(error).__name__}: {error}".rstrip(": ")


def serve(requests: TextIO, answers: TextIO) -> None:
    """Answer each request line until the input ends, in the profile detected here (quiet where the lab is)."""
    profile, _ = choose()
    if profile.quiet:
        silence_libraries()
    checker = Checker(profile)
    for line in requests:
        if line.strip():
            answers.write(json.dumps(checker.answer(json.loads(line))) + "\n")
            answers.flush()


def main() -> None:
    """Serve on this process's standard streams, from a folder of its own (checks write nothing, but if one did)."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # what checks print is captured, never mixed in
    sys.stdout = sys.stderr
    with tempfile.TemporaryDirectory(prefix="course-checker-") as folder:
        os.chdir(folder)
        serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
