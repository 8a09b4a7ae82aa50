"""The feedback a student gets for one lab: their executed notebook, scored, without a trace of the hidden tests.

nbgrader's feedback shows the hidden tests unless they are cleared, and even then a failing hidden assertion is
printed in the traceback. Here every test cell shows the source the student was given, and every output of every
cell (tracebacks, and what the student's own code printed) loses the lines of hidden test code: the kernel never sees
the notebook file, but it does run the hidden tests, and code that reads them back from its own memory could print
them. A verdict follows each test cell, under a summary of the score and of the repairs.

The page is inert, for the student and for the instructor who opens it: the HTML of Markdown cells and of outputs is
sanitised (nbconvert's ``sanitize_html``: no script, event handler or ``javascript:`` link survives), every string
the student's code chose (a reason, a cell id) is escaped, the page has no script of its own, and its
Content-Security-Policy forbids running any.
"""

from __future__ import annotations

import copy
import html
import re
from functools import lru_cache
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import durable
from .cells import HIDDEN_BLOCK, grading_info, is_test
from .repair import Repair
from .scoring import PASSED, QuestionResult

ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
MARKDOWN = re.compile(r"([\\`*_\[\]|~])")  # what makes links, code, emphasis and table cells in Markdown
SCRIPT = re.compile(r"<script\b.*?</script>", re.S | re.I)
# No script, plugin, form, frame or base URL; images only inline (nbconvert embeds plots as data: URLs).
POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HIDDEN_LINE = "    [a line of a hidden test]"
TELLING = 10  # characters: a shorter hidden line (a lone bracket, "else:") gives nothing away, and is left in outputs


def hidden_lines(source: str) -> list[str]:
    """The code lines of a test cell's hidden tests, stripped."""
    return [line.strip() for block in HIDDEN_BLOCK.findall(source) for line in block.splitlines() if line.strip()]


def redact(text: str, hidden: list[str]) -> str:
    """``text`` without colour codes, with every line that shows hidden test code replaced by a placeholder."""
    lines = ANSI_CODE.sub("", text).split("\n")
    return "\n".join(HIDDEN_LINE if any(code in line for code in hidden) else line for line in lines)


def redact_traceback(traceback: list[str], hidden: list[str]) -> list[str]:
    """A traceback, each of its entries redacted."""
    return [redact(entry, hidden) for entry in traceback]


def scrub(output: NotebookNode, hidden: list[str]) -> None:
    """Redact one output in place: its traceback, its printed text, its text data."""
    if output.get("output_type") == "error":
        output["traceback"] = redact_traceback(output.get("traceback", []), hidden)
        output["evalue"] = redact(output.get("evalue", ""), hidden)
    if isinstance(output.get("text"), str):
        output["text"] = redact(output["text"], hidden)
    for kind, data in output.get("data", {}).items():
        if kind.startswith("text/") and isinstance(data, str):
            output["data"][kind] = redact(data, hidden)


def feedback_notebook(
    executed: NotebookNode,
    release: NotebookNode,
    results: list[QuestionResult],
    repairs: list[Repair],
    run_note: str = "",
) -> NotebookNode:
    """The executed notebook as the student may see it: a summary first, then every cell with test verdicts."""
    released_tests = {grading_info(cell)["grade_id"]: cell.source for cell in release.cells if is_test(cell)}
    hidden = [line for cell in executed.cells if is_test(cell) for line in hidden_lines(cell.source)]
    hidden = [line for line in hidden if len(line) >= TELLING]
    verdicts = {result.question: result for result in results}
    # The cells added get ids of their own made from the question's, not random ones: a page is a function of the run.
    cells = [nbformat.v4.new_markdown_cell(summary(results, repairs, run_note), id="score-summary")]
    for cell in copy.deepcopy(executed.cells):
        cells.append(cell)
        if "outputs" in cell:
            cell.outputs = joined_streams(cell.outputs)
        for output in cell.get("outputs", []):
            scrub(output, hidden)
        if not is_test(cell):
            continue
        question = grading_info(cell)["grade_id"]
        cell.source = released_tests.get(question, HIDDEN_BLOCK.sub("", cell.source))
        if question in verdicts:
            cells.append(nbformat.v4.new_markdown_cell(verdict(verdicts[question]), id=f"verdict-{question}"[:64]))
    return nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(executed.metadata))


