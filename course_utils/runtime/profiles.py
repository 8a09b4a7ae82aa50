"""Runtime profiles: how big a lab runs, chosen once by `setup()` at the top of every notebook.

- ``full``:  the real Hub models and datasets, sized for a free Colab T4 GPU.
- ``tiny``:  small models and sample datasets shipped inside `course_utils`; offline, a CPU is enough.
- ``grade``: ``tiny`` with minimal training and a silent stderr; chosen automatically under nbgrader.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch

from ..library_output import hide_library_deprecations, silence_libraries
from .versions import check_runtime

ProfileName = Literal["full", "tiny", "grade"]
PROFILES: tuple[ProfileName, ...] = ("full", "tiny", "grade")
T = TypeVar("T")
DRY_RUN_EXAMPLES = 8  # the most examples a dry run (COURSE_MAX_STEPS) samples or labels at each stage


@dataclass(frozen=True)
class Profile:
    """The profile a lab runs in, with the device it trains on and the seed it was given."""

    name: ProfileName
    device: str
    seed: int = 0
    max_steps: int | None = None  # a cap on every training run, for a dry run of the code path (COURSE_MAX_STEPS)

    @property
    def is_full(self) -> bool:
        """True when the real Hub models and datasets are used."""
        return self.name == "full"

    @property
    def quiet(self) -> bool:
        """True when nothing but results may be printed (progress bars and warnings would cost points)."""
        return self.name == "grade"

    def pick(self, *, full: T, tiny: T, grade: T | None = None) -> T:
        """Return the value for this profile; ``grade`` falls back to ``tiny`` when not given.

        >>> Profile("grade", "cpu").pick(full=500, tiny=100, grade=10)
        10
        """
        if self.name == "full":
            return full
        if self.name == "grade" and grade is not None:
            return grade
        return tiny

    def steps(self, *, full: int, tiny: int, grade: int | None = None) -> int:
        """The number of optimisation steps for this profile: `pick`, capped at ``max_steps`` in a dry run.

        >>> Profile("full", "cpu", max_steps=2).steps(full=400, tiny=120)
        2
        """
        chosen = self.pick(full=full, tiny=tiny, grade=grade)
        return chosen if self.max_steps is None else min(chosen, self.max_steps)

    def examples(self, *, full: int, tiny: int, grade: int | None = None) -> int:
        """How many examples (questions, sampled answers, pairs) for this profile: `pick`, capped at
        ``DRY_RUN_EXAMPLES`` in a dry run, where sampling thousands of answers on a CPU would take longer than the
        training runs the dry run cuts short.

        >>> Profile("full", "cpu", max_steps=2).examples(full=4000, tiny=768)
        8
        """
        chosen = self.pick(full=full, tiny=tiny, grade=grade)
        return chosen if self.max_steps is None else min(chosen, DRY_RUN_EXAMPLES)


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether huggingface.co answers, unless offline mode (``HF_HUB_OFFLINE``) is switched on."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


FULL_PROFILE_ON_COLAB = "on Colab: Runtime > Change runtime type > T4 GPU, then run the notebook again from the top"


def detect_profile() -> tuple[ProfileName, str]:
    """Pick the profile and say why: ``COURSE_PROFILE`` if set; ``grade`` under nbgrader; ``full`` with a GPU and
    the Hub (or a mirror of it in ``COURSE_HUB_MIRROR``); ``tiny`` otherwise."""
    requested = os.environ.get("COURSE_PROFILE", "").strip().lower()
    if requested:
        if requested not in PROFILES:
            raise ValueError(f"COURSE_PROFILE={requested!r} is not a profile; choose one of {', '.join(PROFILES)}.")
        return requested, f"chosen with COURSE_PROFILE={requested}"  # type: ignore[return-value]
    if os.environ.get("NBGRADER_EXECUTION"):
        return "grade", "the autograder is running this notebook"
    if not torch.cuda.is_available():
        return "tiny", (
            "no GPU here, so small packaged models and sample data train on the CPU. "
            f"For the full profile (the real models and datasets), use a GPU ({FULL_PROFILE_ON_COLAB})"
        )
    if mirror := os.environ.get("COURSE_HUB_MIRROR"):
        return "full", f"a GPU, and the Hub's models and datasets from the mirror in {mirror}"
    if hub_reachable():
        return "full", "a GPU and the Hugging Face Hub: the real models and datasets"
    return "tiny", (
        "a GPU, but the Hugging Face Hub (huggingface.co) cannot be reached, so small packaged models are used. "
        "For the full profile, connect to the internet or set COURSE_HUB_MIRROR to a local copy of the Hub repositories"
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a lab gives the same numbers on every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(profile: ProfileName | None = None, seed: int = 0) -> Profile:
    """Start a lab: check the runtime, choose the profile and device, seed everything, and say what was chosen and why.

    Args:
        profile: force a profile instead of detecting it (the ``COURSE_PROFILE`` variable does the same).
        seed: the seed for Python, NumPy and PyTorch; the ``COURSE_SEED`` variable overrides it (to check that a
            lab's training targets hold whatever the seed: ``benchmarks/training_targets.py``).

    Raises:
        CourseSetupError: in one line, when a library must be installed or the runtime restarted first.
    """
    check_runtime()
    chosen, reason = choose(profile, seed)
    hide_library_deprecations()
    if chosen.quiet:
        silence_libraries()
    seed_everything(chosen.seed)
    print(describe(chosen))
    print(f"Profile {chosen.name}: {reason}.")
    if chosen.max_steps is not None:
        print(f"Dry run: every training run stops after at most {chosen.max_steps} steps (COURSE_MAX_STEPS).")
    return chosen


def choose(profile: ProfileName | None = None, seed: int = 0) -> tuple[Profile, str]:
    """The profile `setup` starts a lab in, and why, with nothing else done (the grader's checks measure in it)."""
    name, reason = (profile, "chosen in setup()") if profile else detect_profile()
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not a profile; choose one of {', '.join(PROFILES)}.")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seed_override = whole_number_from_environment("COURSE_SEED", minimum=0)
    # COURSE_MAX_STEPS caps every training run: a profile's code path without its training time
    max_steps = whole_number_from_environment("COURSE_MAX_STEPS", minimum=1)
    seed = seed if seed_override is None else seed_override
    return Profile(name=name, device=device, seed=seed, max_steps=max_steps), reason


def whole_number_from_environment(variable: str, minimum: int) -> int | None:
    """The whole number in the environment variable ``variable`` (None when it is not set), or one clear line on
    anything else."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise ValueError(f"{variable}={value!r} is not a whole number of at least {minimum}.")
    return int(value)


def describe(profile: Profile) -> str:
    """One line with the profile, the device and the versions of the libraries the labs rely on."""
    import transformers
    import trl

    from .. import __version__

    device = torch.cuda.get_device_name(0) if profile.device == "cuda" else "cpu"
    return (
        f"course_utils {__version__} | profile {profile.name} | device {device} | "
        f"torch {torch.__version__} | transformers {transformers.__version__} | trl {trl.__version__}"
    )
