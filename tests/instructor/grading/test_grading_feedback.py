"""Feedback pages: the student's run with verdicts, and not a trace of the hidden tests."""

import re

from conftest import Elements, active_content
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.instructor.grading.feedback import HIDDEN_LINE, feedback_notebook, redact_traceback, write_html
from course_utils.instructor.grading.repair import Repair
from course_utils.instructor.grading.scoring import QuestionResult

VISIBLE = 'assert add(1, 1) == 2, "add(1, 1) should be 2"\n'
HIDDEN = "### BEGIN HIDDEN TESTS\nassert add(-12345, 3) == -12342\n### END HIDDEN TESTS\n"


def graded_test_cell(source: str) -> dict:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_add", "points": 2}
    return cell


def notebooks():
    answer = new_code_cell("def add(a, b):\n    return a + b if a > 0 else 0")
    release = new_notebook(cells=[answer, graded_test_cell(VISIBLE)])
    executed = new_notebook(cells=[answer, graded_test_cell(VISIBLE + HIDDEN)])
    traceback = [
        "\x1b[0;31mAssertionError\x1b[0m  Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[2], line 3\x1b[0m\n      1 assert add(1, 1) == 2\n----> 3 assert add(-12345, 3) == -12342",
        "\x1b[0;31mAssertionError\x1b[0m: ",
    ]
    executed.cells[1].outputs = [new_output("error", ename="AssertionError", evalue="", traceback=traceback)]
    return release, executed


RESULT = QuestionResult("ann", "lab0", "test_add", 0.0, 2.0, "failed", "AssertionError <script>|x")


def test_tracebacks_lose_hidden_lines_and_colour_codes():
    traceback = ["----> 3 \x1b[0;32massert add(-12345, 3) == -12342\x1b[0m", "assert add(1, 1) == 2"]
    assert redact_traceback(traceback, ["assert add(-12345, 3) == -12342"]) == [HIDDEN_LINE, "assert add(1, 1) == 2"]


def test_feedback_shows_the_released_test_a_verdict_and_a_summary():
    release, executed = notebooks()
    feedback = feedback_notebook(executed, release, [RESULT], [Repair("test_add", "restored points (9 -> 2)")])
    summary, answer, test, verdict = feedback.cells
    assert test.source == VISIBLE and answer.source == executed.cells[0].source
    assert "12345" not in "".join(test.outputs[0].traceback)
    assert verdict.source == "**test_add: 0 / 2**, failed: AssertionError &lt;script&gt;\\|x"
    assert "**Score: 0 / 2**" in summary.source and "- test\\_add: restored points (9 -&gt; 2)" in summary.source
    assert executed.cells[1].source == VISIBLE + HIDDEN  # the input is left alone


def test_the_html_page_has_the_score_and_no_hidden_test(tmp_path):
    release, executed = notebooks()
    write_html(feedback_notebook(executed, release, [RESULT], [], "the kernel died"), tmp_path / "page.html")
    text = re.sub(r"<[^>]+>", "", (tmp_path / "page.html").read_text())
    assert "Score: 0 / 2" in text and "The run stopped early: the kernel died." in text
    assert "12345" not in text and "<script>" not in (tmp_path / "page.html").read_text()


def test_hidden_tests_a_student_printed_are_scrubbed_from_every_output():
    """Code that reads the hidden tests back from the kernel's memory and prints them shows only placeholders."""
    release, executed = notebooks()
    leak = new_code_cell("print(linecache.cache)")
    leak.outputs = [
        new_output("stream", name="stdout", text="cached:\nassert add(-12345, 3) == -12342\nend\n"),
        new_output("execute_result", data={"text/plain": "'assert add(-12345, 3) == -12342'"}, execution_count=3),
    ]
    executed.cells.append(leak)
    feedback = feedback_notebook(executed, release, [RESULT], [])
    printed, value = feedback.cells[-1].outputs
    assert printed.text == f"cached:\n{HIDDEN_LINE}\nend\n"
    assert value.data["text/plain"] == HIDDEN_LINE


def test_a_page_made_from_hostile_cells_and_strings_runs_nothing(tmp_path):
    """Raw HTML in Markdown and in outputs, a script output, links to javascript:, and a cell id and a reason chosen by
    the student's code: the page keeps them as text or drops them, and forbids scripts."""
    release, executed = notebooks()
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)><a href='javascript:alert(3)'>a</a>"
    executed.cells.append(
        new_markdown_cell(payload + " [click](javascript:alert(4)) <iframe src='https://x'></iframe>")
    )
    shown = new_code_cell("display(...)")
    shown.outputs = [
        new_output("display_data", data={"text/html": payload, "text/plain": "html"}),
        new_output("display_data", data={"application/javascript": "alert(5)", "text/plain": "js"}),
        new_output("display_data", data={"text/markdown": "[x](javascript:alert(6))", "text/plain": "md"}),
        new_output("display_data", data={"image/svg+xml": "<svg onload='alert(7)'></svg>", "text/plain": "svg"}),
    ]
    executed.cells.append(shown)
    reason = RESULT.__class__(**{**RESULT.__dict__, "reason": "[x](javascript:alert(8)) <b onmouseover=alert(9)>"})
    repairs = [Repair("`</code><script>alert(10)</script>", "removed grading metadata from an extra cell")]
    write_html(feedback_notebook(executed, release, [reason], repairs), tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert active_content(page) == []
    elements = Elements()
    elements.feed(page)
    (policy,) = [a["content"] for tag, a in elements.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script" not in policy  # nothing allows a script back
    assert "alert(10)" in re.sub(r"<[^>]+>", "", page)  # the cell id is shown, as text


def test_a_page_rendered_again_from_remembered_cells_is_nbconverts_own(tmp_path):
    from nbconvert import HTMLExporter

    from course_utils.instructor.grading.feedback import POLICY, SCRIPT

    release, executed = notebooks()
    page = feedback_notebook(executed, release, [RESULT], [], "")
    page.cells.append(new_markdown_cell("A <b>bold</b> <img src=x onerror=alert(1)> claim, and `code`."))
    theirs, _ = HTMLExporter(template_name="lab", sanitize_html=True).from_notebook_node(page)
    policy = f'<head>\n<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
    theirs = SCRIPT.sub("", theirs).replace("<head>", policy, 1)
    for name in ("first.html", "again.html"):  # the second page is made from the cells the first remembered
        write_html(page, tmp_path / name)
        assert (tmp_path / name).read_bytes() == theirs.encode()


def test_what_a_cell_printed_reads_the_same_however_the_kernel_cut_it_up():
    """stdout sent in two messages or one gives one output on the page; a plot between two prints keeps them apart."""
    plot = new_output("display_data", data={"text/plain": "<Figure>"})
    pieces = [new_output("stream", name="stdout", text=text) for text in ("loss 3.5\n", "loss 3.2\n", "done\n")]
    cut = new_code_cell("train()", outputs=[*pieces[:2], plot, pieces[2]])
    whole = new_code_cell("train()", outputs=[new_output("stream", name="stdout", text="loss 3.5\nloss 3.2\n"), plot])
    whole.outputs.append(new_output("stream", name="stdout", text="done\n"))
    cut_page, whole_page = (feedback_notebook(new_notebook(cells=[c]), new_notebook(), [], []) for c in (cut, whole))
    assert cut_page.cells[1].outputs == whole_page.cells[1].outputs
    assert [output.get("text") for output in cut_page.cells[1].outputs] == ["loss 3.5\nloss 3.2\n", None, "done\n"]
