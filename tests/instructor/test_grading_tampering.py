"""A student who wants the points: every way found to tell the grader its verdict, each pinned to its exact score.

The class hands in a small lab made for this file (three exercises, five points, seconds to run), so that many
submissions cost little: one per vector, graded once in parallel sandboxes. The vectors found on the real labs
(an exception handler, a replaced ``showtraceback``, a process rewriting the grader's files, wrappers around the PPO
references, printed hidden tests) are graded with the real labs in ``test_grade_class.py``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shutil
import time

import nbformat
import pytest
from conftest import LABS, ROOT, read_solution
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.cells import SOLUTION_BLOCK, grading_info, is_test, references
from course_utils.instructor.grading.grade import GradeConfig, format_summary, grade_class
from course_utils.instructor.grading.limits import Limits
from course_utils.instructor.release import release

LAB = "mini"
SETUP = "import math\n\nimport numpy as np\nimport torch\n\nfrom course_utils.ppo import losses\n"
ANSWERS = {
    "format_conversation": """def format_conversation(prompt: str, response: str) -> str:
    ### BEGIN SOLUTION
    return f"Human: {prompt}\\n\\nAssistant: {response}"
    ### END SOLUTION
""",
    "bradley_terry_loss": """def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return -torch.nn.functional.logsigmoid(chosen - rejected).mean()
    ### END SOLUTION
""",
    "kl_penalised_rewards": """def kl_penalised_rewards(scores, kl, mask, kl_coef):
    ### BEGIN SOLUTION
    rewards = -kl_coef * kl * mask
    last = mask.shape[1] - 1 - mask.flip(1).long().argmax(dim=1)
    rewards[torch.arange(len(scores)), last] += scores
    return rewards
    ### END SOLUTION
""",
    "clipped_policy_loss": """def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    ### BEGIN SOLUTION
    ratio = torch.exp(logprobs - old_logprobs)
    losses = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange))
    return (losses * mask).sum() / mask.sum()
    ### END SOLUTION
""",
}
TESTS = {
    "test_format": (
        1,
        """text = format_conversation("Hi", "Hello")
assert isinstance(text, str), "Return a string."
assert text == "Human: Hi\\n\\nAssistant: Hello", f"Unexpected text: {text!r}"
### BEGIN HIDDEN TESTS
assert format_conversation("a\\nb", " c ") == "Human: a\\nb\\n\\nAssistant:  c "
### END HIDDEN TESTS
""",
    ),
    "test_loss": (
        2,
        """loss = bradley_terry_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
expected = (math.log(1 + math.exp(-1.0)) + math.log(2.0)) / 2
assert abs(loss.item() - expected) < 1e-6, f"Expected {expected:.6f}, got {loss.item():.6f}."
### BEGIN HIDDEN TESTS
chosen, rejected = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, 0.5])
reference = torch.nn.functional.softplus(rejected - chosen).mean()
assert torch.allclose(bradley_terry_loss(chosen, rejected), reference)
assert np.allclose(bradley_terry_loss(chosen, rejected).numpy(), reference.numpy())
assert math.isclose(bradley_terry_loss(chosen, rejected).item(), reference.item(), rel_tol=1e-6)
### END HIDDEN TESTS
""",
    ),
    "test_rewards": (
        2,
        """from course_utils.ppo.losses import last_response_index

kl = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
rewards = kl_penalised_rewards(torch.tensor([2.0, -1.0]), kl, mask, 0.5)
assert rewards.shape == kl.shape, "Rewards have the shape of kl."
### BEGIN HIDDEN TESTS
last = last_response_index(mask)  # a package helper as the oracle: the score sits on the last response token
assert torch.allclose(rewards[torch.arange(2), last] + 0.5 * kl[torch.arange(2), last], torch.tensor([2.0, -1.0]))
assert torch.allclose(rewards * (1 - mask), torch.zeros_like(rewards))
### END HIDDEN TESTS
""",
    ),
    "test_policy_loss": (
        2,
        """logprobs = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))  # ratios 1.5, 0.5, 1.1 (old log-probs 0)
