"""`course grade` end to end: one class of real lab notebooks, good and bad, graded once in parallel sandboxes.

Every student below is one way a submission can go wrong (or right), by accident or on purpose: the tampering found on
the real labs is here (an exception handler, a replaced ``showtraceback``, a process rewriting the grader's files,
wrappers around the PPO references, code that prints the hidden tests); the other vectors are in
``test_grading_tampering.py``. Each test pins the exact score and the recorded reason, and checks that nobody else's
grade moved and that the gradebook is intact.
"""

from __future__ import annotations

import csv
import html
import re
import sqlite3
import subprocess
from pathlib import Path

import nbformat
import pytest
from conftest import LABS, ROOT, read_release, read_solution
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.cells import grading_info, is_test, segments
from course_utils.instructor.grading.feedback import hidden_lines
from course_utils.instructor.grading.grade import GradeConfig, grade_class
from course_utils.instructor.grading.gradebook import gradebook_url
from course_utils.instructor.grading.limits import Limits
from course_utils.instructor.grading.repair import Repair
from course_utils.instructor.grading.worker import TRUNCATED

LAB = "lab2_reward_modeling"  # the lab every misbehaving student hands in
MAX = 13.0
# Generous for the grade profile's longest cell (about 10 s), short enough that a hung cell is cut quickly.
# The stuck case waits out the cell limit; an honest training cell (Lab 4's) takes up to 42 s while `make test` loads
# both cores, so the limit leaves it twice that.
LIMITS = Limits(wall_seconds=400, cell_seconds=90)

# The graded cells of each lab, by nbgrader id: a renamed or lost test cell must fail loudly, not grade as absent.
GRADED_CELLS = {
    "lab1_instruction_tuning": {
        "test_format_prompt",
        "test_completion_only_labels",
        "test_matches_trl",
        "test_trainer",
        "test_extract_response",
        "test_training_target",
        "test_load_tuned_model",
        "test_filter_logits",
    },
    "lab2_reward_modeling": {
        "test_format_conversation",
        "test_split_by_prompt",
        "test_bradley_terry_loss",
        "test_matches_trl",
        "test_reward_scores",
        "test_trainer",
        "test_pairwise_accuracy",
        "test_training_target",
        "test_plot_reward_against_length",
    },
    "lab3_ppo_sentiment": {
        "test_reinforce_gradient",
        "test_toy_policy_learns",
        "test_build_queries",
        "test_positive_logits",
        "test_kl_penalised_rewards",
        "test_gae_advantages",
        "test_clipped_policy_loss",
        "test_clipped_value_loss",
        "test_training",
        "test_training_target",
        "test_control_rewards",
        "test_control_training_target",
    },
    "lab4_dpo": {
        "test_to_preference_strings",
        "test_sequence_logprobs",
        "test_dpo_loss",
        "test_matches_trl",
        "test_ipo_loss",
        "test_trainer",
        "test_training_target",
        "test_plot_dpo_history",
        "test_load_policy",
    },
    "lab5_verifiable_rewards": {
        "test_extract_answer",
        "test_pass_at_k",
        "test_advantages",
        "test_grpo_loss",
        "test_matches_trl",
        "test_training_target",
        "test_select_verified",
        "test_calculate",
        "test_loss_mask",
        "test_hack_rate",
    },
    "lab6_rlhf_capstone": {
        "test_label_pairs",
        "test_best_of_n",
        "test_measured_best_of_n_kl",
        "test_normalise",
        "test_rlhf_loop",
        "test_training_target",
        "test_discordance",
        "test_fit_gao",
        "test_balanced_win_rate",
    },
}

