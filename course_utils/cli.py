"""The `course` command: instructor tasks run from the course repository."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `course` console script."""
    parser = argparse.ArgumentParser(prog="course", description="Release, run and grade the course's labs.")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course repository (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    release_parser = commands.add_parser("release", help="regenerate labs/ from solutions/ with nbgrader")
    release_parser.add_argument("labs", nargs="*", help="labs to release (default: all)")
    demo_parser = commands.add_parser("demo", help="run every lab in the tiny profile, autograde, print a table")
    demo_parser.add_argument("--build", type=Path, default=None, help="output folder (default: <root>/build)")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    if args.command == "release":
        from .release import release

        for path in release(root, args.labs or None):
            print(f"released {path.relative_to(root)}")
        return 0
    from .demo import format_table, run_demo

    runs = run_demo(root, (args.build or root / "build").resolve())
    print()
    print(format_table(runs))
    return 0 if all(run.score == run.max_score for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
