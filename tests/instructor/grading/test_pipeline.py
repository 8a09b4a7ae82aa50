"""The instructor pipeline: the release is fresh and leak-free, and every solution runs and meets its targets.

Grading is tested end to end in test_grade_class.py.
"""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from conftest import LABS, ROOT, read_solution, release_path, solution_path

from course_utils.instructor.grading.cells import HIDDEN_BLOCK, SOLUTION_BLOCK, is_answer, is_test
from course_utils.instructor.notebooks import execute_notebook, stderr_outputs
from course_utils.instructor.release import release


def test_there_is_a_lab_and_each_has_a_release() -> None:
    assert "lab1_instruction_tuning" in LABS
    for lab in LABS:
        assert release_path(lab).exists(), f"labs/{lab} is missing: run `make release`."


@pytest.mark.parametrize("lab", LABS)
def test_every_solution_cell_has_its_own_id(lab: str) -> None:
    """A cell without an id gets a random one at each release, and the committed release could never match."""
    ids = [cell.get("id") for cell in json.loads(solution_path(lab).read_text())["cells"]]
    assert None not in ids and len(set(ids)) == len(ids), f"{lab}: cells without an id, or sharing one"


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """labs/ regenerated from solutions/ in a scratch copy of the course."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    release(course)
    return course


@pytest.mark.parametrize("lab", LABS)
def test_committed_release_is_what_nbgrader_generates(lab: str, fresh_release: Path) -> None:
    generated = nbformat.read(fresh_release / "labs" / lab / f"{lab}.ipynb", as_version=4)
    committed = nbformat.read(release_path(lab), as_version=4)
    assert committed == generated, f"labs/{lab} is stale: run `make release` and commit the result."


@pytest.mark.parametrize("lab", LABS)
def test_release_leaks_no_solution_and_no_hidden_test(lab: str) -> None:
    text = release_path(lab).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"labs/{lab} contains {marker!r}"
    source = "\n".join(cell.source for cell in nbformat.read(solution_path(lab), as_version=4).cells)
    released = {
        line.strip()
        for cell in nbformat.read(release_path(lab), as_version=4).cells
        for line in cell.source.splitlines()
    }
    secret_blocks = SOLUTION_BLOCK.findall(source) + HIDDEN_BLOCK.findall(source)
    public = {line.strip() for line in SOLUTION_BLOCK.sub("", HIDDEN_BLOCK.sub("", source)).splitlines()}
    secret = {line.strip() for block in secret_blocks for line in block.splitlines()} - public - {""}
    assert secret, "the solution notebook should have solution code and hidden tests"
    leaked = sorted(secret & released)
    assert not leaked, f"labs/{lab} leaks: {leaked[:3]}"


@pytest.mark.parametrize("lab", LABS)
def test_every_answer_cell_of_the_release_is_a_stub(lab: str) -> None:
    notebook = nbformat.read(release_path(lab), as_version=4)
    answers = [cell for cell in notebook.cells if is_answer(cell)]
    assert answers, "no answer cells"
    for cell in answers:
        assert "raise NotImplementedError()" in cell.source, f"answer cell {cell.metadata.nbgrader.grade_id}"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[nbformat.NotebookNode, dict]]:
    """Every lab's solution executed once in the tiny profile, with the result it reported (two labs at a time)."""

    def run(lab: str) -> tuple[nbformat.NotebookNode, dict]:
        folder = tmp_path_factory.mktemp(lab)
        nbformat.write(read_solution(lab), folder / "source.ipynb")
        # One torch thread per kernel: two kernels with a thread per core each would fight over the cores.
        env = {"COURSE_PROFILE": "tiny", "COURSE_REPORT_DIR": str(folder), "OMP_NUM_THREADS": "1"}
        execute_notebook(folder / "source.ipynb", folder / f"{lab}.ipynb", env=env)  # raises on a failing cell
        record = json.loads((folder / f"{lab}.json").read_text())
        return nbformat.read(folder / f"{lab}.ipynb", as_version=4), record

    # The last labs are the longest (the capstone takes as long as the first three): started first, they leave no
    # thread idle at the end.
    longest_first = sorted(LABS, reverse=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(longest_first, pool.map(run, longest_first), strict=True))


@pytest.mark.parametrize("lab", LABS)
def test_solution_runs_cleanly_in_the_tiny_profile(lab: str, executed: dict) -> None:
    notebook, record = executed[lab]
    graded = [cell for cell in notebook.cells if is_test(cell)]
    assert stderr_outputs(nbformat.from_dict({"cells": graded})) == {}, "a test cell wrote to stderr"
    # Training improved the lab's metric; Lab 6 reports its peak too (its PPO run is meant to overshoot it).
    assert record.get("peak", record["after"]) > record["before"], record


def test_lab1_meets_its_learning_targets(executed: dict) -> None:
    """The lab's targets: completion loss falls by at least half, BLEU improves on held-out rows."""
    notebook, record = executed["lab1_instruction_tuning"]
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    first, last = map(float, re.search(r"Training loss (\d+\.\d+) -> (\d+\.\d+)", printed).groups())
    assert last <= first / 2, (first, last)
    assert record["metric"] == "held-out BLEU"
    assert record["after"] > record["before"] + 10, record


def test_lab2_meets_its_learning_targets(executed: dict) -> None:
    """The lab's targets: held-out pairwise accuracy of at least 0.85, well above the untrained model's."""
    _, record = executed["lab2_reward_modeling"]
    assert record["metric"] == "held-out pairwise accuracy"
    assert record["after"] >= 0.85, record
    assert record["after"] >= record["before"] + 0.2, record


def test_lab3_meets_its_learning_targets(executed: dict) -> None:
    """The lab's targets: the reward rises by at least 1 logit (last 5 vs first 5 steps), the KL stays bounded."""
    _, record = executed["lab3_ppo_sentiment"]
    assert record["metric"] == "mean reward, first -> last 5 steps"
    assert record["after"] >= record["before"] + 1.0, record
    assert 0.0 < record["final_kl"] < 20.0, record  # the adaptive controller aims at 6


def test_lab4_meets_its_learning_targets(executed: dict) -> None:
    """The lab's targets: held-out reward accuracy of at least 0.9, and the held-out margin rising."""
    _, record = executed["lab4_dpo"]
    assert record["metric"] == "held-out reward accuracy"
    assert record["after"] >= 0.9, record
    assert record["margin_after"] > record["margin_before"] and record["margins_rising"] == 1.0, record


def test_lab6_shows_overoptimisation(executed: dict) -> None:
    """The lab's targets: over the PPO run the proxy reward rises, and the gold reward peaks before the last
    evaluation and ends clearly below its peak; PPO with the mitigation (the tighter leash, stopped at its best
    evaluation) beats the SFT policy on gold win rate on new questions (benchmarks/overoptimization.py checks both on
    5 seeds); best-of-n raises the gold reward for small n."""
    _, record = executed["lab6_rlhf_capstone"]
    assert record["metric"] == "gold reward SFT -> best -> final PPO"
    assert record["proxy_after"] > record["proxy_before"], record
    assert record["peak"] > record["before"] and record["overoptimised"] == 1.0, record
    assert record["best_win_rate"] > 0.5, record
    # Best-of-n against the proxy raises the gold reward for small n (up to 16) above n = 1's.
    assert record["best_of_n"][0] == 1
    small = [gold for n, gold in zip(record["best_of_n"], record["best_of_n_gold"], strict=True) if 1 < n <= 16]
    assert max(small) > record["best_of_n_gold"][0], record