WRONG_FORMAT = """def format_conversation(prompt: str, response: str) -> str:
    return f"Human: {prompt}\\nAssistant: {response}"
"""
WRONG_FORMAT_REASON = "AssertionError: Unexpected text: 'Human: How do I boil an egg?\\nAssistant: Put it in water.'"
WRONG_ACCURACY = "def pairwise_accuracy(chosen_rewards, rejected_rewards):\n    return 1.0\n"
WRONG_ACCURACY_REASON = "AssertionError: Two of four pairs are won (a tie is not a win): expected 0.5, got 1.0."
NOISY_FORMAT = """import sys
import warnings

from tqdm import tqdm


def format_conversation(prompt: str, response: str) -> str:
    print("formatting one conversation", file=sys.stderr)
    warnings.warn("this function is slow", UserWarning)
    for _ in tqdm(range(3), disable=False):
        pass
    return f"Human: {prompt}\\n\\nAssistant: {response}"
"""
# Never returns on the visible test's four pairs, idly (a busy loop would burn a core for the whole cell limit;
# test_grading_sandbox has one). On the lab's own scores it answers: one cell waits out the limit, not two.
LOOPING_ACCURACY = (
    "import time\n\n\ndef pairwise_accuracy(chosen_rewards, rejected_rewards):\n"
    "    while len(chosen_rewards) == 4:\n        time.sleep(1)\n"
    "    return (chosen_rewards > rejected_rewards).float().mean().item()\n"
)
CRASH = "import os\n\nos._exit(1)\n"
HOARDING_SCORES = (
    "def reward_scores(model, tokenizer, texts, batch_size=32):\n    hoard = [bytearray(2**30) for _ in range(64)]\n"
)
FLOOD = "for i in range(30_000):\n    print(i)\n"  # 168,890 characters: past the 100 kB a cell keeps
KERNEL_DIED = "the kernel died (os._exit, a crash or the memory limit)"
INTERRUPTED = "interrupted: the cell ran past its time limit"
# Lab 3 solved, but its three PPO functions are one-line wrappers around the package's reference implementations.
LAB3 = "lab3_ppo_sentiment"
# The idle student's untouched release of this lab carries every line of tampering: errors hidden from the execute
# reply, and a process of its own rewriting the grader's files.
TAMPERED = "lab6_rlhf_capstone"
# Learners re-run cells: the solver's notebook of this lab runs its training cell twice in a row.
TRAINED_TWICE = "lab4_dpo"
WRAPPERS = {
    "kl_penalised_rewards": "from course_utils.ppo import losses\n\n\n"
    "def kl_penalised_rewards(*args, **kwargs):\n    return losses.kl_penalised_rewards(*args, **kwargs)\n",
    "gae_advantages": "import importlib\n\n\ndef gae_advantages(*args, **kwargs):\n"
    '    return getattr(importlib.import_module("course_utils.ppo.losses"), "gae_advantages")(*args, **kwargs)\n',
    "clipped_policy_loss": "from course_utils.ppo.losses import clipped_policy_loss as reference\n\n\n"
    "def clipped_policy_loss(*args, **kwargs):\n    return reference(*args, **kwargs)\n",
}


def hostile_code(course_dir: Path) -> str:
    """A cell that tries everything it must not manage, and prints what happened."""
    return f"""import glob
import os
import socket


def attempt(what, action):
    try:
        result = action()
    except OSError as error:
        result = type(error).__name__
    else:
        result = "LEAKED" if result else "nothing"
    print(f"{{what}}: {{result}}")


mine = "../" + os.path.basename(os.getcwd())
attempt("other sandboxes", lambda: [path for path in glob.glob("../*/*.ipynb") if not path.startswith(mine)])
attempt("other submission", lambda: open({str(course_dir / "submitted" / "solver" / LAB / f"{LAB}.ipynb")!r}).read())
attempt("gradebook", lambda: open({str(course_dir / "gradebook.db")!r}, "rb").read())
attempt("solutions", lambda: open({str(ROOT / "solutions" / LAB / f"{LAB}.ipynb")!r}).read())
attempt("write outside", lambda: open({str(course_dir / "planted.txt")!r}, "w").write("pwned"))
attempt("write the gradebook", lambda: open({str(course_dir / "gradebook.db")!r}, "ab").write(b"pwned"))
attempt("network", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3))
graded = {str(course_dir / "autograded" / "solver" / LAB / f"{LAB}.ipynb")!r}
attempt("another's graded notebook", lambda: open(graded, "w").write("x"))
"""