def joined_streams(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Consecutive outputs of one stream (stdout, stderr) as one: how the kernel's messages cut up what a cell printed
    depends on timing, and a page must be the same for the same run (one machine or a merged shard)."""
    joined: list[NotebookNode] = []
    for output in outputs:
        last = joined[-1] if joined else None
        if last is not None and output.output_type == last.output_type == "stream" and output.name == last.name:
            last.text += output.text
        else:
            joined.append(output)
    return joined


def verdict(result: QuestionResult) -> str:
    """One line of Markdown: the question's points and, when points were lost, why."""
    line = f"**{result.question}: {result.points:g} / {result.max_points:g}**, {result.status}"
    return line + (f": {escape(result.reason)}" if result.reason else "")


def summary(results: list[QuestionResult], repairs: list[Repair], run_note: str) -> str:
    """The Markdown that opens the feedback: the score, a table of questions, the repairs, how the run ended."""
    first = results[0] if results else None
    title = f"# Feedback: {first.lab}, {first.student}" if first else "# Feedback"
    points, max_points = sum(r.points for r in results), sum(r.max_points for r in results)
    lines = [title, "", f"**Score: {points:g} / {max_points:g}**", ""]
    lines += ["| question | points | result |", "|---|---|---|"]
    for result in results:
        outcome = result.status if result.status == PASSED else f"{result.status}: {escape(result.reason)}"
        lines.append(f"| {result.question} | {result.points:g} / {result.max_points:g} | {outcome} |")
    if repairs:
        lines += ["", "Before grading, the grader repaired your notebook's grading cells:", ""]
        lines += [f"- {escape(repair.cell)}: {escape(repair.action)}" for repair in repairs]
    if run_note:
        lines += ["", f"The run stopped early: {escape(run_note)}."]
    return "\n".join(lines)


def escape(text: str) -> str:
    """Text written by student code, shown as itself in Markdown (a table's cell included) and in HTML."""
    return MARKDOWN.sub(r"\\\1", html.escape(text)).replace("\n", " ")


def write_html(notebook: NotebookNode, path: Path) -> None:
    """Render a notebook as a standalone HTML page that runs nothing (see the module's docstring)."""
    from nbconvert import HTMLExporter

    filters = {"clean_html": sanitised, "highlight_code": highlighted}
    body, _ = HTMLExporter(template_name="lab", sanitize_html=True, filters=filters).from_notebook_node(notebook)
    # What sanitising left of a student's HTML is escaped text: the scripts that remain are the template's own.
    body = SCRIPT.sub("", body)
    body = body.replace("<head>", f'<head>\n<meta http-equiv="Content-Security-Policy" content="{POLICY}">', 1)
    durable.write_text(path, body)


# A class's pages repeat the lab's own cells: sanitising and highlighting each cell once, not once per student, takes
# about a third off the CPU time of a page, the same bytes out. Both are pure functions of their text.
@lru_cache(maxsize=4096)
def sanitised(text: str) -> str:
    """nbconvert's ``clean_html`` (bleach, with nbconvert's allowed tags and attributes), remembered."""
    from nbconvert.filters.strings import clean_html

    return clean_html(text)


def highlighted(source: str, language: str | None = None, metadata: dict | None = None) -> str:
    """A code cell's source as highlighted HTML (nbconvert's ``highlight_code`` for Python), remembered."""
    return highlighted_code(source, language, (metadata or {}).get("magics_language"))


@lru_cache(maxsize=4096)
def highlighted_code(source: str, language: str | None, magics_language: str | None) -> str:
    from nbconvert.filters.highlight import Highlight2HTML

    metadata = {"magics_language": magics_language} if magics_language else None
    return Highlight2HTML(pygments_lexer="ipython3")(source, language, metadata)