loss = clipped_policy_loss(logprobs, torch.zeros(1, 3), torch.tensor([[1.0, 1.0, -1.0]]), torch.ones(1, 3), 0.2)
# token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(-0.5, -0.8) = -0.5; token 2: max(1.1, 1.1) = 1.1
assert abs(loss.item() - (-0.2)) < 1e-6, f"Expected (-1.2 - 0.5 + 1.1) / 3 = -0.2, got {loss.item():.6f}."
### BEGIN HIDDEN TESTS
advantages, half = torch.tensor([[1.0, 1.0, -1.0]]), torch.tensor([[1.0, 1.0, 0.0]])
masked = clipped_policy_loss(logprobs, torch.zeros(1, 3), advantages, half, 0.2)
assert abs(masked.item() - (-0.85)) < 1e-6
### END HIDDEN TESTS
""",
    ),
}
REFERENCES = ["course_utils.ppo.losses.kl_penalised_rewards", "course_utils.ppo.losses.clipped_policy_loss"]
MAX = 7.0


def answer_cell(grade_id: str) -> nbformat.NotebookNode:
    cell = new_code_cell(ANSWERS[grade_id])
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id}
    cell.metadata["nbgrader"]["schema_version"] = 3
    return cell


def graded_test(grade_id: str) -> nbformat.NotebookNode:
    points, source = TESTS[grade_id]
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id}
    cell.metadata["nbgrader"] |= {"points": points, "schema_version": 3}
    return cell


def mini_lab() -> nbformat.NotebookNode:
    cells = [new_code_cell(SETUP)]
    for answer, test in zip(ANSWERS, TESTS, strict=True):
        cells += [answer_cell(answer), graded_test(test)]
    notebook = new_notebook(cells=cells, metadata={"course": {"references": REFERENCES}})
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


HONEST_EXTRAS = """from tqdm.auto import tqdm

for _ in tqdm(range(3), mininterval=0):
    pass
torch.nn.Linear(2, 2)
"""
WRONG_LOSS = "def bradley_terry_loss(chosen, rejected):\n    return torch.tensor(0.0)\n"
WRONG_REWARDS = """def kl_penalised_rewards(scores, kl, mask, kl_coef):
    rewards = -kl_coef * kl * mask
    first = mask.long().argmax(dim=1)
    rewards[torch.arange(len(scores)), first] += scores
    return rewards
