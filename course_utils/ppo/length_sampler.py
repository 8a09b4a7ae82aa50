"""Random lengths for queries and responses, as in the classic PPO sentiment recipe."""

from __future__ import annotations

import random


class LengthSampler:
    """Draws an integer length uniformly from ``min_value`` to ``max_value``, **max excluded**.

    ``LengthSampler(2, 8)`` gives 2, 3, ..., 7: the same range as the classic ``trl.core.LengthSampler``
    (``np.random.choice(range(min_value, max_value))``), so recipes written for it keep their meaning. Varied
    lengths keep the policy from learning one fixed-length answer.

    Pass ``seed`` for a reproducible sequence; without it the sampler draws from its own unseeded generator.
    """

    def __init__(self, min_value: int, max_value: int, seed: int | None = None) -> None:
        if not isinstance(min_value, int) or not isinstance(max_value, int):
            raise TypeError(f"Lengths must be integers, got {min_value!r} and {max_value!r}.")
        if min_value < 1 or max_value <= min_value:
            raise ValueError(
                f"Need 1 <= min_value < max_value (max is excluded), got min_value={min_value}, max_value={max_value}."
            )
        self.min_value = min_value
        self.max_value = max_value
        self._random = random.Random(seed)

    def __call__(self) -> int:
        return self._random.randrange(self.min_value, self.max_value)

    def __repr__(self) -> str:
        return f"LengthSampler({self.min_value}, {self.max_value})"
