"""What one submission may use (`course grade`'s options): no imports beyond the standard library, so that the
`course` command starts without the instructor extra (`course train` is for learners)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    wall_seconds: float = 900.0
    cell_seconds: int = 300
    memory_mb: int = 6144  # address space: a lab's kernel maps about 2-4 GB
    file_mb: int = 200  # largest file it may write
    output_bytes: int = 100_000  # printed output kept per cell
