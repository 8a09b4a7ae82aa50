"""The instructor's `course` commands, run from the course repository: release, demo, grade, merge and export
(``course_utils.cli`` puts them beside `course train`)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .grading.limits import Limits, default_workers
from .grading.submissions import DEFAULT_PATTERN

LMS_NAMES = ("canvas", "moodle")

# The exit status of a command stopped by Ctrl-C, as a shell reports it (128 + SIGINT).
INTERRUPTED = 128 + signal.SIGINT


def add_instructor_commands(commands: argparse._SubParsersAction) -> None:
    """The subcommands release, demo, grade, merge and export, added to the `course` command line."""
    release = commands.add_parser("release", help="regenerate labs/ from solutions/ with nbgrader")
    release.add_argument("labs", nargs="*", help="labs to release (default: all)")
    release.add_argument(
        "--package",
        help="what every lab installs on Colab, pinned: 'align-course @ git+https://github.com/OWNER/REPO@TAG' or "
        "'align-course==VERSION' (saved in course.toml; default: the one saved there)",
    )

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
    grade.add_argument(
        "--lms",
        choices=LMS_NAMES,
        default=None,
        help="the files are an LMS's download: read the student from its names (Canvas user id, Moodle participant id)",
    )
    grade.add_argument("--workers", type=int, default=default_workers(), help="submissions run at once")
    defaults = Limits()
    grade.add_argument("--wall-seconds", type=float, default=defaults.wall_seconds, help="time for one notebook")
    grade.add_argument("--cell-seconds", type=int, default=defaults.cell_seconds, help="time for one cell")
    grade.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="address space for one notebook")
    grade.add_argument("--disk-mb", type=int, default=defaults.disk_mb, help="what one notebook may write, in all")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument(
        "--shard",
        default="1/1",
        metavar="K/N",
        help="grade the K-th of N shares of the class (by student), in a --course-dir of its own; then `course merge`",
    )

    merge = commands.add_parser(
        "merge", help="merge the course folders of a class graded in shards (course grade --shard) into one"
    )
    merge.add_argument("shards", type=Path, nargs="+", help="the shards' --course-dir folders")
    merge.add_argument("--course-dir", type=Path, required=True, help="where the merged grades go (a new folder)")

    export = commands.add_parser(
        "export",
        help="grades and feedback back into the LMS: its grade-import CSV and a feedback zip per lab",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    export.add_argument("--lms", choices=LMS_NAMES, required=True, help="the LMS the submissions came from")
    export.add_argument("--roster", type=Path, required=True, help="the LMS's gradebook export (CSV) of the class")
    export.add_argument("--course-dir", type=Path, default=None, help="the graded class (default: the repository)")
    export.add_argument(
        "--missing", choices=("blank", "zero"), default="blank", help="the grade of a roster student with no submission"
    )
    export.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="LAB=TITLE",
        help="the roster column a lab's grades go in, e.g. 'lab1_instruction_tuning=Lab 1 (4321)' (default: a column "
        "named after the lab, else a new one)",
    )
    export.add_argument(
        "--moodle-key", default="Email address", help="Moodle: the roster column the import is keyed by"
    )


def run_instructor_command(args: argparse.Namespace, root: Path) -> int:
    """Run release, demo, grade, merge or export; the exit status (1: the tooling broke, not that students failed)."""
    if args.command == "release":
        from .release import release

        try:
            released = release(root, args.labs or None, args.package)
        except ValueError as error:
            print(f"course release: {error}", file=sys.stderr)
            return 1
        for path in released:
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
    if args.command == "merge":
        return merge(args, root)
    if args.command == "export":
        return export(args, root)
    return grade(args, root)


def grade(args: argparse.Namespace, root: Path) -> int:
    """`course grade`: grade the class, print the summary; 1 when grading broke or found nothing to grade."""
    from .grading.grade import GradeConfig, format_summary, grade_class
    from .grading.lms import SUBMISSION_PATTERNS
    from .grading.shards import Shard

    course_dir = (args.course_dir or root).resolve()
    # A scheduler stops a job with SIGTERM (Slurm at its time limit, Kubernetes evicting a pod): stop as on Ctrl-C.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        seconds = {"wall_seconds": args.wall_seconds, "cell_seconds": args.cell_seconds}
        limits = Limits(**seconds, memory_mb=args.memory_mb, disk_mb=args.disk_mb)
        shard = Shard.parse(args.shard)
        pattern = SUBMISSION_PATTERNS[args.lms] if args.lms else args.pattern
        config = GradeConfig(course_dir, tuple(args.labs), pattern, args.workers, limits, shard)
        grades = grade_class(root, args.submissions.resolve(), config, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncourse grade: stopped. What was graded is saved; the same command grades the rest.", file=sys.stderr)
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(format_summary(grades, course_dir))
    if not grades.graded and shard.count > 1:
        print(f"course grade: no student of this class falls in shard {shard}.")  # a small class in many shards
        return 0
    if not grades.graded:
        print("course grade: no submission found; check the file names against --pattern.", file=sys.stderr)
        return 1
    return 1 if grades.broken else 0


def merge(args: argparse.Namespace, root: Path) -> int:
    """`course merge`: combine the shards' course folders; 1 when they cannot be merged."""
    from .grading.shards import merge_shards

    try:
        merged = merge_shards(root, args.shards, args.course_dir)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"course merge: {error}", file=sys.stderr)
        return 1
    students = len({lab.student for lab in merged})
    print(f"Merged {len(args.shards)} shards: {len(merged)} graded notebooks of {students} students.")
    print(f"Gradebook, feedback and exports in {args.course_dir.resolve()}")
    return 0


def export(args: argparse.Namespace, root: Path) -> int:
    """`course export`: the LMS's grade-import file and feedback zips; 1 when they cannot be written."""
    from .grading.exports import read_results
    from .grading.lms import export_canvas, export_moodle

    course_dir = (args.course_dir or root).resolve()
    try:
        columns = dict(choice.split("=", 1) for choice in args.column if "=" in choice)
        if len(columns) != len(args.column):
            raise ValueError(f"--column takes LAB=TITLE, not {[c for c in args.column if '=' not in c][0]!r}.")
        graded = read_results(course_dir / "autograded")
        if not graded:
            raise FileNotFoundError(f"No graded notebook in {course_dir}: run `course grade` first.")
        options = {"missing": args.missing, "columns": columns}
        if args.lms == "canvas":
            written = export_canvas(course_dir, graded, args.roster, **options)
        else:
            written = export_moodle(course_dir, graded, args.roster, key=args.moodle_key, **options)
    except (FileNotFoundError, ValueError) as error:
        print(f"course export: {error}", file=sys.stderr)
        return 1
    for line in written.report(args.missing):
        print(line)
    print(f"Grades to import: {written.grades}")
    print(*(f"Feedback to upload: {path}" for path in written.feedback), sep="\n")
    return 0
