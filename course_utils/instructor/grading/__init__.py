"""`course grade`: robust, parallel, isolated autograding of a class's submitted notebooks, on top of nbgrader.

Threat model. The student controls arbitrary Python in every cell they hand in, and that code runs in the kernel that
also runs the tests. The grader assumes a student who wants the points: one who reads this package's source, and
shares one-line tricks with the class.

What the grader guarantees:

- **No access to other students, the solutions or the gradebook.** The kernel runs in a sandbox (``sandbox.py``:
  user, mount, PID and network namespaces, ``isolation.py``) whose file system is an allow-list: the system's
  programs and libraries, this Python and its environment, and the package, read-only, and a home in memory of a
  bounded size; nothing else of the machine. It keeps no capability (it cannot unmount or remount anything) and has
  no network. It is forked from a process that has imported the labs' libraries once (``forkserver.py``); the worker
  that drives it and records what it does runs outside, and writes where the kernel cannot reach.
- **No process outliving its run.** The kernel is the first process of its PID namespace: when it ends, everything
  it started ends; when the worker ends, the kernel is killed.
- **What the instructor and the student open is inert.** Outputs of every kind are capped (``worker.py``); feedback
  pages are sanitised and forbid scripts, strings the student's code chose are escaped (``feedback.py``); CSV fields
  a spreadsheet would run as formulas are written as text (``exports.py``); submitted symbolic links are refused
  (``submissions.py``).
- **No hidden test revealed.** The notebook file with the hidden tests is never visible to the kernel; test cells
  run without being stored in the kernel's history (and, where the probe runs, their text is dropped from its caches
  afterwards); a hidden test's checks run in the checker only; the feedback shows the released tests only, and
  every output (tracebacks, and what the student's own code printed) loses any line of hidden test code as a second
  line of defence.

**Verdicts the student's code cannot reach**, for test cells that mark where their checks begin (``cells.py``:
``### CHECK`` and ``### CALL``). The cell's calls run in the kernel and its checks in ``checker.py``, a process
outside the sandbox forked before any submission ran; the worker hands values between them as data only
(``data.py``). A hidden part draws its inputs from a seed the kernel never sees and compares with the references in
the checker. A trained model crosses as its weights, which the check puts in the lab's model and measures on data it
loads itself (``course_utils.checks.model_weights``); a check's ``profile`` is the checker's own. When every test cell
of a lab is checked so, the kernel's package is a view without the lab's references (``package_view.py``) and no probe
runs.

What it checks but does not guarantee: the verdicts of test cells that run whole in the kernel (the labs not yet
written with checks apart). Such a cell earns its points when the kernel's execute reply says it ran without error.
Before and after every test cell, ``probe.py`` checks that the interpreter's error reporting and execution machinery,
the builtins, the library functions tests lean on (``torch.allclose``, ``numpy.allclose``, ``math.isclose``, ...) and
the package's own modules are the stock ones, that no notebook code is hooked around cells, runs in a thread or a
process of its own, or overrides how a value compares; and each lab's reference implementations (notebook metadata
``course.references``) raise while test cells run, and a tested function that is, copies or calls one earns
nothing. Findings score the cell 0 as ``tampering: ...`` or ``delegation: ...`` and flag the student. Code written to
deceive these checks (a forged execute reply, code compiled under a library's file name, a patch swapped out while a
probe looks) can pass them; it stays in the handed-in notebook, which the instructor keeps in ``autograded/``.

Either way, a test is only as strong as what it checks: a hard-coded answer to the visible inputs passes the visible
tests; a student who copies a solution's text from elsewhere is out of scope. CPU share (a submission may use every
core until its time is up) is not isolated; without user namespaces (some containers) nothing is, and the summary
says so.
"""
