"""What a learner's base install (``pip install align-course``, no extras: what Colab gets) can do.

    python scripts/check_base_install.py      # run by scripts/check_lowest.sh before the instructor extra is added

Imports every module of `course_utils` outside `instructor/`, checks that no notebook or Jupyter tooling is
installed (so nothing could have leaned on it), then runs Lab 1's first code cells (after the Colab-only install
cell, up to the first exercise) in the tiny profile, the labs' check before submitting on Lab 1's release (against
the packaged manifest, without its fresh run), and `course train dpo` and `ppo` for one step each on two
hh-rlhf-style pairs (the `course` command's learner part needs no extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR_ONLY = ("nbgrader", "nbclient", "nbformat", "jupyter_server", "jupyterlab", "notebook")


def learner_modules() -> list[str]:
    """Every module of the installed package, `instructor/` excepted."""
    import course_utils

    names = [module.name for module in pkgutil.walk_packages(course_utils.__path__, "course_utils.")]
    return ["course_utils"] + [name for name in names if not name.startswith("course_utils.instructor")]


def first_cells(lab: str) -> list[str]:
    """The code cells of ``lab`` after its install cell and before its first exercise."""
    notebook = json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text())
    cells = []
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            break
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "google.colab" not in source:
            cells.append(source)
    return cells


def main() -> int:
    present = [name for name in INSTRUCTOR_ONLY if importlib.util.find_spec(name) is not None]
    if present:
        print(f"FAILED: the base install brought instructor tooling: {', '.join(present)}")
        return 1
    modules = learner_modules()
    for name in modules:
        importlib.import_module(name)
    print(f"Imported the {len(modules)} learner-facing modules: {', '.join(modules)}")
    os.environ.setdefault("COURSE_PROFILE", "tiny")
    namespace: dict = {}
    cells = first_cells("lab1_instruction_tuning")
    for source in cells:
        exec(compile(source, "lab1_instruction_tuning", "exec"), namespace)  # noqa: S102 -- our own lab
    print(f"Ran Lab 1's first {len(cells)} code cells: {len(namespace['data']['train'])} training rows loaded.")
    return check_before_submitting() or train_one_step()


def check_before_submitting() -> int:
    """The labs' last cell on Lab 1's untouched release: it must find every exercise unanswered, and nothing else."""
    from course_utils.notebook.submission import graded_cells, read_manifest, submission_report

    lab = "lab1_instruction_tuning"
    release = read_manifest(lab)
    lines = submission_report(json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text()), release, run=False)
    unanswered = [cell for cell in graded_cells(release) if cell.kind == "answer"]
    if lines != [f"{cell.grade_id}: not answered yet (it still raises NotImplementedError)" for cell in unanswered]:
        print("FAILED: the check before submitting said:\n" + "\n".join(lines))
        return 1
    print(f"The check before submitting found Lab 1's {len(unanswered)} exercises unanswered.")
    return 0


def train_one_step() -> int:
    """`course train dpo` and `course train ppo` on the tiny model, one step each on two pairs, as a learner would
    run them (ppo against the tiny model with a fresh one-score head as its reward model)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from course_utils.cli import main as course
    from course_utils.runtime.sources import asset_path

    model = str(asset_path("models", "gpt2-tiny"))
    with tempfile.TemporaryDirectory() as scratch:
        AutoModelForSequenceClassification.from_pretrained(model, num_labels=1).save_pretrained(f"{scratch}/rm")
        AutoTokenizer.from_pretrained(model).save_pretrained(f"{scratch}/rm")
        flags = {"dpo": [], "ppo": ["--reward-model", f"{scratch}/rm", "--max-new-tokens", "4"]}
        pairs = Path(scratch) / "pairs.jsonl"
        pair = {
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello, how can I help?",
            "rejected": "\n\nHuman: Hi\n\nAssistant: No.",
        }
        pairs.write_text((json.dumps(pair) + "\n") * 2)
        for method, extra in flags.items():
            common = ["--model", model, "--output-dir", f"{scratch}/{method}", "--train", str(pairs)]
            code = course(
                ["train", method, *common, "--max-steps", "1", "--batch-size", "2", "--eval-fraction", "0", *extra]
            )
            if code:
                print(f"FAILED: course train {method} exited {code}")
                return code
            print(f"course train {method}: one step trained and saved.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
