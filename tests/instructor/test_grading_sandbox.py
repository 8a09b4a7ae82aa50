"""Running a submission in the sandbox: what student code can break, and what it cannot reach."""

from nbformat.v4 import new_code_cell, new_notebook

from course_utils.instructor.grading.sandbox import Limits, namespaces_available, run_sandboxed
from course_utils.instructor.grading.worker import TRUNCATED, cap_outputs

LIMITS = Limits(wall_seconds=60, cell_seconds=4, memory_mb=3072, output_bytes=2000)


def run(tmp_path, *sources, hidden=()):
    return run_sandboxed(
        new_notebook(cells=[new_code_cell(s) for s in sources]), tmp_path / "work", list(hidden), LIMITS, {}
    )


def outputs(result):
    """Per cell: the error name, or the printed text."""
    return [
        [output.get("ename") or output.get("text", "") for output in cell.get("outputs", [])]
        for cell in result.notebook.cells
    ]


def test_a_clean_run_keeps_stdout_and_stderr(tmp_path):
    result = run(tmp_path, "x = 2", "import sys; print(x); print('warning', file=sys.stderr)")
    assert (result.status, result.isolated) == ("ok", True)
    assert outputs(result) == [[], ["2\n", "warning\n"]]


def test_an_infinite_loop_costs_only_its_cell(tmp_path):
    result = run(tmp_path, "while True: pass", "print('next')")
    assert result.status == "ok"
    assert outputs(result) == [["KeyboardInterrupt"], ["next\n"]]


def test_a_dead_kernel_is_recorded_and_earlier_cells_kept(tmp_path):
    result = run(tmp_path, "print('before')", "import os; os._exit(1)", "print('never')")
    assert result.status == "kernel died"
    assert outputs(result)[0] == ["before\n"]


def test_a_memory_bomb_fails_in_its_cell(tmp_path):
    result = run(tmp_path, "hoard = bytearray(20 * 2**30)", "print('still here')")
    assert outputs(result) == [["MemoryError"], ["still here\n"]]


def test_a_flood_of_output_is_capped(tmp_path):
    result = run(tmp_path, "for i in range(100_000): print(i)")
    (texts,) = outputs(result)
    assert sum(len(text) for text in texts) <= LIMITS.output_bytes + len(TRUNCATED)
    assert texts[-1].endswith(TRUNCATED)


def test_a_run_past_the_wall_time_is_killed(tmp_path):
    limits = Limits(wall_seconds=8, cell_seconds=60)
    result = run_sandboxed(
        new_notebook(cells=[new_code_cell("import time; time.sleep(120)")]), tmp_path / "w", [], limits, {}
    )
    assert result.status == "timeout"


def test_hostile_code_reaches_nothing_outside_its_folder(tmp_path):
    assert namespaces_available(), "this machine cannot create user namespaces: isolation cannot be checked here"
    secret = tmp_path / "solutions"
    secret.mkdir()
    (secret / "answers.txt").write_text("42")
    gradebook = tmp_path / "gradebook.db"
    gradebook.write_text("grades")
    result = run(
        tmp_path,
        f"open({str(secret / 'answers.txt')!r}).read()",
        f"open({str(gradebook)!r}).read()",
        f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')",
        "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)",
        "open('mine.txt', 'w').write('fine'); print('own folder is writable')",
        hidden=[secret, gradebook],
    )
    assert outputs(result) == [["FileNotFoundError"], [""], ["OSError"], ["OSError"], ["own folder is writable\n"]]
    assert not (tmp_path / "planted.txt").exists()
    assert (secret / "answers.txt").read_text() == "42" and gradebook.read_text() == "grades"


def test_cap_outputs_marks_the_cut_once():
    notebook = new_notebook(cells=[new_code_cell("x")])
    notebook.cells[0].outputs = [{"output_type": "stream", "name": "stdout", "text": "a" * 30} for _ in range(3)]
    cap_outputs(notebook, 40)
    texts = [output["text"] for output in notebook.cells[0].outputs]
    assert texts == ["a" * 30, "a" * 10 + TRUNCATED]
