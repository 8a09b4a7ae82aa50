"""Simulated submissions are what they claim to be: solved notebooks that parse, files shaped like Colab's."""

import json
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import simulate
from course_utils.grading.grade import read_lab
from course_utils.grading.repair import grading_info, is_answer
from course_utils.release import available_labs

ROOT = Path(__file__).resolve().parents[1]


def read(folder: str, lab: str) -> nbformat.NotebookNode:
    return read_lab(ROOT, folder, lab)


@pytest.mark.parametrize("lab", available_labs(ROOT))
def test_solved_answers_are_the_solutions_code_and_parse(lab):
    notebook = simulate.solved(read("labs", lab), read("solutions", lab))
    answers = [cell for cell in notebook.cells if is_answer(cell) and cell.cell_type == "code"]
    assert answers
    for cell in answers:
        name = grading_info(cell)["grade_id"]
        assert "NotImplementedError" not in cell.source and "### BEGIN" not in cell.source, name
        compile(cell.source, name, "exec")  # indentation kept right


def test_colab_files_have_format_4_0_no_cell_ids_and_colab_metadata():
    notebook = read("labs", "lab2_reward_modeling")
    saved = json.loads(simulate.as_colab_saves_it(notebook))
    assert (saved["nbformat"], saved["nbformat_minor"]) == (4, 0) and "colab" in saved["metadata"]
    assert all("id" not in cell and "id" in cell["metadata"] for cell in saved["cells"])
    reread = nbformat.reads(json.dumps(saved), as_version=4)
    assert [cell.source for cell in reread.cells] == [cell.source for cell in notebook.cells]


def test_edits_leave_the_original_alone():
    notebook = read("labs", "lab2_reward_modeling")
    before = nbformat.writes(notebook)
    changed = simulate.with_grading(simulate.without_cell(notebook, "test_score"), "test_trainer", points=9)
    assert nbformat.writes(notebook) == before
    assert (
        simulate.find_cell(changed, "test_trainer")
        and grading_info(changed.cells[simulate.find_cell(changed, "test_trainer")])["points"] == 9
    )
    with pytest.raises(KeyError, match="test_score"):
        simulate.find_cell(changed, "test_score")
