"""The language-model helpers the PPO engine, DPO, the capstone and the recipes share (``course_utils.lm``), on tiny
tensors with values worked out by hand."""

import math

import pytest
import torch

from course_utils.lm import logprobs_from_logits, pack_batch

# Two-token vocabulary with logits (0, ln 3): probabilities (1/4, 3/4).
LOGITS = torch.tensor([[[0.0, math.log(3.0)]]])


def close(actual: torch.Tensor, expected, atol: float = 1e-6) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), atol=atol, rtol=0)


def test_logprobs_from_logits_picks_the_token():
    close(logprobs_from_logits(LOGITS, torch.tensor([[1]])), [[math.log(0.75)]])
    close(logprobs_from_logits(LOGITS, torch.tensor([[0]])), [[math.log(0.25)]])


def test_pack_batch_right_pads_and_masks_the_predicted_response_tokens():
    batch = pack_batch([torch.tensor([5, 6]), torch.tensor([7])], [torch.tensor([8, 9, 10]), torch.tensor([11, 12])], 0)
    assert batch.input_ids.tolist() == [[5, 6, 8, 9, 10], [7, 11, 12, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    # Position t predicts token t + 1: row 0's response tokens 2..4 are predicted at positions 1..3.
    assert batch.mask.tolist() == [[0, 1, 1, 1], [1, 1, 0, 0]]


def test_pack_batch_rejects_empty_or_unpaired_rows():
    with pytest.raises(ValueError, match="as many responses as queries"):
        pack_batch([torch.tensor([1])], [], 0)
    with pytest.raises(ValueError, match="at least one token"):
        pack_batch([torch.tensor([1])], [torch.tensor([], dtype=torch.long)], 0)
