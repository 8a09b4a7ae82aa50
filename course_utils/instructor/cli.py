"""The instructor's `course` commands, run from the course repository: release, demo and grade (``course_utils.cli``
puts them beside `course train`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grading.limits import Limits, default_workers
from .grading.submissions import DEFAULT_PATTERN


def add_instructor_commands(commands: argparse._SubParsersAction) -> None:
    """The subcommands release, demo and grade, added to the `course` command line."""
    release = commands.add_parser("release", help="regenerate labs/ from solutions/ with nbgrader")
    release.add_argument("labs", nargs="*", help="labs to release (default: all)")

    demo = commands.add_parser("demo", help="run every lab in the tiny profile, grade the results, print a table")
    demo.add_argument("--build", type=Path, default=None, help="output folder (default: <root>/build)")
    demo.add_argument("--jobs", type=int, default=1, help="labs run at once (each gets its share of the cores)")
    demo.add_argument("--grade", nargs="+", default=[], metavar="LAB", help="grade only these labs (default: all)")
    demo.add_argument(
        "--profile", choices=("tiny", "grade"), default="tiny", help="run the labs in this profile (grade: fewer steps)"
    )

    grade = commands.add_parser(
        "grade",
        help="grade a class's notebooks: repair, run each in a sandbox in parallel, score, feedback, export",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    grade.add_argument("submissions", type=Path, help="a folder of notebooks, or an LMS zip export")
    grade.add_argument("--labs", nargs="+", default=[], help="labs to grade (default: every lab)")
    grade.add_argument("--course-dir", type=Path, default=None, help="where grades go (default: the repository)")
    grade.add_argument("--pattern", default=DEFAULT_PATTERN, help="file-name regex with groups student and lab")
    grade.add_argument("--workers", type=int, default=default_workers(), help="submissions run at once")
    defaults = Limits()
    grade.add_argument("--wall-seconds", type=float, default=defaults.wall_seconds, help="time for one notebook")
    grade.add_argument("--cell-seconds", type=int, default=defaults.cell_seconds, help="time for one cell")
    grade.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="address space for one notebook")
    grade.add_argument("--disk-mb", type=int, default=defaults.disk_mb, help="what one notebook may write, in all")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_instructor_command(args: argparse.Namespace, root: Path) -> int:
    """Run release, demo or grade; the exit status (1: the tooling broke, not that students failed)."""
    if args.command == "release":
        from .release import release

        for path in release(root, args.labs or None):
            print(f"released {path.relative_to(root)}")
        return 0
    if args.command == "demo":
        from .demo import format_table, run_demo

        build = (args.build or root / "build").resolve()
        runs = run_demo(root, build, args.jobs, args.grade, args.profile)
        print()
        print(format_table(runs))
        print(f"\nGraded with `course grade`: gradebook, feedback pages and CSV exports in {build / 'grading'}")
        return 0 if all(run.score == run.max_score for run in runs if run.score is not None) else 1
    return grade(args, root)


def grade(args: argparse.Namespace, root: Path) -> int:
    """`course grade`: grade the class, print the summary; 1 when grading broke or found nothing to grade."""
    from .grading.grade import GradeConfig, format_summary, grade_class

    course_dir = (args.course_dir or root).resolve()
    try:
        seconds = {"wall_seconds": args.wall_seconds, "cell_seconds": args.cell_seconds}
        limits = Limits(**seconds, memory_mb=args.memory_mb, disk_mb=args.disk_mb)
        config = GradeConfig(course_dir, tuple(args.labs), args.pattern, args.workers, limits)
        grades = grade_class(root, args.submissions.resolve(), config, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 1
    print(format_summary(grades, course_dir))
    if not grades.graded:
        print("course grade: no submission found; check the file names against --pattern.", file=sys.stderr)
        return 1
    return 1 if grades.broken else 0
