"""Our GRPO loss is TRL's: the same number from the same tensors, for each aggregation, with and without the KL."""

import pytest

from course_utils.grpo import grpo_loss
from course_utils.labs.verifiable_rewards import trl_loss_case


@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_our_loss_equals_trl_grpo_trainer_loss(beta):
    case = trl_loss_case(seed=0, beta=beta)
    tensors = case.tensors
    assert tensors["mask"].sum(dim=1).unique().numel() > 1  # answers of different lengths: the aggregations differ
    for loss_type, theirs in case.trl_losses.items():
        ours = grpo_loss(
            tensors["logprobs"],
            tensors["old_logprobs"],
            tensors["advantages"],
            tensors["mask"],
            ref_logprobs=tensors["ref_logprobs"],
            epsilon=case.epsilon,
            beta=beta,
            loss_type=loss_type,
            max_completion_length=case.max_completion_length,
        )
        assert ours.item() == pytest.approx(theirs, abs=1e-6), loss_type
    assert len({round(loss, 6) for loss in case.trl_losses.values()}) == 3  # three aggregations, three numbers
