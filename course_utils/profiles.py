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

from .quiet import silence_libraries

ProfileName = Literal["full", "tiny", "grade"]
PROFILES: tuple[ProfileName, ...] = ("full", "tiny", "grade")
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """The profile a lab runs in, with the device it trains on and the seed it was given."""

    name: ProfileName
    device: str
    seed: int = 0

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


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether huggingface.co answers, unless offline mode (``HF_HUB_OFFLINE``) is switched on."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def detect_profile() -> ProfileName:
    """Pick the profile: ``COURSE_PROFILE`` if set; ``grade`` under nbgrader; ``full`` with a GPU and the Hub."""
    requested = os.environ.get("COURSE_PROFILE", "").strip().lower()
    if requested:
        if requested not in PROFILES:
            raise ValueError(f"COURSE_PROFILE={requested!r} is not a profile; choose one of {', '.join(PROFILES)}.")
        return requested  # type: ignore[return-value]
    if os.environ.get("NBGRADER_EXECUTION"):
        return "grade"
    if torch.cuda.is_available() and hub_reachable():
        return "full"
    return "tiny"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a lab gives the same numbers on every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(profile: ProfileName | None = None, seed: int = 0) -> Profile:
    """Start a lab: choose the profile and device, seed everything, and print one line saying what was chosen.

    Args:
        profile: force a profile instead of detecting it (the ``COURSE_PROFILE`` variable does the same).
        seed: the seed for Python, NumPy and PyTorch.
    """
    name = profile or detect_profile()
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not a profile; choose one of {', '.join(PROFILES)}.")
    chosen = Profile(name=name, device="cuda" if torch.cuda.is_available() else "cpu", seed=seed)
    if chosen.quiet:
        silence_libraries()
    seed_everything(seed)
    print(describe(chosen))
    return chosen


def describe(profile: Profile) -> str:
    """One line with the profile, the device and the versions of the libraries the labs rely on."""
    import transformers
    import trl

    from . import __version__

    device = torch.cuda.get_device_name(0) if profile.device == "cuda" else "cpu"
    return (
        f"course_utils {__version__} | profile {profile.name} | device {device} | "
        f"torch {torch.__version__} | transformers {transformers.__version__} | trl {trl.__version__}"
    )