def build_class(inbox: Path, course_dir: Path) -> None:
    """Write every student's notebook into ``inbox``, named as an LMS would (the hostile one targets ``course_dir``)."""
    release, source = read_release(LAB), read_solution(LAB)
    good = simulate.solved(release, source)
    wrong_format = simulate.with_source(good, "format_conversation", WRONG_FORMAT)
    notebooks = {  # besides "solver" (correct) and "idle" (the untouched release), who hand in every lab
        # Two wrong answers; one test cell edited to pass, another deleted, one's points raised, one's graded flag
        # cleared.
        "edited": simulate.with_grading(
            simulate.with_grading(
                simulate.without_cell(
                    simulate.with_source(
                        simulate.with_source(wrong_format, "test_format_conversation", "pass"),
                        "pairwise_accuracy",
                        WRONG_ACCURACY,
                    ),
                    "test_pairwise_accuracy",
                ),
                "test_reward_scores",
                points=100,
            ),
            "test_trainer",
            grade=False,
        ),
        # One answer never returns on its test, another asks for 64 GB, the last ends its kernel.
        "stuck": simulate.with_source(
            simulate.with_source(
                simulate.with_source(good, "pairwise_accuracy", LOOPING_ACCURACY), "reward_scores", HOARDING_SCORES
            ),
            "plot_reward_against_length",
            CRASH,
        ),
        # Writes to stderr, warns and draws a progress bar in an answer; floods the output in a cell of its own;
        # reaches for what it must not, then prints what it can find of the tests (the grader left nothing).
        "hostile": simulate.with_cell_after(
            simulate.with_cell_after(
                simulate.with_source(good, "format_conversation", NOISY_FORMAT), "test_format_conversation", FLOOD
            ),
            "test_format_conversation",
            hostile_code(course_dir) + "\n" + simulate.PRINT_TESTS,
        ),
    }
    inbox.mkdir()
    for student, notebook in notebooks.items():
        nbformat.write(notebook, inbox / f"{student}_{LAB}.ipynb")
    (inbox / f"garbled_{LAB}.ipynb").write_text('{"cells": [')  # a download cut short
    wrapped = simulate.solved(read_release(LAB3), read_solution(LAB3))
    for name, wrapper in WRAPPERS.items():
        wrapped = simulate.with_source(wrapped, name, wrapper)
    nbformat.write(wrapped, inbox / f"wrappers_{LAB3}.ipynb")
    for lab in LABS:  # every lab, solved and untouched
        if lab == LAB:  # saved by Colab (its JSON layout, an LMS's file name) after the grading metadata was lost
            (inbox / f"solver_1234_{LAB} (1).ipynb").write_text(simulate.as_colab_saves_it(simulate.stripped(good)))
        else:
            solved = simulate.solved(read_release(lab), read_solution(lab))
            nbformat.write(trained_twice(solved) if lab == TRAINED_TWICE else solved, inbox / f"solver_{lab}.ipynb")
        untouched = read_release(lab)
        if lab == TAMPERED:
            untouched = simulate.with_first_answer(untouched, "\n".join(simulate.TAMPERING.values()))
        nbformat.write(untouched, inbox / f"idle_{lab}.ipynb")


def training_cell(notebook: nbformat.NotebookNode) -> int:
    return next(i for i, cell in enumerate(notebook.cells) if "train(trainer)" in cell.source)


