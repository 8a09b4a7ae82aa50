"""Simulated submissions are what they claim to be: solved notebooks that parse, files shaped like Colab's."""

import json

import nbformat
import pytest
from conftest import LABS, read_release, read_solution

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.cells import grading_info, is_answer


@pytest.mark.parametrize("lab", LABS)
def test_solved_answers_are_the_solutions_code_and_parse(lab):
    notebook = simulate.solved(read_release(lab), read_solution(lab))
    answers = [cell for cell in notebook.cells if is_answer(cell) and cell.cell_type == "code"]
    assert answers
    for cell in answers:
        name = grading_info(cell)["grade_id"]
        assert "NotImplementedError" not in cell.source and "### BEGIN" not in cell.source, name
        compile(cell.source, name, "exec")  # indentation kept right


def test_colab_files_have_format_4_0_no_cell_ids_and_colab_metadata():
    notebook = read_release("lab2_reward_modeling")
    saved = json.loads(simulate.as_colab_saves_it(notebook))
    assert (saved["nbformat"], saved["nbformat_minor"]) == (4, 0) and "colab" in saved["metadata"]
    assert all("id" not in cell and "id" in cell["metadata"] for cell in saved["cells"])
    reread = nbformat.reads(json.dumps(saved), as_version=4)
    assert [cell.source for cell in reread.cells] == [cell.source for cell in notebook.cells]


def test_edits_leave_the_original_alone():
    notebook = read_release("lab2_reward_modeling")
    before = nbformat.writes(notebook)
    changed = simulate.with_grading(simulate.without_cell(notebook, "test_reward_scores"), "test_trainer", points=9)
    assert nbformat.writes(notebook) == before
    assert (
        simulate.find_cell(changed, "test_trainer")
        and grading_info(changed.cells[simulate.find_cell(changed, "test_trainer")])["points"] == 9
    )
    with pytest.raises(KeyError, match="test_reward_scores"):
        simulate.find_cell(changed, "test_reward_scores")
