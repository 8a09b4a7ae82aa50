"""A rehearsal of RLHF's loop without a model: one stand-in for the trainer, the run, the sampler and the reward,
recording what a loop did with them and in what order, and the faults of that record (`loop_faults`). Lab 6's tests
check the learner's ``rlhf_loop`` with it; the record is plain data, so the faults are found apart from the loop."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import torch

from .sampling import Samples


class Rehearsal:
    """Plays the trainer (``config.batch_size``, ``policy``, ``step``), the run (``evaluate``), the sampler
    (``sample``) and the reward (``reward``). The policy's version is the number of PPO steps taken so far; each
    answer says which version and seed wrote it, and the i-th of a batch ends with i exclamation marks (its reward is
    its length in characters, so that no two of a batch score the same). ``events`` records every call as a list of
    plain values."""

    def __init__(self, batch_size: int) -> None:
        self.config = SimpleNamespace(batch_size=batch_size)
        self.version = 0
        self.events: list[list] = []

    @property
    def policy(self) -> str:
        return f"policy v{self.version}"

    def sample(self, policy: str, questions: Sequence[str], seed: int) -> Samples:
        self.events.append(["sample", str(policy), list(questions), seed, self.version])
        ids = [torch.tensor([self.version, seed, i]) for i in range(len(questions))]
        answers = [f"{question} | {policy}, seed {seed}{'!' * i}" for i, question in enumerate(questions)]
        return Samples(list(questions), ids, [row + 100 for row in ids], answers)

    def reward(self, questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        self.events.append(["reward", list(questions), list(answers)])
        return [float(len(answer)) for answer in answers]

    def step(self, queries: Sequence[torch.Tensor], responses: Sequence[torch.Tensor], scores: Sequence[float]) -> dict:
        scores = torch.as_tensor(scores, dtype=torch.float32).tolist()
        self.events.append(["step", [query.tolist() for query in queries], [row.tolist() for row in responses], scores])
        self.version += 1
        return {}

    def evaluate(self, trainer: object, step: int) -> dict:
        self.events.append(["evaluate", step, self.policy])
        return {}


def loop_faults(
    events: list[list], questions: Sequence[str], steps: int, eval_every: int, batch_size: int
) -> list[str]:
    """What a loop did wrong, from a `Rehearsal`'s ``events`` after ``rlhf_loop(rehearsal, rehearsal,
    rehearsal.sample, rehearsal.reward, questions, steps, eval_every, seed)``; empty when nothing.

    >>> loop_faults([], ["q"], steps=1, eval_every=1, batch_size=2)[1]
    'Take 1 PPO steps; you took 0.'
    """
    faults = []
    expected = [step for step in range(steps + 1) if step % eval_every == 0 or step == steps]
    evaluated = [event[1] for event in events if event[0] == "evaluate"]
    if evaluated != expected:
        faults.append(
            f"Evaluate at steps {expected} (before the first step, every {eval_every} steps, after the last); "
            f"you evaluated at {evaluated}."
        )
    for event in (event for event in events if event[0] == "evaluate"):
        if event[1] in expected and event[2] != f"policy v{event[1]}":
            faults.append(f"The evaluation of step {event[1]} saw the {event[2]}: evaluate after {event[1]} PPO steps.")
            break
    trained = [event for event in events if event[0] == "step"]
    if len(trained) != steps:
        faults.append(f"Take {steps} PPO steps; you took {len(trained)}.")
    # Each sample by the version of the policy that wrote it and its seed (what its query ids say).
    sampled = {(event[4], event[3]): event for event in events if event[0] == "sample"}
    seeds = []
    for number, (_, queries, responses, scores) in enumerate(trained):
        if not queries or any(len(query) != 3 for query in queries):
            faults.append(f"PPO step {number} was not given the query_ids of sampled answers.")
            break
        version, seed = queries[0][0], queries[0][1]
        seeds.append(seed)
        _, policy, asked, _, _ = sampled.get((version, seed), [None, None, [], None, None])
        if version != number or policy != f"policy v{number}":
            faults.append(f"PPO step {number} trained on answers of {policy}: sample with trainer.policy as it is now.")
            break
        if len(asked) != batch_size or not set(asked) <= set(questions):
            faults.append(f"Each step answers {batch_size} questions from `questions`; step {number} had {asked}.")
            break
        if responses != [[v + 100, s + 100, i + 100] for v, s, i in queries]:
            faults.append(f"PPO step {number}: pass the samples' response_ids with their query_ids, in order.")
            break
        answers = [f"{question} | policy v{version}, seed {seed}{'!' * i}" for i, question in enumerate(asked)]
        if scores != [float(len(answer)) for answer in answers]:
            faults.append(f"PPO step {number}: score with reward(questions, answers) of the answers it trains on.")
            break
    if len(set(seeds)) != len(seeds):
        faults.append(f"Sample every step with a new seed (the seeds were {seeds}): otherwise the answers repeat.")
    return faults
