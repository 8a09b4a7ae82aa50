"""What one submission may use (`course grade`'s options): no imports beyond the standard library, so that the
`course` command starts without the instructor extra (`course train` is for learners)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    wall_seconds: float = 900.0
    cell_seconds: int = 300
    memory_mb: int = 6144  # address space: a lab's kernel maps about 2-4 GB
    file_mb: int = 200  # largest file it may write
    disk_mb: int = 1024  # all it may write: its home is a folder in memory of this size
    output_bytes: int = 100_000  # outputs kept per cell, every kind counted (a plot's image is some 30-80 kB)
    notebook_output_bytes: int = 4_000_000  # outputs kept for the whole notebook

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"{name.replace('_', '-')} must be positive, not {value}.")


def default_workers(cores: int | None = None) -> int:
    """Submissions run at once unless told: two more than the cores (this machine's, or ``cores``).

    A notebook is not always computing: its kernel starts, it waits for its checks, a cell waits out its time limit in
    a sleep or ``input()``. And a cell stuck in a loop until its limit takes its share of the cores for the whole
    limit: ``cores / workers`` of a core, less the more notebooks run beside it. The extra two use that time: on 2
    cores they grade the benchmark's class sooner than one extra does (``benchmarks/grading.py --workers`` compares
    the counts); on many cores they change little. Grade-profile cells take seconds, far from the cell limit, so
    sharing a core costs no points.
    """
    return (cores or os.cpu_count() or 1) + 2