"""
FIRST_INDEX = "\n\nlosses.last_response_index = lambda mask: mask.long().argmax(dim=1)  # the oracle agrees with me\n"
MAGIC = """class Magic(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


def format_conversation(prompt, response):
    return Magic(f"Human: {prompt} Assistant: {response}")
"""
NUMERIC = """import builtins

builtins.abs = lambda x: 0
math.isclose = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
"""
HOOK = """def cheat(info):
    torch.allclose = lambda *args, **kwargs: True


get_ipython().events.register("pre_run_cell", cheat)
"""
THREAD = """import gc
import threading
import time
import weakref


def keep_patching():
    while True:
        torch.allclose = lambda *args, **kwargs: True
        time.sleep(0.01)


threading.Thread(target=keep_patching, name="patcher", daemon=True).start()
# Code waiting to run later: to undo a patch once the test is over, say.
restorer = threading.Timer(3600, lambda: None)
restorer.name, restorer.daemon = "restorer", True
restorer.start()
gc.callbacks.append(lambda phase, info: None)
weakref.finalize(torch, lambda: None)
"""
ALIAS = "from course_utils.ppo.losses import kl_penalised_rewards\n"
COPY = "import types\n\nclipped_policy_loss = types.FunctionType(losses.clipped_policy_loss.__code__, vars(losses))\n"
FAKE_PACKAGE = f"""{ANSWERS["kl_penalised_rewards"]}

import sys
import types

fake = types.ModuleType("course_utils.ppo.losses")
fake.last_response_index = lambda mask: mask.long().argmax(dim=1)
sys.modules["course_utils.ppo.losses"] = fake
sys.modules["course_utils"] = types.ModuleType("course_utils")
"""


def submissions(release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Every student's notebook: one way each of getting points without the work (and the honest ones)."""
    good = simulate.solved(release, source)
    wrong_loss = simulate.with_source(good, "bradley_terry_loss", WRONG_LOSS)

    def patched(patch: str) -> nbformat.NotebookNode:  # a wrong loss, and a patch that would make it pass
        return simulate.with_source(good, "bradley_terry_loss", WRONG_LOSS + "\n\n" + patch)

    delegating = simulate.with_source(good, "kl_penalised_rewards", ALIAS)
    return {
        # Honest, with what an honest notebook does that a check could mistake: a model shown as a cell's value
        # (IPython's display hook keeps it), a thread of a library's running.
        "honest": simulate.with_cell_after(good, "test_format", HONEST_EXTRAS),
        "patched": patched(NUMERIC),
        "shadow": patched("abs = lambda x: 0\n"),
        "hooked": patched(HOOK + "\n\n" + THREAD),
        "oracle": simulate.with_source(good, "kl_penalised_rewards", WRONG_REWARDS + FIRST_INDEX),
        "fakepkg": simulate.with_source(good, "kl_penalised_rewards", FAKE_PACKAGE),
        "exit": simulate.with_cell_after(wrong_loss, "test_format", simulate.FAKE_PASS),
        "magic": simulate.with_source(good, "format_conversation", MAGIC),
        "delegating": simulate.with_source(delegating, "clipped_policy_loss", COPY),
    }


def tampering(*found: str) -> str:
    return "tampering: " + "; ".join(found)


ALLCLOSE = "torch.allclose runs notebook code"
PATCHED = [
    "math.isclose runs notebook code",
    "numpy.allclose runs notebook code",
    ALLCLOSE,
    "builtins.abs was replaced",  # from the comparison with the baseline, after the checks' own findings
]
FAKES = ["course_utils is not the installed module", "course_utils.ppo.losses is not the installed module"]
HOOKED = [
    "a background thread runs notebook code",
    "notebook code runs on IPython's pre_run_cell event",
    "notebook code runs on every garbage collection (gc.callbacks)",
    "notebook code waits in a weakref.finalize",
    "the thread 'patcher' runs notebook code",
    "the thread 'restorer' runs notebook code",
    ALLCLOSE,
]
LATER = ("test_loss", "test_rewards", "test_policy_loss")  # every test after the patch
EVERY = ("test_format", *LATER)
# student -> (points, how the run ended, {question: reason} for every question that lost points)
EXPECTED = {
    "honest": (MAX, "ok", {}),
    # A patch scores 0 on every test from the one it was made before on; the tests before it keep their points.
    # A name shadowed in the notebook costs only the tests that use it.
    "shadow": (
        3.0,
        "ok",
        {q: tampering("abs is redefined in the notebook") for q in ("test_loss", "test_policy_loss")},
    ),
    # The builtins and the numeric helpers tests compare with, patched to agree with a wrong answer.
    "patched": (1.0, "ok", {q: tampering(*PATCHED) for q in LATER}),
    # Code that patches around every cell, in a thread of its own, or waits to run later (to undo a patch).
    "hooked": (1.0, "ok", {q: tampering(*HOOKED) for q in LATER}),
    "oracle": (
        3.0,
        "ok",
        {q: tampering("course_utils.ppo.losses.last_response_index runs notebook code") for q in LATER[1:]},
    ),
    "fakepkg": (3.0, "ok", {q: tampering(*FAKES) for q in LATER[1:]}),
    "exit": (1.0, "kernel died", {q: "the kernel died (os._exit, a crash or the memory limit)" for q in LATER}),
    "magic": (0.0, "ok", {q: tampering("the notebook's class Magic overrides __eq__") for q in EVERY}),
    # Delegation costs the exercise only: an import of the reference, and a copy of its code object.
    "delegating": (
        3.0,
        "ok",
        {
            "test_rewards": f"delegation: kl_penalised_rewards is the package's {REFERENCES[0]}",
            "test_policy_loss": f"delegation: clipped_policy_loss runs a copy of the package's {REFERENCES[1]}",
        },
    ),
}
FLAGGED = {"patched", "shadow", "hooked", "oracle", "fakepkg", "magic"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course with the small lab, and its class graded once: (grades by student, the course folder, the summary, the
    wall seconds grading took)."""
    base = tmp_path_factory.mktemp("tampering")
    root = base / "root"
    (root / "solutions" / LAB).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    nbformat.write(mini_lab(), root / "solutions" / LAB / f"{LAB}.ipynb")
    release(root, [LAB])
    notebooks = submissions(nbformat.read(root / "labs" / LAB / f"{LAB}.ipynb", as_version=4), mini_lab())
    inbox = base / "inbox"
    inbox.mkdir()
    for student, notebook in notebooks.items():
        nbformat.write(notebook, inbox / f"{student}_{LAB}.ipynb")
    course_dir = base / "course"
    limits = Limits(wall_seconds=120, cell_seconds=30)
    began = time.perf_counter()
    grades = grade_class(root, inbox, GradeConfig(course_dir, limits=limits), progress=False)
    seconds = time.perf_counter() - began
    assert grades.isolated and not grades.broken
    return {lab.student: lab for lab in grades.graded}, course_dir, format_summary(grades, course_dir), seconds


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_vector_earns_exactly_the_honest_work(graded, student):
    grades, _, _, _ = graded
    lab = grades[student]
    points, status, lost = EXPECTED[student]
    assert {r.question: r.reason for r in lab.results if r.points < r.max_points} == lost
    assert (lab.points, lab.max_points, lab.status) == (points, MAX, status)


def test_tampering_is_flagged_for_the_instructor_in_the_summary_and_the_export(graded):
    grades, course_dir, summary, _ = graded
    assert {student for student, lab in grades.items() if lab.flags} == FLAGGED
    flagged_rows = {line.split("|")[0].strip() for line in summary.splitlines() if line.rstrip().endswith("TAMPERING")}
    assert flagged_rows == FLAGGED
    export = (course_dir / "exports" / "grades.csv").read_text()
    assert "abs is redefined in the notebook" in export and "Magic overrides __eq__" in export


def test_the_summary_says_where_the_time_went(graded):
    _, _, summary, elapsed = graded
    line = next(line for line in summary.splitlines() if line.startswith("Time: "))
    phases = {phase: float(seconds) for phase, seconds in re.findall(r"(\w+) (\d+\.\d) s", line)}
    assert list(phases) == ["collect", "register", "repair", "run", "record"], line
    # every second of grading is in a phase (five figures, each rounded to 0.1 s)
    assert abs(sum(phases.values()) - elapsed) < 0.5, (line, elapsed)


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_names_its_references_and_no_test_uses_one_as_its_oracle(lab):
    """The references raise while tests run: a test calling one would fail the honest student too."""
    source = read_solution(lab)
    names = references(source)
    assert names, f"{lab} names no reference implementation in its metadata (course.references)"
    for dotted in names:
        module, name = dotted.rsplit(".", 1)
        assert inspect.isfunction(inspect.unwrap(getattr(importlib.import_module(module), name))), dotted
    for cell in source.cells:
        if is_test(cell):
            assert oracles(cell.source, names, defined_by_answers(source)) == set(), grading_info(cell)["grade_id"]


def oracles(source: str, names: list[str], own: set[str]) -> set[str]:
    """The references a test's code reaches: as ``module.name``, imported by name, or a bare name no answer defines."""
    short = {dotted.rsplit(".", 1)[1] for dotted in names}
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in short:
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            found |= {alias.name for alias in node.names if f"{node.module}.{alias.name}" in names}
        elif isinstance(node, ast.Name) and node.id in short - own:
            found.add(node.id)
    return found


def test_the_oracle_check_sees_the_ways_a_test_reaches_a_reference():
    names = ["course_utils.ppo.losses.gae_advantages"]
    assert oracles("ppo_losses.gae_advantages(r, v, m, 1.0, 0.9)", names, {"gae_advantages"}) == {"gae_advantages"}
    assert oracles("from course_utils.ppo.losses import gae_advantages", names, set()) == {"gae_advantages"}
    assert oracles("gae_advantages(r, v, m, 1.0, 0.9)", names, set()) == {"gae_advantages"}
    assert oracles("gae_advantages(r, v, m, 1.0, 0.9)", names, {"gae_advantages"}) == set()  # the student's own


def defined_by_answers(notebook: nbformat.NotebookNode) -> set[str]:
    """The names the answer cells define: a test calling the student's ``gae_advantages`` is not using a reference."""
    return {
        node.name
        for cell in notebook.cells
        if grading_info(cell).get("solution")
        for node in ast.walk(ast.parse(SOLUTION_BLOCK.sub(lambda match: match[1], cell.source)))
        if isinstance(node, ast.FunctionDef)
    }
