"""Where each model or dataset a lab needs comes from, by role.

A role (e.g. "the SFT base model") names a Hub repository for the ``full`` profile and a packaged asset for the
``tiny`` and ``grade`` profiles. Both are loaded by the very same ``from_pretrained`` / ``load_dataset`` calls:
a Hub id and a local directory laid out like a Hub repository are interchangeable there.

Set ``COURSE_HUB_MIRROR`` to a directory holding ``<owner>/<name>/`` copies of the Hub repositories to run the
``full`` profile without Hub access (a cluster with a shared mirror; our tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .profiles import Profile


def asset_path(*parts: str) -> Path:
    """Path of a packaged asset, e.g. ``asset_path("models", "opt-tiny")``; raises if it is not there."""
    path = Path(str(files("course_utils").joinpath("assets", *parts)))
    if not path.exists():
        raise FileNotFoundError(
            f"Packaged asset {'/'.join(parts)!r} is missing at {path}. Rebuild the assets with "
            "`python scripts/build_tiny_assets.py` or reinstall the course package."
        )
    return path


@dataclass(frozen=True)
class Role:
    """A model or dataset by purpose: its Hub repository and its packaged tiny stand-in (None: the tiny profile has
    no file for it, e.g. the capstone's gold reward, which is the judge in `capstone/judge.py`)."""

    hub_id: str
    tiny_asset: tuple[str, ...] | None


ROLES: dict[str, Role] = {
    "sft_model": Role(hub_id="facebook/opt-350m", tiny_asset=("models", "opt-tiny")),
    "code_alpaca": Role(hub_id="sahil2801/CodeAlpaca-20k", tiny_asset=("datasets", "code_alpaca")),
    "reward_model": Role(hub_id="gpt2", tiny_asset=("models", "gpt2-tiny")),
    "instruct_pairwise": Role(
        hub_id="Dahoas/synthetic-instruct-gptj-pairwise", tiny_asset=("datasets", "instruct_pairwise")
    ),
    "ppo_policy": Role(hub_id="lvwerra/gpt2-imdb", tiny_asset=("models", "gpt2-imdb-tiny")),
    "sentiment_model": Role(hub_id="lvwerra/distilbert-imdb", tiny_asset=("models", "distilbert-imdb-tiny")),
    "imdb": Role(hub_id="stanfordnlp/imdb", tiny_asset=("datasets", "imdb")),
    "dpo_model": Role(hub_id="HuggingFaceTB/SmolLM2-360M", tiny_asset=("models", "gpt2-tiny")),
    "ultrafeedback": Role(hub_id="HuggingFaceH4/ultrafeedback_binarized", tiny_asset=("datasets", "ultrafeedback")),
    "capstone_policy": Role(hub_id="HuggingFaceTB/SmolLM2-135M", tiny_asset=("models", "gpt2-tiny")),
    "capstone_dialogues": Role(hub_id="Anthropic/hh-rlhf", tiny_asset=("datasets", "instruct_pairwise")),
    "gold_reward_model": Role(hub_id="OpenAssistant/reward-model-deberta-v3-large-v2", tiny_asset=None),
    "rlvr_policy": Role(hub_id="Qwen/Qwen2.5-0.5B-Instruct", tiny_asset=("models", "gpt2-arith-tiny")),
    "gsm8k": Role(hub_id="openai/gsm8k", tiny_asset=("datasets", "gsm8k")),
}


def resolve(role: str, profile: Profile) -> str:
    """The Hub id or local directory to load ``role`` from in ``profile``."""
    if role not in ROLES:
        raise KeyError(f"Unknown role {role!r}; known roles: {', '.join(sorted(ROLES))}.")
    entry = ROLES[role]
    if not profile.is_full:
        if entry.tiny_asset is None:
            raise ValueError(f"{role!r} has no packaged stand-in: the {profile.name} profile does not load it.")
        return str(asset_path(*entry.tiny_asset))
    mirror = os.environ.get("COURSE_HUB_MIRROR")
    if mirror:
        local = Path(mirror) / entry.hub_id
        if not local.is_dir():
            raise FileNotFoundError(f"COURSE_HUB_MIRROR is set but {local} does not exist (needed for {role!r}).")
        return str(local)
    return entry.hub_id
