"""Checks apart from the kernel: how a test cell is cut, what crosses as data, the checker, and the package's view."""

import json
from unittest import mock

import pytest
import torch

from course_utils.instructor.grading.cells import Segment, imports, names_bound, names_read, segments
from course_utils.instructor.grading.checker import Checker
from course_utils.instructor.grading.data import NotData, decode, encode, encode_names
from course_utils.instructor.grading.package_view import build_view, module_file, without
from course_utils.runtime.profiles import Profile

CELL = """import torch

loss = my_loss(torch.tensor([1.0]))
### CHECK
assert loss.item() == 2.0, "Expected 2."
print("fine")
### BEGIN HIDDEN TESTS
from course_utils.notebook.checks import grading_seed

inputs = torch.rand(3, generator=torch.Generator().manual_seed(grading_seed()))
### CALL
loss = my_loss(inputs)
### CHECK
assert torch.allclose(loss, 2 * inputs)
### END HIDDEN TESTS
"""


def test_a_cell_is_cut_into_calls_and_checks_in_order():
    parts = segments(CELL)
    assert [part.check for part in parts] == [False, True, True, False, True]
    assert parts[0].code == "import torch\n\nloss = my_loss(torch.tensor([1.0]))\n"
    assert parts[3] == Segment(False, "loss = my_loss(inputs)\n")
    assert segments("x = f()\n") == [Segment(False, "x = f()\n")]  # no marker: one call, nothing checked apart


def test_the_names_a_part_reads_and_binds_and_the_cells_imports():
    check = segments(CELL)[2].code
    assert names_bound(check) == {"grading_seed", "inputs"}
    assert names_read(check) == {"torch", "grading_seed"}
    assert imports(CELL) == "import torch\nfrom course_utils.notebook.checks import grading_seed\n"
    # a parameter is bound where it is used: the check does not ask the kernel for it...
    assert names_read("f(msg=lambda message: message)\n") - names_bound("f(msg=lambda message: message)\n") == {"f"}
    # ... and it does not hide the part's own name of the same spelling
    shadowed = "def reference(rows):\n    return [row for row in rows if row > limit]\n\n\nexpected = reference(rows)\n"
    assert (names_read(shadowed), names_bound(shadowed)) == ({"reference", "rows", "limit"}, {"reference", "expected"})


def test_data_crosses_and_objects_do_not():
    values = {"n": 3, "x": 0.5, "inf": float("inf"), "text": "a", "nested": {"k": [1, (2, None)]}, "t": torch.eye(2)}
    back = decode(encode(values))
    assert back["nested"] == {"k": [1, [2, None]]} and back["inf"] == float("inf") and back["text"] == "a"
    assert torch.equal(back["t"], torch.eye(2)) and back["t"].dtype == torch.float32
    for value, kind in [(mock.ANY, "_ANY"), (type("Magic", (str,), {})("x"), "Magic"), (print, "builtin_function")]:
        with pytest.raises(NotData, match=f"value is a {kind}"):
            encode({"value": value})
    said = json.loads(encode_names(["t", "f", "gone"], {"t": torch.zeros(1), "f": lambda: 0}))
    assert sorted(said["values"]) == ["t"]
    assert said["missing"] == {
        "f": "f is a function, not data (numbers, text, lists, dicts, tensors)",
        "gone": "gone is not defined",
    }


def test_the_checker_runs_a_check_on_the_values_and_keeps_the_cells_namespace():
    checker = Checker(Profile("grade", "cpu"))
    request = {"cell": 4, "imports": "import torch\n", "values": encode({"loss": torch.tensor(2.0)}), "wanted": []}
    passed = checker.answer({**request, "code": 'assert loss.item() == 2.0, "Expected 2."\nprint("fine")\n'})
    assert passed == {"passed": True, "error": "", "printed": "fine\n", "values": "{}"}
    made = checker.answer({**request, "values": "{}", "code": "inputs = torch.ones(2)\n", "wanted": ["inputs"]})
    assert torch.equal(decode(made["values"])["inputs"], torch.ones(2))
    failed = checker.answer(
        {**request, "values": encode({"loss": torch.tensor(3.0)}), "code": "assert loss == 2, 'Expected 2.'\n"}
    )
    assert (failed["passed"], failed["error"]) == (False, "AssertionError: Expected 2.")
    given = checker.answer({**request, "code": "assert profile.name == 'grade'\n"})  # the checker's, not the kernel's
    assert given["passed"]
    broken = checker.answer({**request, "code": "undefined_name\n"})
    assert broken["error"].startswith("the check failed to run: NameError: name 'undefined_name' is not defined")


def test_the_view_of_the_package_has_no_reference_code(tmp_path):
    source = 'import torch\n\n\n@torch.no_grad()\ndef solve(x):\n    """The answer."""\n    return x + 1\n'
    source += "\n\ndef keep(x):\n    return x\n"
    stubbed = without(source, {"solve": "pkg.mod.solve"})
    assert "x + 1" not in stubbed and "The answer" not in stubbed and "return x\n" in stubbed
    assert "@torch.no_grad()" in stubbed and "raise NotImplementedError(\"pkg.mod.solve is the package's" in stubbed
    with pytest.raises(ValueError, match="no function missing"):
        without(source, {"missing": "pkg.mod.missing"})
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text(source)
    assert module_file(package, "pkg.sub.mod") == package / "sub" / "mod.py"
    view = build_view(package, ["pkg.sub.mod.solve"], tmp_path / "view")
    assert "x + 1" not in (view / "sub" / "mod.py").read_text() and (package / "sub" / "mod.py").read_text() == source
    compiled = list((view / "sub" / "__pycache__").glob("mod.*.pyc"))
    assert compiled and b"x + 1" not in compiled[0].read_bytes()  # compiled from the view, not the package
