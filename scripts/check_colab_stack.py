"""Run the labs as on Colab, in the environment that scripts/check_colab_stack.sh built (do not run it alone).

Each notebook runs in a fresh kernel whose IPython start-up registers a stand-in ``google.colab`` module, so the
labs' install cell behaves as on Colab: it pip-installs the course with ``%pip`` and reports a needed restart. Its
frontend answers the labs' check before submitting (``get_ipynb``) with the notebook the harness names in
``COLAB_NOTEBOOK`` (the learner's path), and nothing elsewhere (the check then says so in one line).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted(path.name for path in (ROOT / "solutions").iterdir() if path.is_dir())
# A module with a spec, as a real one has: libraries ask importlib.util.find_spec("google.colab") to detect Colab.
COLAB_STARTUP = """
import importlib.machinery, json, os, sys, types
colab = types.ModuleType("google.colab")
colab.__spec__ = importlib.machinery.ModuleSpec("google.colab", None)
def frontend(request_type, request="", timeout_sec=5, parent=None):  # google.colab._message's signature
    held = os.environ.get("COLAB_NOTEBOOK")
    return {"ipynb": json.load(open(held))} if request_type == "get_ipynb" and held else None
colab._message = types.SimpleNamespace(blocking_request=frontend)
sys.modules["google.colab"] = colab
"""


def run(notebook: nbformat.NotebookNode, folder: Path, ipython_dir: Path, held: bool = False) -> nbformat.NotebookNode:
    """Execute ``notebook`` in ``folder`` in a kernel that believes it runs on Colab; raise on a failing cell. With
    ``held``, its frontend holds the notebook as it was before the run (what the labs' last cell asks for)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "IPYTHONDIR": str(ipython_dir)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    if held:
        env["COLAB_NOTEBOOK"] = str(folder / "held.ipynb")
        (folder / "held.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute(env=env)
    return notebook


def printed(notebook: nbformat.NotebookNode, index: int) -> str:
    """What cell ``index`` printed to stdout."""
    outputs = notebook.cells[index].get("outputs", [])
    return "".join(output.get("text", "") for output in outputs if output.get("name") == "stdout")


def installer_said(notebook: nbformat.NotebookNode) -> str:
    """What the install cell (the second cell) printed, less pip's warnings about this machine's package index."""
    lines = printed(notebook, 1).splitlines()
    return "\n".join(line for line in lines if "WARNING: Location" not in line).strip()


def reported(notebook: nbformat.NotebookNode) -> str:
    """The lab's headline result, as `course_utils.notebook.results.report_result` printed it."""
    lines = [line for i in range(len(notebook.cells)) for line in printed(notebook, i).splitlines()]
    return next((line for line in lines if " -> " in line and line.startswith("lab")), "(no result)")


def main(venv: Path) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="colab-stack-"))
    ipython_dir = scratch / "ipython"
    (ipython_dir / "profile_default" / "startup").mkdir(parents=True)
    (ipython_dir / "profile_default" / "startup" / "00-colab.py").write_text(COLAB_STARTUP)
    release = nbformat.read(ROOT / "labs" / LABS[0] / f"{LABS[0]}.ipynb", as_version=4)
    install_cell = release.cells[1]

    # 1. A runtime that imported datasets (Colab preinstalls 4.0) before the install cell upgraded it.
    start = time.perf_counter()
    stale = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import datasets"), install_cell])  # cells 0, 1
    said = installer_said(run(stale, scratch / "restart", ipython_dir))
    print(f"[install cell after `import datasets`, {time.perf_counter() - start:.0f} s] {said or '(nothing)'}")
    if "restart the runtime" not in said or "datasets" not in said:
        print("FAILED: the install cell did not ask for a restart after replacing an imported datasets.")
        return 1

    from course_utils.instructor.grading.simulate import solved  # installed by the install cell above

    # 2. A learner's path: Lab 1's student notebook, answered, from its install cell to the end.
    start = time.perf_counter()
    answered = solved(release, nbformat.read(ROOT / "solutions" / LABS[0] / f"{LABS[0]}.ipynb", as_version=4))
    learner = run(answered, scratch / "learner", ipython_dir, held=True)
    checked = printed(learner, len(learner.cells) - 1).strip()
    print(
        f"[learner's path through labs/{LABS[0]}, {time.perf_counter() - start:.0f} s] install cell said: "
        f"{installer_said(learner) or '(nothing)'}; setup said: {printed(learner, 2).strip()!r}; "
        f"{reported(learner)}; the check before submitting said: {checked!r}"
    )
    if not checked.startswith("All is well"):
        print("FAILED: the check before submitting found problems in a solved notebook.")
        return 1

    # 3. Every lab's solution.
    for lab in LABS:
        start = time.perf_counter()
        notebook = run(
            nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4), scratch / lab, ipython_dir
        )
        print(f"[solutions/{lab}, {time.perf_counter() - start:.0f} s] ran every cell; {reported(notebook)}")
    print(f"All labs ran on Colab's stack in {venv}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
