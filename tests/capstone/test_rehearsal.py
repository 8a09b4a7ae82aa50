"""The rehearsal of RLHF's loop (`course_utils.capstone.rehearsal`): the reference loop has no faults, and each way
of getting it wrong is named."""

import pytest

from course_utils.capstone.rehearsal import Rehearsal, loop_faults
from course_utils.capstone.runs import rlhf_loop

QUESTIONS = [f"q{i}?" for i in range(7)]


def rehearse(loop, steps=5, eval_every=2, batch_size=3) -> list[str]:
    rehearsal = Rehearsal(batch_size)
    assert loop(rehearsal, rehearsal, rehearsal.sample, rehearsal.reward, QUESTIONS, steps, eval_every, 4) is rehearsal
    return loop_faults(rehearsal.events, QUESTIONS, steps, eval_every, batch_size)


def test_the_reference_loop_has_no_faults():
    assert rehearse(rlhf_loop) == []
    assert rehearse(rlhf_loop, steps=3, eval_every=5, batch_size=1) == []  # evaluated at the start and the end only


def loop_with(*, sample_once=False, evaluate_last=True, reverse_rewards=False, same_seed=False, stale=False):
    def loop(trainer, run, sample, reward, questions, steps, eval_every, seed):
        batch = sample(trainer.policy, questions[: trainer.config.batch_size], seed) if sample_once else None
        for step in range(steps + 1):
            if step % eval_every == 0 or (evaluate_last and step == steps):
                run.evaluate(trainer, step)
            if step == steps:
                break
            if not sample_once:
                policy = "policy v0" if stale else trainer.policy
                batch = sample(policy, questions[: trainer.config.batch_size], seed if same_seed else seed + step)
            order = slice(None, None, -1) if reverse_rewards else slice(None)
            trainer.step(batch.query_ids, batch.response_ids, reward(batch.questions[order], batch.answers[order]))
        return run

    return loop


@pytest.mark.parametrize(
    ("mistake", "fault"),
    [
        ({"sample_once": True}, "PPO step 1 trained on answers of policy v0"),
        ({"evaluate_last": False}, "Evaluate at steps [0, 2, 4, 5]"),
        ({"reverse_rewards": True}, "PPO step 0: score with reward(questions, answers)"),
        ({"same_seed": True}, "Sample every step with a new seed"),
        ({"stale": True}, "PPO step 1 trained on answers of policy v0: sample with trainer.policy"),
    ],
)
def test_each_mistake_is_named(mistake, fault):
    assert rehearse(loop_with(**mistake))[0].startswith(fault)
