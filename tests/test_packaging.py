"""The repository's own promises: clean notebooks, a conda file in step with pyproject, small packaged assets."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import ROOT

from course_utils.runtime.sources import asset_path

NOTEBOOKS = sorted((ROOT / "solutions").rglob("*.ipynb")) + sorted((ROOT / "labs").rglob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebooks_have_no_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {cell.id} has outputs; clear them before committing."
            assert cell.execution_count is None, f"{path.name}: cell {cell.id} has an execution count."


def test_environment_yml_lists_exactly_the_pip_dependencies() -> None:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    conda = {line for line in pip_section if not line.startswith("-e")}
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["instructor"])
    wanted |= {req for req in extras["dev"] if not req.startswith(project["name"])}
    assert conda == wanted, f"only in environment.yml: {conda - wanted}; only in pyproject: {wanted - conda}"
    python = next(item for item in environment["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert python.startswith("python>=" + project["requires-python"].removeprefix(">="))


def test_torch_and_numpy_are_not_pinned_exactly() -> None:
    for requirement in PYPROJECT["project"]["dependencies"]:
        if requirement_name(requirement) in {"torch", "numpy"}:
            assert "==" not in requirement, requirement


def test_packaged_assets_stay_under_10_mb() -> None:
    total = sum(path.stat().st_size for path in asset_path().rglob("*") if path.is_file())
    assert 0 < total < 10 * 1024 * 1024, f"{total / 1e6:.1f} MB of packaged assets"


def test_every_notebook_installs_the_package_course_toml_names_and_its_badge_opens_it() -> None:
    """course.toml names the package every lab installs on Colab; a GitHub one is where the badges open the labs."""
    package = tomllib.loads((ROOT / "course.toml").read_text())["release"]["package"]
    github = re.fullmatch(r"align-course @ git\+https://github\.com/([^/]+/[^/@]+?)(?:\.git)?@([^#]+)", package)
    for path in NOTEBOOKS:
        text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
        assert f'"{package}"' in text, f"{path.name}: the install cell should install {package!r}: run `make release`"
        badges = re.findall(r"colab\.research\.google\.com/github/([^)]+)\)", text)
        assert len(badges) == 1, f"{path.name}: one Colab badge, found {badges}"
        if github:
            lab = path.relative_to(ROOT).parts[1]
            assert badges == [f"{github[1]}/blob/{github[2]}/labs/{lab}/{lab}.ipynb"], f"{path.name}: {badges}"


def test_ci_runs_make_test_and_the_labs_at_the_lowest_versions() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "scripts/check_lowest.sh" in ci


def install_cells() -> dict[str, str]:
    return {path.name: nbformat.read(path, as_version=4).cells[1].source for path in NOTEBOOKS}


def test_every_lab_installs_the_same_way_only_on_colab_and_only_what_a_learner_needs() -> None:
    cells = install_cells()
    assert len(set(cells.values())) == 1, f"the install cells differ: {sorted(cells)}"
    cell = next(iter(cells.values()))
    assert 'if "google.colab" in sys.modules:' in cell
    installs = re.findall(r"^\s*[%!].*pip install .*$", cell, re.M)
    assert len(installs) == 1, f"one install command, found {installs}"
    install = installs[0].strip()
    # The kernel's own Python, and not %pip: it always prints "you may need to restart", a guess.
    assert install.startswith("!{sys.executable} -m pip install"), install
    assert "align-course @" in install and "align-course[" not in install, "no extras (nbgrader, Jupyter) on Colab"
    report = re.search(r"--report (\S+)", install).group(1)
    assert f'restart_notice("{report}")' in cell, "the report pip writes is the one checked for a needed restart"


def test_lowest_versions_pins_every_dependency_but_torch_at_its_lower_bound() -> None:
    script = ROOT / "scripts" / "lowest_versions.py"
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    pins = dict(pin.split("==") for pin in printed.splitlines())
    project = PYPROJECT["project"]
    names = {requirement_name(r) for r in project["dependencies"] + project["optional-dependencies"]["instructor"]}
    assert set(pins) == names - {"torch"}
    assert pins["transformers"] == "5.15" and pins["trl"] == "1.16"


INSTRUCTOR_ONLY = {"nbgrader", "nbclient", "nbformat", "jupyter_client", "jupyter_core", "jupyter_server", "ipykernel"}


def test_nothing_a_learner_imports_needs_the_instructor_extra() -> None:
    """On Colab only the base install exists: outside instructor/, no import of notebook or Jupyter tooling."""
    package = ROOT / "course_utils"
    for path in package.rglob("*.py"):
        if "instructor" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            roots = {name.split(".")[0] for name in names}
            assert not roots & INSTRUCTOR_ONLY, f"{path.relative_to(ROOT)} imports {sorted(roots & INSTRUCTOR_ONLY)}"


# The rooms of the package, each with the rooms it may import: imports go down the layers. The shared helpers
# (library_output.py, lm.py) are at the bottom; a lab's room, the capstone and the recipes never import each other.
BASE = {"course_utils", "course_utils.library_output", "course_utils.lm"}
LABS_MAY_IMPORT = BASE | {"course_utils.ppo", "course_utils.grpo", "course_utils.runtime", "course_utils.notebook"}
ROOMS = {
    "library_output": {"course_utils"},
    "lm": {"course_utils", "course_utils.library_output"},
    "ppo": BASE,
    "grpo": BASE,
    "runtime": BASE | {"course_utils.ppo"},
    "notebook": BASE | {"course_utils.ppo", "course_utils.runtime"},
    "labs": LABS_MAY_IMPORT,
    "capstone": LABS_MAY_IMPORT,
    "recipes": BASE | {"course_utils.ppo", "course_utils.grpo", "course_utils.runtime", "course_utils.notebook"},
    "cli": {"course_utils.recipes", "course_utils.instructor"},
}


def course_imports(path: Path) -> set[str]:
    """The ``course_utils`` modules a file imports, relative imports resolved: ``from ..ppo import x`` in
    ``course_utils/capstone/runs.py`` is ``course_utils.ppo``, ``from ..lm import x`` in ``ppo/trainer.py`` is
    ``course_utils.lm``."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]  # the file's package, e.g. ("course_utils", "ppo")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            found.add(".".join([*base, *(node.module.split(".") if node.module else [])]))
    return {name for name in found if name.split(".")[0] == "course_utils"}


