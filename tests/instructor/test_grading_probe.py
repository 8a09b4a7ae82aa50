"""The probe's rules for what is the notebook's own code, on objects made here (no kernel needed).

``probe.ROOTS`` says where library code lives; in a kernel, ``main()`` sets it to the interpreter's, the
environment's and the package's folders. Here the interpreter and the environment are the libraries, and this
test's files are not.
"""

import os
import sys
import types
from pathlib import Path

import pytest

import course_utils
from course_utils.instructor.grading import probe


@pytest.fixture(autouse=True)
def roots(monkeypatch):
    places = {os.path.join(os.path.normpath(path), "") for path in (sys.prefix, sys.base_prefix)}
    monkeypatch.setattr(probe, "ROOTS", tuple(places))


def compiled(source: str, filename: str, module: str) -> dict:
    """``source`` compiled as from ``filename`` and run in a namespace whose ``__name__`` is ``module``."""
    namespace = {"__name__": module}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_code_from_a_file_outside_the_libraries_is_the_notebooks(tmp_path):
    cell = compiled("def f():\n    return 1\n", str(tmp_path / "ipykernel_1" / "123.py"), "__main__")
    assert probe.is_notebook_code(cell["f"])
    assert not probe.is_notebook_code(os.path.join)  # the standard library
    assert not probe.is_notebook_code(len)  # a C function has no code to judge


def test_generated_code_is_judged_by_its_module():
    """attrs and dataclasses generate methods from text: a library's stays the library's; exec'd text in __main__
    is the notebook's."""
    library = compiled("def __eq__(self, other):\n    return True\n", "<attrs generated eq>", "json")
    unknown = compiled("def __eq__(self, other):\n    return True\n", "<attrs generated eq>", "attr._not_loaded")
    notebook = compiled("def __eq__(self, other):\n    return True\n", "<string>", "__main__")
    assert not probe.is_notebook_code(library["__eq__"])
    assert not probe.is_notebook_code(unknown["__eq__"])  # as old attrs names them: it graded solutions 0 once
    assert probe.is_notebook_code(notebook["__eq__"])


def test_a_class_is_the_notebooks_by_its_module():
    library = type("Attribute", (), {"__eq__": lambda self, other: True, "__module__": "json"})
    notebook = type("Magic", (str,), {"__eq__": lambda self, other: True, "__module__": "__main__"})
    assert not probe.of_the_notebook(library)
    assert probe.of_the_notebook(notebook)


def test_a_module_is_installed_when_its_file_lies_with_the_libraries(tmp_path):
    fake = types.ModuleType("course_utils")
    assert probe.fake_module(fake, "course_utils") == "course_utils is not the installed module"
    fake.__file__ = str(tmp_path / "course_utils.py")
    assert probe.fake_module(fake, "course_utils") == "course_utils is not the installed module"
    assert probe.fake_module(os, "os") is None
    assert probe.fake_module(sys, "sys") is None  # built in: no file
    assert probe.fake_module("os", "os") == "os is not a module"


def test_a_test_cells_names_calls_and_imports():
    roots, chains, imports = probe.names_in(
        "import math\nfrom torch import allclose as close\nx = f(1)\nassert close(np.abs(x), y)\n"
    )
    assert roots == {"f", "np", "y"}  # x is assigned; close and math are bound by the imports
    assert {("f", "()"), ("close", "()"), ("np", "abs")} <= chains
    assert imports == {"math": ("math", None), "close": ("torch", "allclose")}


def test_a_copy_of_a_functions_code_has_its_fingerprint(tmp_path):
    source = "def gae(x):\n    return [v * 2 for v in x]\n"
    reference = compiled(source, str(Path(sys.prefix) / "ref.py"), "ref")["gae"]
    copy = compiled(source.replace("x", "values"), str(tmp_path / "cell.py"), "__main__")["gae"]
    other = compiled("def gae(x):\n    return [v * 3 for v in x]\n", str(tmp_path / "cell.py"), "__main__")["gae"]
    assert probe.fingerprint(copy.__code__) == probe.fingerprint(reference.__code__)  # renamed locals, same work
    assert probe.fingerprint(other.__code__) != probe.fingerprint(reference.__code__)


def test_a_decorated_reference_raises_through_its_decorator_while_swapped(monkeypatch, tmp_path):
    """``completion_logprobs`` is ``@torch.no_grad()``: the decorator's wrapper calls the swapped function, so a
    student's wrapper around the reference fails its test; and the static check names the delegation."""
    package = Path(course_utils.__file__).parent  # where the references live: a library like the others
    monkeypatch.setattr(probe, "ROOTS", (*probe.ROOTS, os.path.join(package, "")))
    (dotted, outer, inner), *_ = probe.references(["course_utils.dpo.completion_logprobs"])[0]
    assert (dotted, outer.__name__, hasattr(outer, "__wrapped__")) == (
        "course_utils.dpo.completion_logprobs",
        "completion_logprobs",
        True,
    )
    user = compiled(
        "from course_utils import dpo\n\n\ndef sequence_logprobs(model, batch):\n"
        "    return dpo.completion_logprobs(model, batch)\n",
        str(tmp_path / "cell.py"),
        "__main__",
    )
    found = probe.delegations("yours = sequence_logprobs(model, batch)", user, [(dotted, outer, inner)])
    assert found == [f"sequence_logprobs calls the package's {dotted}"]
    original = inner.__code__
    inner.__code__ = probe.raising(dotted)
    try:
        with pytest.raises(NotImplementedError, match=f"delegation: {dotted} is the package's own solution"):
            user["sequence_logprobs"](None, {})
    finally:
        inner.__code__ = original
