"""The package as a graded kernel sees it: a copy in which the lab's reference implementations do not exist.

A lab names, in its notebook metadata, the package functions that solve its exercises (``course.references``). While
the lab is graded, the kernel's ``course_utils`` is this copy, mounted read-only where the package is: each reference
keeps its name and signature, and raises. Its code is nowhere in the kernel's reach (not in a module, not in a file,
not in a compiled cache), so no copy, partial, wrapper or restored code object of it can exist there. The checks,
which compare with the references, run apart from the kernel with the real package (``checker.py``).
"""

from __future__ import annotations

import ast
import compileall
import shutil
from collections import defaultdict
from pathlib import Path

MESSAGE = "{dotted} is the package's own solution to an exercise: it does not exist while your lab is graded"


def absent(dotted: str) -> ast.stmt:
    """The body of a reference in the view: a ``raise`` that says why."""
    return ast.parse(f"raise NotImplementedError({MESSAGE.format(dotted=dotted)!r})").body[0]


def without(source: str, functions: dict[str, str]) -> str:
    """A module's source with each top-level function named in ``functions`` (name -> dotted name) made to raise."""
    tree = ast.parse(source)
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in functions:
            node.body = [absent(functions[node.name])]
            found.add(node.name)
    if missing := set(functions) - found:
        raise ValueError(f"no function {', '.join(sorted(missing))} at the top of the module")
    return ast.unparse(tree) + "\n"


def module_file(package: Path, module: str) -> Path:
    """The file of ``module`` (a dotted name that starts with the package's) in the folder ``package``, found without
    importing anything."""
    first, *parts = module.split(".")
    if first != package.name:
        raise ValueError(f"{module} is not a module of {package.name}")
    candidates = [package.joinpath(*parts[:-1], parts[-1] + ".py")] if parts else []
    for path in [*candidates, package.joinpath(*parts, "__init__.py")]:
        if path.is_file():
            return path
    raise ValueError(f"{module} is not a module of {package.name}")


def build_view(package: Path, references: list[str], folder: Path) -> Path:
    """A copy of ``package`` (the ``course_utils`` folder) in ``folder``, each reference made to raise, compiled."""
    by_module: dict[str, dict[str, str]] = defaultdict(dict)
    for dotted in references:
        module, name = dotted.rsplit(".", 1)
        by_module[module][name] = dotted
    view = folder / package.name
    shutil.copytree(package, view, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    for module, functions in by_module.items():
        path = module_file(view, module)
        path.write_text(without(path.read_text(encoding="utf-8"), functions), encoding="utf-8")
    compileall.compile_dir(view, quiet=2)  # the kernels read it read-only: compiled once here, not in each of them
    return view
