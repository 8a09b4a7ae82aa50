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
import symtable
import time

import nbformat
import pytest
from conftest import LABS, ROOT, active_content, read_solution
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.cells import (
    SOLUTION_BLOCK,
    grading_info,
    is_checked,
    is_test,
    references,
    segments,
)
from course_utils.instructor.grading.grade import GradeConfig, format_summary, grade_class
from course_utils.instructor.grading.limits import Limits
from course_utils.instructor.grading.repair import Repair
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
# Each test calls the student's code first, then checks what it returned (after ``### CHECK``); its hidden part draws
# its inputs from the grader's secret seed, calls, and checks against the package's references.
TESTS = {
    "test_format": (
        1,
        """text = format_conversation("Hi", "Hello")
### CHECK
assert isinstance(text, str), "Return a string."
assert text == "Human: Hi\\n\\nAssistant: Hello", f"Unexpected text: {text!r}"
### BEGIN HIDDEN TESTS
import random

from course_utils.notebook.checks import grading_seed

draw = random.Random(grading_seed())
prompts = ["".join(draw.choices("ab \\n", k=draw.randrange(6))) for _ in range(4)]
responses = ["".join(draw.choices("cd \\n", k=draw.randrange(6))) for _ in range(4)]
### CALL
answers = [format_conversation(prompt, response) for prompt, response in zip(prompts, responses)]
### CHECK
assert answers == [f"Human: {prompt}\\n\\nAssistant: {response}" for prompt, response in zip(prompts, responses)]
### END HIDDEN TESTS
""",
    ),
    "test_loss": (
        2,
        """import math

import numpy as np
import torch

loss = bradley_terry_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
### CHECK
expected = (math.log(1 + math.exp(-1.0)) + math.log(2.0)) / 2
assert abs(loss.item() - expected) < 1e-6, f"Expected {expected:.6f}, got {loss.item():.6f}."
### BEGIN HIDDEN TESTS
from course_utils.notebook.checks import grading_seed

generator = torch.Generator().manual_seed(grading_seed())
chosen, rejected = torch.randn(6, generator=generator) * 4, torch.randn(6, generator=generator) * 4
### CALL
loss = bradley_terry_loss(chosen, rejected)
### CHECK
reference = torch.nn.functional.softplus(rejected - chosen).mean()
assert torch.allclose(loss, reference, atol=1e-6)
assert np.allclose(loss.numpy(), reference.numpy())
assert math.isclose(loss.item(), reference.item(), rel_tol=1e-6)
### END HIDDEN TESTS
""",
    ),
    "test_rewards": (
        2,
        """import torch

kl = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
rewards = kl_penalised_rewards(torch.tensor([2.0, -1.0]), kl, mask, 0.5)
### CHECK
assert rewards.shape == (2, 4), "Rewards have the shape of kl."
### BEGIN HIDDEN TESTS
from course_utils.notebook.checks import grading_seed
from course_utils.ppo.losses import kl_penalised_rewards as reference

generator = torch.Generator().manual_seed(grading_seed())
kl, scores = torch.rand(3, 6, generator=generator), torch.randn(3, generator=generator)
starts, ends = torch.randint(0, 2, (3, 1), generator=generator), torch.randint(3, 7, (3, 1), generator=generator)
mask = ((torch.arange(6) >= starts) & (torch.arange(6) < ends)).float()  # a query, the response, then padding
### CALL
rewards = kl_penalised_rewards(scores, kl, mask, 0.5)
### CHECK
assert torch.allclose(rewards, reference(scores, kl, mask, 0.5), atol=1e-6)
### END HIDDEN TESTS
""",
    ),
    "test_policy_loss": (
        2,
        """import torch

logprobs = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))  # ratios 1.5, 0.5, 1.1 (old log-probs 0)
loss = clipped_policy_loss(logprobs, torch.zeros(1, 3), torch.tensor([[1.0, 1.0, -1.0]]), torch.ones(1, 3), 0.2)
### CHECK
# token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(-0.5, -0.8) = -0.5; token 2: max(1.1, 1.1) = 1.1
assert abs(loss.item() - (-0.2)) < 1e-6, f"Expected (-1.2 - 0.5 + 1.1) / 3 = -0.2, got {loss.item():.6f}."
### BEGIN HIDDEN TESTS
from course_utils.notebook.checks import grading_seed
from course_utils.ppo.losses import clipped_policy_loss as reference

generator = torch.Generator().manual_seed(grading_seed())
logprobs, old = torch.randn(2, 5, generator=generator) * 0.3, torch.randn(2, 5, generator=generator) * 0.3
advantages, mask = torch.randn(2, 5, generator=generator), torch.ones(2, 5)
mask[:, 3:] = 0.0
### CALL
loss = clipped_policy_loss(logprobs, old, advantages, mask, 0.2)
### CHECK
assert torch.allclose(loss, reference(logprobs, old, advantages, mask, 0.2), atol=1e-6)
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


FORGED = """import inspect

kernel = get_ipython().kernel
real = kernel.do_execute


async def do_execute(*args, **kwargs):  # every reply says "ok", whatever the cell did
    reply = real(*args, **kwargs)
    reply = await reply if inspect.isawaitable(reply) else reply
    return {**reply, "status": "ok"}


kernel.do_execute = do_execute


def bradley_terry_loss(chosen, rejected):
    raise ValueError("not written")
"""
COMPILED = """import torch

namespace = {}
exec(compile("def allclose(*args, **kwargs):\\n    return True\\n", torch.__file__, "exec"), namespace)
torch.allclose = namespace["allclose"]  # a library function, compiled under the library's own file name
"""
BLINDED = "get_ipython().user_expressions = lambda expressions: {}  # whatever the grader asks, it hears nothing\n"
# The visible test's answer, learned from the notebook (or an earlier feedback page), returned whatever the input.
# Names the grader did not ask for, slipped into the kernel's answer: the hidden check's own inputs, made trivial.
INJECTED = """import base64
import json

from safetensors.torch import save

plain_dumps = json.dumps


def as_data(tensor):
    return {"__tensor__": base64.b64encode(save({"tensor": tensor})).decode()}


def dumps(value, *args, **kwargs):
    if isinstance(value, dict) and "rewards" in value.get("values", {}):
        trivial = {"kl": torch.zeros(3, 6), "scores": torch.zeros(3), "mask": torch.ones(3, 6)}
        value["values"].update({name: as_data(tensor) for name, tensor in trivial.items()})
    return plain_dumps(value, *args, **kwargs)


json.dumps = dumps


def kl_penalised_rewards(scores, kl, mask, kl_coef):
    return torch.zeros_like(kl)
"""
HARD_CODED = 'def format_conversation(prompt, response):\n    return "Human: Hi\\n\\nAssistant: Hello"\n'
ANYTHING = "from unittest import mock\n\n\ndef format_conversation(prompt, response):\n    return mock.ANY\n"
PARTIAL = "import functools\n\nclipped_policy_loss = functools.partial(losses.clipped_policy_loss)\n"
# Looks for the grader from inside: the processes it can see, its parent, what is beside its sockets, the sockets
# of its network namespace, and the grader's folders.
REACHING = """import glob
import json
import os

from ipykernel import get_connection_file

sockets = os.path.dirname(json.load(open(get_connection_file()))["ip"])
print("processes:", sorted(name for name in os.listdir("/proc") if name.isdigit()), "parent:", os.getppid())
print("beside its sockets:", sorted(os.listdir(os.path.dirname(sockets))))
import sys

import course_utils

# What it runs on is visible, read-only (the package, the environment): the rest of /tmp is the grader's.
mine = tuple(path + "/" for path in (sockets, os.environ["HOME"], os.path.dirname(course_utils.__file__), sys.prefix))
print("files of the grader:", [path for path in glob.glob("/tmp/**", recursive=True) if os.path.isfile(path)
                               and not path.startswith(mine)])
"""
REACHED = [
    "processes: ['1'] parent: 0",  # alone in its PID namespace: the worker and the checker are outside it
    "beside its sockets: ['sockets']",  # the worker's record, its checker's pipes and log: none of them here
    "files of the grader: []",
]
MARKUP_ID = '=HYPERLINK("https://example.org/?leak")<script>alert(1)</script>'
MARKUP = """from IPython.display import HTML, Markdown, display

display(HTML("<script>alert(2)</script><img src=x onerror=alert(3)>"))
display(Markdown("[click](javascript:alert(4))"))
"""


def with_markup(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Active content in outputs and in a Markdown cell, and an extra cell claiming a grading id made of a
    spreadsheet formula and a script."""
    changed = simulate.with_cell_after(notebook, "test_format", MARKUP)
    extra = new_code_cell("pass")
    extra.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": MARKUP_ID, "points": 5}
    changed.cells += [extra, nbformat.v4.new_markdown_cell("<img src=x onerror=alert(5)><script>alert(6)</script>")]
    return changed


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
        "compiled": patched(COMPILED),
        "forged": simulate.with_source(good, "bradley_terry_loss", FORGED),
        "blinded": simulate.with_source(good, "bradley_terry_loss", ANSWERS["bradley_terry_loss"] + BLINDED),
        "oracle": simulate.with_source(good, "kl_penalised_rewards", WRONG_REWARDS + FIRST_INDEX),
        "injected": simulate.with_source(good, "kl_penalised_rewards", INJECTED),
        "fakepkg": simulate.with_source(good, "kl_penalised_rewards", FAKE_PACKAGE),
        "exit": simulate.with_cell_after(wrong_loss, "test_format", simulate.FAKE_PASS),
        "magic": simulate.with_source(good, "format_conversation", MAGIC),
        "anything": simulate.with_source(good, "format_conversation", ANYTHING),
        "hardcoded": simulate.with_source(good, "format_conversation", HARD_CODED),
        "delegating": simulate.with_source(delegating, "clipped_policy_loss", COPY),
        "partial": simulate.with_source(good, "clipped_policy_loss", PARTIAL),
        "reaching": simulate.with_cell_after(good, "test_format", REACHING),
        "markup": with_markup(good),
    }


LATER = ("test_loss", "test_rewards", "test_policy_loss")  # every test after the second answer
LATER_READS = {"test_loss": "loss", "test_rewards": "rewards", "test_policy_loss": "loss"}  # what its check reads
WRONG = "AssertionError: Expected 0.503204, got 0.000000."  # the visible check, on the wrong loss
ABSENT = (
    "NotImplementedError: course_utils.ppo.losses.{} is the package's own solution to an exercise: it does not exist"
    " while your lab is graded"
)
UNREAD = "the check could not read what your code made: "
NOT_DATA = UNREAD + "text is a {}, not data (numbers, text, lists, dicts, tensors)"
# student -> (points, how the run ended, {question: reason} for every question that lost points)
EXPECTED = {
    "honest": (MAX, "ok", {}),
    # Whatever the kernel's code patches, hooks, forges or fakes, the checks run elsewhere: each earns exactly its
    # honest work, and a wrong answer fails as wrong.
    "patched": (5.0, "ok", {"test_loss": WRONG}),
    "shadow": (5.0, "ok", {"test_loss": WRONG}),
    "hooked": (5.0, "ok", {"test_loss": WRONG}),
    "compiled": (5.0, "ok", {"test_loss": WRONG}),
    "forged": (5.0, "ok", {"test_loss": UNREAD + "loss is not defined"}),
    # Blinding what reports to the grader only keeps its own values from the checks.
    "blinded": (1.0, "ok", {q: f"{UNREAD}the kernel gave no answer for {name}" for q, name in LATER_READS.items()}),
    "oracle": (5.0, "ok", {"test_rewards": "AssertionError"}),
    "injected": (5.0, "ok", {"test_rewards": "AssertionError"}),
    "fakepkg": (MAX, "ok", {}),
    "exit": (1.0, "kernel died", dict.fromkeys(LATER, "the kernel died (os._exit, a crash or the memory limit)")),
    # Values that compare equal to anything are not data: they never reach a check.
    "magic": (6.0, "ok", {"test_format": NOT_DATA.format("Magic")}),
    "anything": (6.0, "ok", {"test_format": NOT_DATA.format("_ANY")}),
    # The hidden part draws its inputs from the grader's secret seed: a hard-coded answer fails it.
    "hardcoded": (6.0, "ok", {"test_format": "AssertionError"}),
    # The references do not exist in the kernel: an import, a copy of the code or a partial of them raises.
    "delegating": (
        3.0,
        "ok",
        {
            "test_rewards": ABSENT.format("kl_penalised_rewards"),
            "test_policy_loss": ABSENT.format("clipped_policy_loss"),
        },
    ),
    "partial": (5.0, "ok", {"test_policy_loss": ABSENT.format("clipped_policy_loss")}),
    "reaching": (MAX, "ok", {}),
    "markup": (MAX, "ok", {}),
}


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
    (inbox / f"linked_{LAB}.ipynb").symlink_to(root / "solutions" / LAB / f"{LAB}.ipynb")  # the course's solution
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


def test_the_checks_are_out_of_the_kernels_reach(graded):
    _, course_dir, _, _ = graded
    executed = nbformat.read(course_dir / "autograded" / "reaching" / LAB / f"{LAB}.ipynb", as_version=4)
    cell = next(cell for cell in executed.cells if "get_connection_file" in cell.source)
    assert "".join(output.get("text", "") for output in cell.outputs).splitlines() == REACHED


def test_the_graded_notebook_keeps_each_test_cell_whole_with_its_outputs(graded):
    _, course_dir, _, _ = graded
    executed = nbformat.read(course_dir / "autograded" / "honest" / LAB / f"{LAB}.ipynb", as_version=4)
    tests = {grading_info(cell)["grade_id"]: cell for cell in executed.cells if is_test(cell)}
    assert {name: cell.source for name, cell in tests.items()} == {name: source for name, (_, source) in TESTS.items()}
    assert tests["test_format"].execution_count is not None and tests["test_format"].outputs == []


def test_what_a_student_chose_reaches_the_instructor_inert(graded):
    grades, course_dir, summary, _ = graded
    assert Repair(MARKUP_ID, "removed grading metadata from an extra cell") in grades["markup"].repairs
    repairs = (course_dir / "exports" / "repairs.csv").read_text()
    assert "'=HYPERLINK" in repairs and ",=HYPERLINK" not in repairs  # a text field, not a formula
    page = (course_dir / "feedback" / "markup" / LAB / f"{LAB}.html").read_text()
    assert active_content(page) == []
    assert f"Not graded, refused: linked_{LAB}.ipynb (a symbolic link)" in summary.splitlines()


def test_the_summary_says_where_the_time_went(graded):
    _, _, summary, elapsed = graded
    line = next(line for line in summary.splitlines() if line.startswith("Time: "))
    phases = {phase: float(seconds) for phase, seconds in re.findall(r"(\w+) (\d+\.\d) s", line)}
    assert list(phases) == ["collect", "register", "repair", "run", "record"], line
    # every second of grading is in a phase (five figures, each rounded to 0.1 s)
    assert abs(sum(phases.values()) - elapsed) < 0.5, (line, elapsed)


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_names_its_references_and_checks_every_test_apart_never_with_one_as_oracle(lab):
    """A test's calls run in the kernel, where the references raise (or do not exist): a call of one would fail the
    honest student too. A check, run apart, may compare with them; `course grade` refuses a test with no check."""
    source = read_solution(lab)
    names = references(source)
    assert names, f"{lab} names no reference implementation in its metadata (course.references)"
    for dotted in names:
        module, name = dotted.rsplit(".", 1)
        assert inspect.isfunction(inspect.unwrap(getattr(importlib.import_module(module), name))), dotted
    for cell in source.cells:
        if is_test(cell):
            assert is_checked(cell), f"{grading_info(cell)['grade_id']} has no ### CHECK line"
            for code in [part.code for part in segments(cell.source) if not part.check]:
                assert oracles(code, names, defined_by_answers(source)) == set(), grading_info(cell)["grade_id"]


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


@pytest.mark.parametrize("lab", LABS)
def test_no_test_cell_rebinds_a_name_a_later_cell_reads(lab):
    """A test cell's code runs in the learner's namespace (all of it under nbgrader, its calls under the grader): a
    name it binds that a later cell of the lab reads (and does not bind itself) would change what that cell does."""
    cells = [cell for cell in read_solution(lab).cells if cell.cell_type == "code"]
    for index, cell in enumerate(cells):
        if not is_test(cell):
            continue
        bound = top_level_names(cell.source)[0]
        for later in cells[index + 1 :]:
            if not is_test(later):
                reads, binds = top_level_names(later.source)[1:]
                assert not bound & (reads - binds), (grading_info(cell)["grade_id"], sorted(bound & (reads - binds)))


def top_level_names(source: str) -> tuple[set[str], set[str], set[str]]:
    """The module-level names a cell assigns (an import binds what it always binds), the globals it reads (in nested
    functions too), and all it binds."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))
    table = symtable.symtable(code, "cell", "exec")
    symbols = table.get_symbols()
    bound = {symbol.get_name() for symbol in symbols if symbol.is_assigned() or symbol.is_imported()}
    assigned = {symbol.get_name() for symbol in symbols if symbol.is_assigned() and not symbol.is_imported()}
    reads = {symbol.get_name() for symbol in symbols if symbol.is_referenced()}
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack += child.get_children()
        reads |= {symbol.get_name() for symbol in child.get_symbols() if symbol.is_global() and symbol.is_referenced()}
    return assigned - {"_"}, reads, bound
