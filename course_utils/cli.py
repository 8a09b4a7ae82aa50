"""The `course` command: `course train` for anyone (a lab's method on your own data, ``recipes``: it needs only the
base install), and the instructor's release, demo, grade, merge and export (``instructor``), run from the course
repository.

Importing this module imports nothing beyond the standard library and the two rooms' command-line definitions, so
that `course --help` and `course train` start without the instructor's extra installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .instructor.cli import add_instructor_commands, run_instructor_command
from .recipes.command import add_train_arguments


def build_parser() -> argparse.ArgumentParser:
    """The `course` command line: release, demo, grade, merge, export and train."""
    parser = argparse.ArgumentParser(
        prog="course", description="Release, run and grade the course's labs; train with their methods on your data."
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course repository (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    add_instructor_commands(commands)
    train = commands.add_parser("train", help="train with a lab's method on your files (sft, reward, ppo, dpo)")
    add_train_arguments(train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `course` console script. Exit status 1 means the tooling broke, not that students failed."""
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from .recipes.command import train_command

        return train_command(args)
    return run_instructor_command(args, args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