def room_of(module: str) -> str:
    """``course_utils.capstone.runs`` -> ``course_utils.capstone``; ``course_utils.lm`` -> itself."""
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_room_imports_only_the_rooms_below_it(room: str) -> None:
    package = ROOT / "course_utils"
    paths = sorted((package / room).rglob("*.py")) if (package / room).is_dir() else [package / f"{room}.py"]
    assert paths and all(path.is_file() for path in paths), f"no room {room} in course_utils"
    for path in paths:
        outside = {room_of(name) for name in course_imports(path)} - {f"course_utils.{room}"}
        assert outside <= ROOMS[room], f"{path.relative_to(ROOT)} imports {sorted(outside - ROOMS[room])}"


def test_every_module_of_the_package_is_in_a_room() -> None:
    package = ROOT / "course_utils"
    tops = {path.stem for path in package.glob("*.py")} | {path.name for path in package.iterdir() if path.is_dir()}
    tops -= {"__init__", "__pycache__", "assets", "evaluate_modules", "instructor"}  # instructor/ may import any room
    assert tops == set(ROOMS)


@pytest.mark.parametrize("engine", ["ppo", "grpo"])
def test_outside_an_engine_only_its_public_names_are_imported(engine: str) -> None:
    package = ROOT / "course_utils"
    for path in package.rglob("*.py"):
        if engine in path.relative_to(package).parts:
            continue
        internals = {name for name in course_imports(path) if name.startswith(f"course_utils.{engine}.")}
        assert not internals, f"{path.relative_to(ROOT)} reaches into the {engine} engine: {sorted(internals)}"


def test_nothing_outside_scripts_imports_a_script() -> None:
    scripts = {path.stem for path in (ROOT / "scripts").glob("*.py")}
    for folder in ("course_utils", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                imported = {name.split(".")[0] for name in names} & scripts
                assert not imported, f"{path.relative_to(ROOT)} imports scripts/{sorted(imported)}"
