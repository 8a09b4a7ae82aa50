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
  run without being stored in the kernel's history; a hidden test's checks run in the checker only; the feedback
  shows the released tests only, and every output (tracebacks, and what the student's own code printed) loses any
  line of hidden test code as a second line of defence.
- **Verdicts the student's code cannot reach.** Every test cell marks where its checks begin (``cells.py``:
  ``### CHECK`` and ``### CALL``; a lab with a test cell that does not is refused). The cell's calls run in the
  kernel and its checks in ``checker.py``, a process outside the sandbox forked before any submission ran; the worker
  hands values between them as data only (``data.py``), and the cell's points are the checks' verdict alone: a forged
  execute reply, a patched library or a value whose ``==`` says yes changes nothing. A hidden part draws its inputs
  from a seed the kernel never sees and compares with the references in the checker. A trained model crosses as its
  weights, which the check puts in the lab's model and measures on data it loads itself
  (``course_utils.checks.model_weights``); a check's ``profile`` is the checker's own.
- **References absent, not detected.** The kernel's package is a view in which the lab's reference implementations
  (notebook metadata ``course.references``) raise and their code exists nowhere (``package_view.py``): no copy,
  wrapper or restored code object of one can be made there.

What stays out of reach: a test is only as strong as what it checks. A hard-coded answer to the visible inputs passes
the visible tests; a trained model is judged by the weights the kernel hands over, so weights trained elsewhere (or
a reference model the student's code chose) pass a training target when they are good enough; a student who copies
a solution's text from elsewhere is out of scope. CPU share (a submission may use every core until its time is up)
is not isolated; without user namespaces (some containers) nothing is, and the summary says so.
"""
