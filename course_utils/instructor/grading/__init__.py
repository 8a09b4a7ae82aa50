"""`course grade`: robust, parallel, isolated autograding of a class's submitted notebooks, on top of nbgrader.

Its threat model and what it guarantees are in ``docs/grading.md``. One module per step of the pipeline
(``grade.py`` runs them in order): ``submissions.py`` collects the files, ``repair.py`` puts their grading cells
back as released, ``sandbox.py`` runs each in a kernel of its own (``isolation.py`` enters the namespaces,
``forkserver.py`` forks kernels with the libraries imported, ``package_view.py`` hides the lab's references) driven
by ``worker.py``, which hands data (``data.py``) between a test cell's calls in the kernel and its checks in
``checker.py``; ``scoring.py`` turns the checks' verdicts into points, ``gradebook.py`` records them in nbgrader's
gradebook, ``feedback.py`` and ``exports.py`` write what students and instructors read, each file whole or not at
all (``durable.py``: a stopped class resumes). ``shards.py`` splits a class across machines and merges the shards;
``lms.py`` reads an LMS's names and writes its grade import and feedback zips. ``cells.py`` is the vocabulary they
share; ``simulate.py`` makes good, broken and tampered notebooks to try it on.
"""
