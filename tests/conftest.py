"""Shared fixtures; the whole suite runs offline (set before any Hugging Face library reads these variables)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.loaders import load_sft_model  # noqa: E402
from course_utils.profiles import Profile  # noqa: E402

# The tiny model's matrices are too small to gain from intra-op threads; on a busy 2-core machine the threads
# contend and a forward pass takes ~100x longer (0.15 s instead of 1.5 ms).
torch.set_num_threads(1)


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
