"""The order a class's notebooks run in: the heaviest lab first, so that the class does not end on one long notebook.

A class is graded when its last notebook is. Run in the order they were collected (student by student), the last
notebooks may be one student's heaviest labs, each on a core while the other cores wait with nothing to do. Running
the longest jobs first and the shortest last fills those gaps: on ``m`` workers that order (LPT) ends within
``4/3 - 1/(3m)`` of the best possible order, whatever the durations (Graham, "Bounds on multiprocessing timing
anomalies", SIAM J. Appl. Math. 17(2), 1969). Here durations are not known in advance, but the
notebooks of one lab take about as long as each other: so each lab is timed on its first notebook, and from then on
the lab whose notebooks took longest (the median, which one notebook stuck in a loop does not move) goes first.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Sequence


class LongestLabFirst:
    """Hands out job indices, one at a time, from any thread: first one job of each lab not yet started, in the
    order given; then the jobs of labs still untimed (running their first job); then the lab with the longest median.
    """

    def __init__(self, labs: Sequence[str]):
        self.waiting: dict[str, deque[int]] = {}  # each lab's jobs not yet handed out, in the order given
        for index, lab in enumerate(labs):
            self.waiting.setdefault(lab, deque()).append(index)
        self.lab_of = list(labs)
        self.started: set[str] = set()
        self.seconds: dict[str, list[float]] = {}  # each lab's finished jobs' durations
        self.lock = threading.Lock()

    def next(self) -> int | None:
        """The next job to run; None when every job has been handed out."""
        with self.lock:
            labs = [lab for lab, jobs in self.waiting.items() if jobs]
            if not labs:
                return None
            # A lab never started comes first; an untimed one counts as the longest; then the longest median.
            lab = min(labs, key=lambda lab: (lab in self.started, -self.median(lab)))
            self.started.add(lab)
            return self.waiting[lab].popleft()

    def done(self, index: int, seconds: float) -> None:
        """Job ``index`` ended after ``seconds``."""
        with self.lock:
            self.seconds.setdefault(self.lab_of[index], []).append(seconds)

    def median(self, lab: str) -> float:
        """The median duration of the lab's finished jobs (infinite while none has finished)."""
        return statistics.median(self.seconds[lab]) if lab in self.seconds else float("inf")
