"""The Hub-shaped mirror: models of the real architectures, stored as the real checkpoints are."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from course_utils.instructor.hub_mirror import write_model


@pytest.mark.parametrize(
    ("hub_id", "stored"),
    [("facebook/opt-350m", torch.float16), ("HuggingFaceTB/SmolLM2-135M", torch.bfloat16), ("gpt2", torch.float32)],
)
def test_each_model_is_stored_in_the_dtype_of_its_real_checkpoint(hub_id, stored, tmp_path):
    write_model(tmp_path, hub_id)
    assert AutoModelForCausalLM.from_pretrained(tmp_path / hub_id).dtype == stored  # loaded as stored by default
    assert AutoModelForCausalLM.from_pretrained(tmp_path / hub_id, dtype=torch.float32).dtype == torch.float32