def trained_twice(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its training cell run again right after the first time, as a learner would."""
    index = training_cell(notebook)
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(notebook.cells[index].source))
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once: (its grades by student and lab, the course folder)."""
    base = tmp_path_factory.mktemp("class")
    course_dir = base / "course"
    build_class(base / "inbox", course_dir)
    grades = grade_class(ROOT, base / "inbox", GradeConfig(course_dir, limits=LIMITS), progress=False)
    assert grades.isolated and not grades.broken
    return {(lab.student, lab.lab): lab for lab in grades.graded}, course_dir


# student -> (points, how the run ended, {question: (status, reason)} for every question that lost points)
EXPECTED = {
    "edited": (
        11.0,
        "ok",
        {
            "test_format_conversation": ("failed", WRONG_FORMAT_REASON),
            "test_pairwise_accuracy": ("failed", WRONG_ACCURACY_REASON),
        },
    ),
    "stuck": (
        9.0,
        "kernel died",
        {
            "test_pairwise_accuracy": ("failed", INTERRUPTED),
            "test_reward_scores": ("failed", "MemoryError"),
            "test_plot_reward_against_length": ("not run", KERNEL_DIED),
        },
    ),
    "hostile": (MAX, "ok", {}),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_case_gets_its_exact_score_and_reasons(graded, student):
    grades, _ = graded
    lab = grades[(student, LAB)]
    points, status, lost = EXPECTED[student]
    assert (lab.points, lab.max_points, lab.status) == (points, MAX, status)
    assert {r.question: (r.status, r.reason) for r in lab.results if r.points < r.max_points} == lost


def test_tampering_with_the_kernel_changes_no_verdict(graded):
    """Hiding the errors from the execute reply and rewriting the grader's files from a process of its own earn the
    untouched release nothing more, for the same reasons as without: the verdicts are the checks'."""
    lab = graded[0][("idle", TAMPERED)]
    assert (lab.points, lab.status) == (0.0, "ok")
    assert {r.question: (r.status, r.reason) for r in lab.results} == {
        **dict.fromkeys(GRADED_CELLS[TAMPERED] - {"test_training_target"}, ("failed", "NotImplementedError")),
        "test_training_target": ("failed", "NameError: name 'proxy_model' is not defined"),  # no pairs, no proxy
    }


def test_a_file_that_is_not_a_notebook_scores_zero_with_the_reason(graded):
    grades, _ = graded
    lab = grades[("garbled", LAB)]
    assert (lab.points, lab.max_points, lab.status) == (0.0, MAX, "unreadable")
    reason = "the file is not a readable notebook (NotJSONError)"
    assert {(r.status, r.reason) for r in lab.results} == {("not run", reason)}


def test_untouched_release_scores_zero_on_every_question(graded):
    grades, _ = graded
    for lab in LABS:
        results = grades[("idle", lab)].results
        assert [r.points for r in results] == [0.0] * len(results) and all(r.status == "failed" for r in results)
    reasons = {r.question: r.reason for r in grades[("idle", LAB)].results}
    assert reasons["test_bradley_terry_loss"] == "NotImplementedError"
    assert reasons["test_trainer"] == "NameError: name 'trainer' is not defined"


def test_every_lab_solved_gets_full_marks_on_its_own_graded_cells(graded):
    grades, _ = graded
    assert set(LABS) == set(GRADED_CELLS)
    for lab in LABS:
        results = grades[("solver", lab)].results
        assert {r.question for r in results} == GRADED_CELLS[lab], lab
        assert all(r.points == r.max_points > 0 for r in results), [r for r in results if r.points < r.max_points]


def test_the_grade_profile_keeps_test_cells_free_of_stderr(graded):
    """An instructor grading with plain nbgrader would lose these points: the grade profile must stay silent."""
    _, course_dir = graded
    for lab in LABS:
        notebook = nbformat.read(course_dir / "autograded" / "solver" / lab / f"{lab}.ipynb", as_version=4)
        noisy = [
            grading_info(cell)["grade_id"]
            for cell in notebook.cells
            if is_test(cell) and any(output.get("name") == "stderr" for output in cell.outputs)
        ]
        assert noisy == [], f"{lab}: stderr in {noisy}"


def test_what_was_repaired_is_recorded_per_student(graded):
    grades, _ = graded
    repairs = {student: grades[(student, LAB)].repairs for student in [*EXPECTED, "solver"]}
    assert repairs["hostile"] == [] and all(grades[("solver", lab)].repairs == [] for lab in LABS if lab != LAB)
    assert repairs["edited"] == [
        Repair("test_format_conversation", "replaced an edited test cell with the original"),
        Repair("test_reward_scores", "restored points (100 -> 1)"),
        Repair("test_trainer", "restored graded flag (False -> True)"),
        Repair("test_pairwise_accuracy", "restored a deleted test cell"),
    ]
    graded_cells = [grading_info(cell)["grade_id"] for cell in read_release(LAB).cells if grading_info(cell)]
    assert repairs["solver"] == [Repair(cell, "restored lost grading metadata") for cell in graded_cells]  # Colab's


def autograded(course_dir: Path, student: str) -> nbformat.NotebookNode:
    return nbformat.read(course_dir / "autograded" / student / LAB / f"{LAB}.ipynb", as_version=4)


def outputs_of(notebook: nbformat.NotebookNode, needle: str) -> str:
    """The printed text of the first cell whose source contains ``needle``."""
    cell = next(cell for cell in notebook.cells if needle in cell.source)
    return "".join(output.get("text", "") for output in cell.outputs)


def test_hostile_code_reached_nothing(graded):
    _, course_dir = graded
    printed = outputs_of(autograded(course_dir, "hostile"), "def attempt")
    assert printed.splitlines()[:8] == [
        "other sandboxes: nothing",
        "other submission: FileNotFoundError",
        "gradebook: FileNotFoundError",
        "solutions: FileNotFoundError",
        "write outside: FileNotFoundError",
        "write the gradebook: FileNotFoundError",
        "network: OSError",
        "another's graded notebook: FileNotFoundError",
    ]
    assert not (course_dir / "planted.txt").exists()
    assert [line for line in hidden_check_lines(LAB) if line in printed] == []  # the kernel never held a hidden check


def hidden_check_lines(lab: str) -> list[str]:
    """The lines of a lab's hidden checks (its hidden calls run in the kernel, by design) the release does not show."""
    released = {line.strip() for cell in read_release(lab).cells for line in cell.source.splitlines()}
    lines = []
    for cell in read_solution(lab).cells:
        if is_test(cell):
            calls = {
                line.strip() for part in segments(cell.source) if not part.check for line in part.code.splitlines()
            }
            lines += [line for line in hidden_lines(cell.source) if line not in calls | released]
    assert lines, f"{lab} should have hidden checks"
    return lines


def test_no_process_outlives_its_run(graded):
    assert subprocess.run(["pgrep", "-f", simulate.REWRITER_MARKER], capture_output=True).stdout == b""


def test_wrappers_around_the_references_find_nothing_to_wrap(graded):
    """Lab 3's references do not exist in its kernel: a wrapper fails its test, and the training that needs it."""
    grades, _ = graded
    lab = grades[("wrappers", LAB3)]
    absent = (
        "NotImplementedError: course_utils.ppo.losses.{} is the package's own solution to an exercise: it does not"
        " exist while your lab is graded"
    )
    assert {r.question: r.reason for r in lab.results if r.points < r.max_points} == {
        "test_kl_penalised_rewards": absent.format("kl_penalised_rewards"),
        # getattr on an imported module, by name: no trace in the code, and still nothing there
        "test_gae_advantages": absent.format("gae_advantages"),
        "test_clipped_policy_loss": absent.format("clipped_policy_loss"),
        "test_training": "AssertionError: Expected 10 PPO steps, got 0.",
        # nothing trained: the tuned weights are the untuned ones, measured on the same openings with the same seed
        "test_training_target": "AssertionError: The tuned policy earns 0.29, the untuned one 0.29: check your"
        " training.",
        "test_control_training_target": "AssertionError: [negative]: the tuned policy earns +1.29, the reference"
        " +1.29.",
    }
    assert (lab.points, lab.max_points) == (11.0, 21.0)  # the exercises written, the toy policy's run


def test_a_flood_of_output_is_cut_in_the_graded_notebook(graded):
    _, course_dir = graded
    printed = outputs_of(autograded(course_dir, "hostile"), "range(30_000)")
    assert printed.startswith("0\n1\n2\n") and printed.endswith(TRUNCATED)
    assert len(printed) <= LIMITS.output_bytes + len(TRUNCATED)


def test_stderr_that_would_cost_the_points_under_nbgrader_costs_nothing(graded):
    _, course_dir = graded
    notebook = autograded(course_dir, "hostile")
    test = next(cell for cell in notebook.cells if grading_info(cell).get("grade_id") == "test_format_conversation")
    assert any(output.get("name") == "stderr" for output in test.outputs)
    assert determine_grade(test) == (0, 1.0)  # what nbgrader's autograde would have given


def test_the_gradebook_holds_every_score_and_is_intact(graded):
    grades, course_dir = graded
    database = course_dir / "gradebook.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Gradebook(gradebook_url(database)) as book:
        for (student, lab), graded_lab in grades.items():
            submission = book.find_submission(lab, student)
            assert (submission.score, submission.max_score) == (graded_lab.points, graded_lab.max_points)
        assert len(book.students) == len({student for student, _ in grades})


def test_exports_have_a_row_per_question_and_per_lab(graded):
    grades, course_dir = graded
    with (course_dir / "exports" / "grades_by_question.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(len(lab.results) for lab in grades.values())
    stuck = [row for row in rows if row["student"] == "stuck" and row["status"] != "passed"]
    _, _, lost = EXPECTED["stuck"]
    assert {(row["question"], row["reason"]) for row in stuck} == {(q, reason) for q, (_, reason) in lost.items()}
    with (course_dir / "exports" / "grades.csv").open() as handle:
        totals = {(row["student"], row["lab"]): float(row["points"]) for row in csv.DictReader(handle)}
    assert totals == {key: lab.points for key, lab in grades.items()}


def test_feedback_shows_no_hidden_test(graded):
    grades, course_dir = graded
    released = {line.strip() for cell in read_release(LAB).cells for line in cell.source.splitlines()}
    hidden = [line for cell in read_solution(LAB).cells if is_test(cell) for line in hidden_lines(cell.source)]
    hidden = [line for line in hidden if line not in released]  # "import torch" is no secret
    assert hidden, "lab 2 should have hidden tests"
    for student in ("edited", "idle", "hostile"):
        page = (course_dir / "feedback" / student / LAB / f"{LAB}.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert [line for line in hidden if line in text] == [], student
        assert f"Score: {grades[(student, LAB)].points:g} / {MAX:g}" in text


def test_grading_again_is_idempotent(graded, tmp_path):
    """Grading one student again changes nothing else: same scores in the gradebook, everyone still exported.

    The student handed in the same unreadable file again: recorded as before, without starting a kernel."""
    grades, course_dir = graded
    before = gradebook_rows(course_dir)
    inbox = tmp_path / "late"
    inbox.mkdir()
    (inbox / f"garbled_{LAB}.ipynb").write_text('{"cells": [')
    again = grade_class(ROOT, inbox, GradeConfig(course_dir, labs=(LAB,), limits=LIMITS), progress=False)
    assert [(lab.student, lab.points) for lab in again.graded] == [("garbled", 0.0)]
    assert gradebook_rows(course_dir) == before
    with (course_dir / "exports" / "grades.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(grades)


def gradebook_rows(course_dir: Path) -> list[tuple]:
    with sqlite3.connect(course_dir / "gradebook.db") as connection:
        return connection.execute("SELECT * FROM grade ORDER BY id").fetchall()


def test_running_a_training_cell_twice_trains_the_untuned_model_again(graded):
    """The second run of Lab 4's training cell measures and trains the same untuned policy as the first."""
    _, course_dir = graded
    notebook = nbformat.read(course_dir / "autograded" / "solver" / TRAINED_TWICE / f"{TRAINED_TWICE}.ipynb", 4)
    index = training_cell(notebook)
    first, second = (
        "".join(output.get("text", "") for output in notebook.cells[i].outputs if output.get("name") == "stdout")
        for i in (index, index + 1)
    )
    assert "back to their untuned values" not in first
    assert "back to their untuned values" in second
    result = re.compile(r"held-out reward accuracy .*")
    # The same baseline and the same training: a run that went on from the tuned policy would start far higher.
    assert result.search(second).group() == result.search(first).group()
