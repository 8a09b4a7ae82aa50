"""Repairing submitted notebooks before grading: every way a notebook's grading cells get lost or altered."""

import copy

import nbformat
import pytest
from conftest import read_release, read_solution

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.cells import grading_info
from course_utils.instructor.grading.repair import Repair, repair

LAB = "lab2_reward_modeling"


@pytest.fixture(scope="module")
def release():
    return read_release(LAB)


@pytest.fixture(scope="module")
def source():
    return read_solution(LAB)


@pytest.fixture
def solved(release, source):
    """The release with every answer cell filled in with the solution's code, as a good student would."""
    return simulate.solved(release, source)


def graded_view(notebook):
    """What grading sees: (grade id, role, points, source) of every graded cell, in order."""
    return [
        (info["grade_id"], "test" if info.get("grade") else "answer", info.get("points"), cell.source)
        for cell in notebook.cells
        if (info := grading_info(cell))
    ]


@pytest.fixture
def expected(solved, release, source):
    repaired, repairs = repair(solved, release, source)
    assert repairs == []
    return graded_view(repaired)


def test_a_clean_submission_needs_no_repair_and_gets_the_hidden_tests(solved, release, source, expected):
    repaired, _ = repair(solved, release, source)
    tests = {grade_id: text for grade_id, role, _, text in expected if role == "test"}
    assert "BEGIN HIDDEN TESTS" in tests["test_split_by_prompt"]
    answers = {grade_id: text for grade_id, role, _, text in expected if role == "answer"}
    assert "random.Random(seed).shuffle" in answers["split_by_prompt"]
    assert len(repaired.cells) == len(solved.cells)


def test_all_metadata_stripped(solved, release, source, expected):
    for cell in solved.cells:
        cell.metadata = {}
        cell.id = nbformat.v4.new_code_cell().id
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert {r.action for r in repairs} == {"restored lost grading metadata"}
    assert len(repairs) == len(expected)


def test_saved_by_colab(solved, release, source, expected):
    solved.nbformat_minor = 0
    solved.metadata = {"colab": {"provenance": []}, "kernelspec": {"name": "python3"}}
    for cell in solved.cells:
        cell.id = "colab" + nbformat.v4.new_code_cell().id[:6]
        cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert repairs == []


def find(notebook, grade_id):
    return next(cell for cell in notebook.cells if grading_info(cell).get("grade_id") == grade_id)


def test_a_visible_test_edited_to_pass_is_replaced(solved, release, source, expected):
    find(solved, "test_bradley_terry_loss").source = "pass"
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert repairs == [Repair("test_bradley_terry_loss", "replaced an edited test cell with the original")]


def test_changed_points_and_ungraded_flag_are_restored(solved, release, source, expected):
    find(solved, "test_reward_scores").metadata["nbgrader"]["points"] = 100
    find(solved, "test_trainer").metadata["nbgrader"]["grade"] = False
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert set(repairs) == {
        Repair("test_reward_scores", "restored points (100 -> 1)"),
        Repair("test_trainer", "restored graded flag (False -> True)"),
    }


def test_a_deleted_test_cell_is_put_back_in_its_place(solved, release, source, expected):
    solved.cells.remove(find(solved, "test_pairwise_accuracy"))
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert repairs == [Repair("test_pairwise_accuracy", "restored a deleted test cell")]
    ids = [grading_info(c).get("grade_id") for c in repaired.cells]
    # Back after the cell that reports the accuracy, before the histograms: where the release has it.
    assert ids.index("test_pairwise_accuracy") == [grading_info(c).get("grade_id") for c in release.cells].index(
        "test_pairwise_accuracy"
    )


def test_a_deleted_first_answer_cell_comes_back_unanswered(solved, release, source):
    solved.cells.remove(find(solved, "format_conversation"))
    repaired, repairs = repair(solved, release, source)
    assert repairs == [Repair("format_conversation", "restored a deleted answer cell (as released: unanswered)")]
    assert "raise NotImplementedError()" in find(repaired, "format_conversation").source


def test_a_copied_test_cell_is_graded_once(solved, release, source, expected):
    index = solved.cells.index(find(solved, "test_reward_scores"))
    solved.cells.insert(index + 1, copy.deepcopy(solved.cells[index]))
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert repairs == [Repair("test_reward_scores", "removed grading metadata from an extra cell")]


def test_an_answer_retyped_in_a_new_cell_is_recognised(solved, release, source, expected):
    cell = find(solved, "pairwise_accuracy")
    cell.metadata = {}
    cell.id = "retyped"
    cell.source = "# my version\n" + cell.source
    repaired, repairs = repair(solved, release, source)
    assert [r.action for r in repairs] == ["restored lost grading metadata"]
    assert find(repaired, "pairwise_accuracy").source.startswith("# my version")


def test_an_answer_without_a_function_is_matched_by_its_place(solved, release, source, expected):
    cell = find(solved, "build_trainer")
    cell.metadata = {}
    cell.id = "elsewhere"
    repaired, repairs = repair(solved, release, source)
    assert graded_view(repaired) == expected
    assert repairs == [Repair("build_trainer", "restored lost grading metadata")]


def test_repair_leaves_the_submission_untouched(solved, release, source):
    index = solved.cells.index(find(solved, "test_reward_scores"))
    solved.cells.insert(index + 1, copy.deepcopy(solved.cells[index]))  # duplicate ids, extra graded cell
    find(solved, "test_trainer").source = "pass"
    before = copy.deepcopy(solved)
    repaired, _ = repair(solved, release, source)
    assert solved == before
    assert len({cell.id for cell in repaired.cells}) == len(repaired.cells)
