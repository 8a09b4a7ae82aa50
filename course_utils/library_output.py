"""Keep stderr silent while a lab is graded: nbgrader scores a test cell that writes to stderr as 0 points."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_silenced = False


def progress_bars_enabled() -> bool:
    """False once `silence_libraries` ran; our own progress bars ask this before they draw."""
    return not _silenced


def hide_library_deprecations() -> None:
    """Hide the deprecation warning one library raises about another's API (TRL and PEFT ask a model
    ``is_gradient_checkpointing``, which transformers 5 deprecated): nothing in the learner's code to change.

    Call it inside ``warnings.catch_warnings()`` to hide it for a block only; `profiles.setup` hides it for the lab.
    """
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def silence_libraries() -> None:
    """Switch off warnings, library logging below ERROR and every progress bar in this process.

    Forked workers inherit all of it; the environment variables set here also quiet Python processes started
    afterwards, which read them at start-up.
    """
    global _silenced
    _silenced = True
    os.environ.update(
        {
            "PYTHONWARNINGS": "ignore",
            "TQDM_DISABLE": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
    )
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)

    import datasets
    import huggingface_hub
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Hide the progress bars of ``datasets`` for a block (dataset preparation we do behind the scenes)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' loading report and progress bar for a block: a model loaded again, whose report (a new score
    head, say) the lab has shown once already."""
    import transformers

    verbosity, bars = transformers.logging.get_verbosity(), transformers.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.logging.enable_progress_bar()
