"""How strongly PPO pulls the policy back towards the reference model: a fixed or an adaptive KL coefficient."""

from __future__ import annotations


class FixedKLController:
    """A KL coefficient that never changes."""

    def __init__(self, kl_coef: float) -> None:
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        """Nothing to adapt."""


class AdaptiveKLController:
    """Ziegler et al.'s proportional controller: steer the KL towards ``target``.

    After each batch, ``e = clip(KL / target - 1, -0.2, 0.2)`` and ``kl_coef *= 1 + e * n_steps / horizon``: a KL
    above target raises the coefficient (a stronger pull back), one below lowers it. ``horizon`` sets how many
    samples it takes to adapt, and the clip bounds the change per batch.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        if target <= 0 or horizon <= 0:
            raise ValueError(f"target and horizon must be positive, got {target} and {horizon}.")
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        """Adapt to the KL measured on a batch of ``n_steps`` samples (the per-sequence KL, averaged)."""
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon
