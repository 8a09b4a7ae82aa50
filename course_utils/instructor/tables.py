"""Plain-text tables for the `course` command's summaries."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, separated by ``|``, with a rule under the header.

    >>> print(text_table(["lab", "score"], [["lab1", "11 / 11"]]))
    lab  | score
    -----+--------
    lab1 | 11 / 11
    """
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
