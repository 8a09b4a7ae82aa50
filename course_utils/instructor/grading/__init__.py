"""`course grade`: robust, parallel, isolated autograding of a class's submitted notebooks, on top of nbgrader.

Threat model. The student controls arbitrary Python in every cell they hand in, and that code runs in the kernel that
also runs the tests. The grader assumes a student who wants the points: one who reads this package's source, and
shares one-line tricks with the class.

What the grader guarantees:

- **No forged results.** The verdicts are decided outside the student's reach: the kernel runs in a sandbox
  (``sandbox.py``: user, mount, PID and network namespaces, ``isolation.py``), forked from a process that has
  imported the labs' libraries once (``forkserver.py``); the worker that drives it and records what it does runs
  outside, and writes where the kernel can neither read nor write. A test cell fails on the kernel's execute reply,
  not only on the error it chose to print. Before and after every test cell, ``probe.py`` checks that the
  interpreter's error reporting and execution machinery, the builtins, the library functions tests lean on
  (``torch.allclose``, ``numpy.allclose``, ``math.isclose``, ...) and the package's own modules are the stock ones,
  that no notebook code is hooked around cells, runs in a thread or a process of its own, or overrides how a value
  compares. What it finds scores the cell 0 as ``tampering: <what was found>``, and flags the student in the summary
  table and in ``grades.csv``.
- **No points for delegating to the package.** Each lab names, in its notebook metadata, the package functions that
  solve its exercises (``course_utils.ppo.losses.gae_advantages``, ...). While a test cell runs they raise, and a
  function the test calls that is, copies (its code object) or calls (by name, alias or saved reference) one of them
  earns nothing for that test, with the reason ``delegation: ...``. No test uses a reference as its oracle.
- **No hidden test revealed.** The notebook file with the hidden tests is never visible to the kernel; test cells
  run without being stored in the kernel's history, and their text is dropped from its caches afterwards; the
  feedback shows the released tests only, and every output (tracebacks, and what the student's code printed) loses
  any line of hidden test code as a second line of defence.
- **No process outliving its run.** The kernel is the first process of its PID namespace: when it ends, everything
  it started ends; when the worker ends, the kernel is killed.
- **No access to other students or the gradebook.** The course folder, the input, the solutions and every other
  submission are hidden from the kernel; there is no network.

What it does not guarantee:

- The checks run inside the student's interpreter, since that is where the student's functions live. Code written
  to deceive the checks themselves (restoring the stock machinery for the grader's requests and swapping it back
  for the tests, rewriting memory through ``ctypes``, or compiling its code under a library's file name) can go
  unseen; it must be written for this grader on purpose, and stays in the handed-in notebook, which the instructor
  keeps in ``autograded/``.
- A function that computes the reference's answer by running the reference's source it read from the package's files
  at call time is not caught.
- A test is only as strong as what it checks: a hard-coded answer to the visible inputs passes the visible tests.
- CPU share (a submission may use every core until its time is up) and world-readable files elsewhere on the machine
  (``/etc``) are not isolated; without user namespaces (some containers) nothing is, and the summary says so.
"""
