"""Where the packaged tiny models and sample datasets live (package data, so they exist on Colab too)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def asset_path(*parts: str) -> Path:
    """Path of a packaged asset, e.g. ``asset_path("models", "opt-tiny")``; raises if it is not there."""
    path = Path(str(files("course_utils").joinpath("assets", *parts)))
    if not path.exists():
        raise FileNotFoundError(
            f"Packaged asset {'/'.join(parts)!r} is missing at {path}. Rebuild the assets with "
            "`python scripts/build_tiny_assets.py` or reinstall the course package."
        )
    return path
