"""The check before submitting: exact lines on small notebooks of plain Python (a fresh run takes about a second), and
agreement with the grader's repair on a real lab."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import IPython
import nbformat
import pytest
from conftest import LABS, read_release, read_solution, release_path, solution_path

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.repair import repair
from course_utils.notebook import submission
from course_utils.notebook.submission import (
    check_submission,
    find_notebook,
    graded_cells,
    manifest_of,
    read_manifest,
    released_cells,
    submission_report,
)

ANSWER = {"grade": False, "locked": False, "schema_version": 3, "solution": True, "task": False}
TEST = {"grade": True, "locked": True, "schema_version": 3, "solution": False, "task": False}
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()\n"
TEST_DOUBLE = 'assert double(2) == 4, "double(2) should be 4, not " + repr(double(2))\n'
TEST_HALVE = 'assert halve(4) == 2, "halve(4) should be 2"\n'


def cell(kind: str, cell_id: str, source: str, grading: dict | None = None) -> dict:
    """A notebook cell as a file holds it (source as lines)."""
    made = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source.splitlines(keepends=True)}
    if kind == "code":
        made |= {"execution_count": None, "outputs": []}
    if grading:
        made["metadata"]["nbgrader"] = grading
    return made


def released_notebook() -> dict:
    """A small lab as released: two exercises with a test each, the install cell and the check cell."""
    cells = [
        cell("markdown", "intro", "# A small lab"),
        cell(
            "code", "install", 'import sys\n\nif "google.colab" in sys.modules:\n    !pip install "align-course==1.0"\n'
        ),
        cell("code", "setup", "import os\n\nstep = 1\n"),
        cell("code", "double", "def double(n):\n" + STUB, {**ANSWER, "grade_id": "double"}),
        cell("code", "test-double", TEST_DOUBLE, {**TEST, "grade_id": "test_double", "points": 2}),
        cell("code", "halve", "def halve(n):\n" + STUB, {**ANSWER, "grade_id": "halve"}),
        cell("code", "test-halve", TEST_HALVE, {**TEST, "grade_id": "test_halve", "points": 1}),
        cell("markdown", "before-you-submit", "## Before you submit"),
        cell(
            "code",
            "check-submission",
            'from course_utils.notebook.submission import check_submission\n\ncheck_submission("toy")',
        ),
    ]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


RELEASED = released_cells(manifest_of("toy", released_notebook()))


def answered(double: str = "    return 2 * n\n", halve: str = "    return n // 2\n") -> dict:
    """The small lab with both exercises answered (correctly, by default)."""
    notebook = released_notebook()
    notebook["cells"][3]["source"] = ["def double(n):\n", double]
    notebook["cells"][5]["source"] = ["def halve(n):\n", halve]
    return notebook


def test_the_manifest_keeps_each_cell_as_released() -> None:
    assert [(c["cell_type"], c["id"]) for c in RELEASED] == [
        (c["cell_type"], c["id"]) for c in released_notebook()["cells"]
    ]
    graded = graded_cells(RELEASED)
    assert [(c.grade_id, c.kind, c.points, c.id, c.index) for c in graded] == [
        ("double", "answer", None, "double", 3),
        ("test_double", "test", 2, "test-double", 4),
        ("halve", "answer", None, "halve", 5),
        ("test_halve", "test", 1, "test-halve", 6),
    ]
    assert graded[1].source == TEST_DOUBLE and graded[1].nbgrader == {
        **TEST,
        "grade_id": "test_double",
        "points": 2,
    }


def test_all_is_well_after_a_fresh_run_in_the_grade_profile(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    notebook = answered()
    # The grade profile, a magic and a shell line (IPython's), and a file written where the learner's files are not.
    notebook["cells"][2]["source"] = [
        "import os\n",
        'assert os.environ["NBGRADER_EXECUTION"] == "autograde" and not os.environ["COURSE_PROFILE"]\n',
        "%env STEP=1\n",
        "!true\n",
        'open("written.txt", "w").write("x")\n',
    ]
    assert submission_report(notebook, RELEASED) == [
        "All is well: every graded cell is answered and as released, nothing raised, and the 2 visible tests pass "
        "after a fresh run."
    ]
    assert list(tmp_path.iterdir()) == []


def test_an_unanswered_exercise_and_its_failing_test() -> None:
    notebook = answered(halve=STUB)
    assert submission_report(notebook, RELEASED) == [
        "halve: not answered yet (it still raises NotImplementedError)",
        "test_halve: fails after a fresh run: NotImplementedError",
    ]


def test_a_failing_visible_test_says_its_message_and_a_cell_that_raised_says_its_error() -> None:
    notebook = answered(double="    return n + 1\n")
    notebook["cells"].insert(3, cell("code", "mine", "print(undefined_name)\n"))
    assert submission_report(notebook, RELEASED) == [
        "cell 4 (\"print(undefined_name)\"): raises after a fresh run: NameError: name 'undefined_name' is not defined",
        "test_double: fails after a fresh run: double(2) should be 4, not 3",
    ]


def test_stripped_metadata_is_given_back_and_the_test_is_the_courses() -> None:
    notebook = answered()
    for index in (3, 4):
        notebook["cells"][index]["metadata"] = {}
    assert submission_report(notebook, RELEASED, run=False) == [
        "double: its grading metadata is gone; the grader will give it back and grade your code",
        "test_double: its grading metadata is gone; the grader will grade the course's copy of this test (2 points)",
    ]


def test_changed_points_are_restored() -> None:
    notebook = answered()
    notebook["cells"][6]["metadata"]["nbgrader"]["points"] = 100
    assert submission_report(notebook, RELEASED, run=False) == [
        "test_halve: its grading metadata was edited (points); the grader will grade the course's copy of this test "
        "(1 point)"
    ]


def test_an_edited_test_is_replaced_by_the_courses_in_the_fresh_run() -> None:
    notebook = answered(double="    return n\n")
    notebook["cells"][4]["source"] = ["pass\n"]
    assert submission_report(notebook, RELEASED) == [
        "test_double: this test cell was edited; the grader will run the course's copy",
        "test_double: fails after a fresh run: double(2) should be 4, not 2",
    ]


def test_a_deleted_test_is_put_back_and_run() -> None:
    notebook = answered(halve="    return n\n")
    del notebook["cells"][6]
    assert submission_report(notebook, RELEASED) == [
        "test_halve: this test cell is missing; the grader will put the course's back",
        "test_halve: fails after a fresh run: halve(4) should be 2",
    ]


def test_a_deleted_answer_is_put_back_unanswered_and_an_invented_graded_cell_is_ignored() -> None:
    notebook = answered()
    del notebook["cells"][5]
    notebook["cells"].insert(6, cell("code", "mine", "print(double(3))\n", {**TEST, "grade_id": "bonus", "points": 9}))
    assert submission_report(notebook, RELEASED) == [
        "halve: this answer cell is missing; the grader will put it back unanswered (its tests will fail)",
        'cell 7 ("print(double(3))"): has grading metadata but is not one of the lab\'s graded cells; the grader '
        "will ignore it",
        "test_halve: fails after a fresh run: NotImplementedError",
    ]


def test_a_saved_error_output_is_reported() -> None:
    notebook = answered()
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad shape\nmore", "traceback": []}
    notebook["cells"][2]["outputs"] = [error]
    notebook["cells"][8]["outputs"] = [error]  # the check cell's own outputs are not the learner's
    assert submission_report(notebook, RELEASED, run=False) == [
        'cell 3 ("import os"): raised ValueError: bad shape when it last ran'
    ]


def test_a_run_that_dies_says_where() -> None:
    notebook = answered()
    notebook["cells"].insert(5, cell("code", "exit", "os._exit(3)\n"))
    assert submission_report(notebook, RELEASED) == [
        'The fresh run stopped in cell 6 ("os._exit(3)"): its Python ended (exit status 3).'
    ]


def test_without_ipython_the_fresh_run_says_so_in_one_line(monkeypatch) -> None:
    monkeypatch.setattr(submission.importlib.util, "find_spec", lambda name: None)
    assert submission.fresh_run([]) == [
        "The fresh run needs IPython, which is not installed here (pip install ipython): no test was run."
    ]


def test_under_the_grader_the_check_prints_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    check_submission("lab1_instruction_tuning")
    assert capsys.readouterr() == ("", "")


def test_with_no_notebook_found_the_check_says_where_it_looked(monkeypatch, capsys) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    check_submission("lab1_instruction_tuning")
    assert capsys.readouterr().out == (
        "Could not tell which file this notebook is (not on Colab, no JPY_SESSION_NAME from Jupyter, no "
        '__vsc_ipynb_file__ from VS Code): run check_submission("lab1_instruction_tuning", '
        'path="<the .ipynb file>").\n'
    )
    check_submission("lab9")
    assert capsys.readouterr().out.startswith("No lab named 'lab9' in this course package")


def test_the_notebook_is_found_on_colab_in_jupyter_and_in_vscode(tmp_path: Path, monkeypatch) -> None:
    saved = tmp_path / "saved.ipynb"
    saved.write_text(json.dumps(answered()))
    requests = []

    def blocking_request(kind, request, timeout_sec):
        requests.append((kind, request, timeout_sec))
        return {"ipynb": {"cells": []}}

    colab = types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(blocking_request=blocking_request)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert find_notebook("toy") == ({"cells": []}, "")
    assert requests == [("get_ipynb", "", 30)]
    monkeypatch.delitem(sys.modules, "google.colab")

    monkeypatch.setenv("JPY_SESSION_NAME", str(saved))
    assert find_notebook("toy") == (answered(), "")
    monkeypatch.delenv("JPY_SESSION_NAME")

    shell = types.SimpleNamespace(user_ns={"__vsc_ipynb_file__": str(saved)})
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert find_notebook("toy") == (answered(), "")
    assert find_notebook("toy", str(tmp_path / "gone.ipynb"))[1].startswith(f"Could not read the notebook {tmp_path}")


@pytest.mark.parametrize(
    "variant",
    ["solved", "untouched", "stripped", "colab-stripped", "no-test", "no-answer", "points", "edited-test"],
)
def test_a_real_lab_is_checked_as_the_graders_repair_sees_it(variant: str) -> None:
    """On Lab 1's release: the cells the check says the grader will repair are those repair.py repairs."""
    lab = "lab1_instruction_tuning"
    release, source = read_release(lab), read_solution(lab)
    solved = simulate.solved(release, source)
    notebooks = {
        "solved": solved,
        "untouched": release,
        "stripped": simulate.stripped(solved),
        "colab-stripped": nbformat.reads(simulate.as_colab_saves_it(simulate.stripped(solved)), as_version=4),
        "no-test": simulate.without_cell(solved, "test_trainer"),
        "no-answer": simulate.without_cell(solved, "extract_response"),
        "points": simulate.with_grading(solved, "test_format_prompt", points=20),
        "edited-test": simulate.with_source(solved, "test_filter_logits", "pass\n"),
    }
    notebook = notebooks[variant]
    lines = submission_report(json.loads(nbformat.writes(notebook)), read_manifest(lab), run=False)
    repaired = {change.cell for change in repair(notebook, release, source)[1]}
    said = {line.split(":")[0] for line in lines if "not answered yet" not in line and not line.startswith("All")}
    assert said == repaired
    unanswered = [line for line in lines if "not answered yet" in line]
    assert len(unanswered) == (6 if variant == "untouched" else 0)
    if variant == "solved":
        assert lines == [
            "All is well: every graded cell is answered and as released, nothing raised, and the visible tests were "
            "not run."
        ]


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_ends_with_the_check_of_its_own_name(lab: str) -> None:
    for path in (solution_path(lab), release_path(lab)):
        markdown, code = json.loads(path.read_text())["cells"][-2:]
        assert (markdown["id"], markdown["source"][0]) == ("before-you-submit", "## Before you submit\n")
        assert (code["id"], code["metadata"]) == ("check-submission", {})
        assert "".join(code["source"]).endswith(f'check_submission("{lab}")'), path
