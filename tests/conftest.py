"""Shared fixtures; the whole suite runs offline (set before any Hugging Face library reads these variables)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import course_utils.instructor  # noqa: E402, F401  before nbformat: 2 s of imports less (see its __init__)

# isort: split
import json  # noqa: E402
import logging  # noqa: E402
import warnings  # noqa: E402
from html.parser import HTMLParser  # noqa: E402
from pathlib import Path  # noqa: E402

import datasets  # noqa: E402
import huggingface_hub  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from course_utils import library_output  # noqa: E402
from course_utils.instructor.release import RELEASE_DIR, SOURCE_DIR, available_labs  # noqa: E402
from course_utils.runtime.loaders import load_sft_model  # noqa: E402
from course_utils.runtime.profiles import Profile  # noqa: E402

# The course every test reads: `from conftest import ROOT, LABS, ...` (pyproject puts tests/ on the path).
ROOT = Path(__file__).resolve().parents[1]
LABS = available_labs(ROOT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest test files first, by the wall time benchmarks/suite.py measured (the others after them, in their
    order): `make test` hands whole files to its two workers as they free up (--no-loadscope-reorder keeps this
    order), and a long file started last would keep one worker busy while the other waits."""
    measured = ROOT / "benchmarks" / "results" / "suite.json"
    if not measured.exists():
        return
    seconds = {row[0]: float(row[1].split()[0]) for row in json.loads(measured.read_text())["rows"]}
    items.sort(key=lambda item: -seconds.get(Path(item.path).relative_to(ROOT).as_posix(), 0.0))  # stable


def solution_path(lab: str) -> Path:
    """The instructor's notebook of ``lab`` (nbgrader's source, with solutions and hidden tests)."""
    return ROOT / SOURCE_DIR / lab / f"{lab}.ipynb"


def release_path(lab: str) -> Path:
    """The student notebook of ``lab``, as released."""
    return ROOT / RELEASE_DIR / lab / f"{lab}.ipynb"


def read_solution(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(solution_path(lab), as_version=4)


def read_release(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(release_path(lab), as_version=4)


# The tiny model's matrices are too small to gain from intra-op threads; on a busy 2-core machine the threads
# contend and a forward pass takes ~100x longer (0.15 s instead of 1.5 ms).
torch.set_num_threads(1)

QUIET_ENV = (
    "PYTHONWARNINGS",
    "TQDM_DISABLE",
    "TRANSFORMERS_VERBOSITY",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "HF_DATASETS_DISABLE_PROGRESS_BARS",
)


@pytest.fixture(scope="session")
def tiny_profile() -> Profile:
    return Profile("tiny", "cpu")


@pytest.fixture(scope="session")
def tiny_model_and_tokenizer(tiny_profile):
    """The packaged OPT-style tiny model, loaded once for the session (tests must not train or modify it)."""
    return load_sft_model(tiny_profile)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_and_tokenizer):
    return tiny_model_and_tokenizer[0]


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_and_tokenizer):
    return tiny_model_and_tokenizer[1]


@pytest.fixture
def restore_quiet_state(monkeypatch):
    """Undo everything `library_output.silence_libraries` changes (a grade-profile `setup` calls it), after the test."""
    monkeypatch.setattr(library_output, "_silenced", False)
    for name in QUIET_ENV:
        # delenv alone records nothing for an unset variable; setenv first makes monkeypatch restore "unset".
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    filters = warnings.filters[:]
    root_level = logging.getLogger().level
    transformers_verbosity = transformers.logging.get_verbosity()
    transformers_bars = transformers.utils.logging.is_progress_bar_enabled()
    datasets_verbosity = datasets.logging.get_verbosity()
    datasets_bars = datasets.is_progress_bar_enabled()
    hub_bars = not huggingface_hub.utils.are_progress_bars_disabled()
    yield
    warnings.filters[:] = filters
    warnings._filters_mutated()
    logging.getLogger().setLevel(root_level)
    transformers.logging.set_verbosity(transformers_verbosity)
    if transformers_bars:
        transformers.logging.enable_progress_bar()
    datasets.logging.set_verbosity(datasets_verbosity)
    if datasets_bars:
        datasets.enable_progress_bars()
    if hub_bars:
        huggingface_hub.utils.enable_progress_bars()


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def active_content(page: str) -> list[str]:
    """What in an HTML page could run or load something: script-like elements, event handlers, ``javascript:``."""
    elements = Elements()
    elements.feed(page)
    found = [tag for tag, _ in elements.tags if tag in {"script", "iframe", "object", "embed", "svg", "base"}]
    found += [f"{tag} {name}" for tag, attrs in elements.tags for name in attrs if name.startswith("on")]
    return found + [value for _, attrs in elements.tags for value in attrs.values() if "javascript:" in value.lower()]
