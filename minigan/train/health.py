"""A run's health, read from its logged statistics: the blow-ups that stop it (exit 3, the
step and the quantity named) and the vanished generator gradient that earns it one warning.

- ``failure(stats, divergence, dtype)``: a non-finite loss, gradient norm or critic output,
  or a critic logit V past the divergence's guard (``Divergence.logit_range``: beyond it
  g_f or f* is no longer exact in the dtype, the critic has run off to where the density
  ratio it stands for is e^80 or more).
- ``VanishingGradient``: the lecture's "discriminator too strong: generator cannot learn
  (gradients vanish)": the generator's gradient norm tiny (at most ``RELATIVE`` of its peak)
  for ``LOGGED_STEPS`` logged steps in a row while the critic is sure of itself (mean
  D(G(z)) = σ(V) within ``SURE`` of 0 or 1, i.e. its outputs saturate).
"""

from __future__ import annotations

import math

from .. import backend as B

FINITE = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "t_real", "t_fake", "v_min",
          "v_max")
LOGGED_STEPS = 50
RELATIVE = 1e-3
SURE = 0.01


def failure(stats, divergence, dtype, logits=()):
    """What shows that the step of ``stats`` blew up, as one phrase naming the quantity, or
    None: the first non-finite number, and where the critic's logits (``v_min``/``v_max``
    of the statistics, else the arrays ``logits``) are past the guard, that too (a critic
    that has run off usually overflows the batch means first). Steps without statistics
    (not logged) are checked for their losses only, so that they cost no reductions."""
    bad = next((f"{key} = {stats[key]}" for key in FINITE
                if key in stats and not math.isfinite(stats[key])), None)
    if bad is None and "v_min" not in stats:
        return None  # a step logged without statistics, its losses finite: nothing to read
    past = past_the_guard(stats, divergence, dtype, logits)
    if bad and past:
        return f"{bad} ({past})"
    return bad or past


def past_the_guard(stats, divergence, dtype, logits=()):
    """Where the critic's logits lie beyond ``divergence.logit_range(dtype)``, a phrase."""
    if "v_min" in stats:
        v_min, v_max = stats["v_min"], stats["v_max"]
    elif logits:
        v_min = min(float(B.xp.min(v)) for v in logits)
        v_max = max(float(B.xp.max(v)) for v in logits)
    else:
        return None
    low, high = divergence.logit_range(dtype)
    if v_min < low:
        return (f"the critic's logit v_min = {v_min:.4g} is past the {divergence.spec} "
                f"guard (below {low:.4g}, g_f or f* is not exact)")
    if v_max > high:
        return (f"the critic's logit v_max = {v_max:.4g} is past the {divergence.spec} "
                f"guard (above {high:.4g}, g_f or f* is not exact)")
    return None


REMEDIES = ("the lecture's diagnosis: the discriminator is too strong, so the generator "
            "cannot learn (its gradients vanish); remedies: the non-saturating generator "
            "loss (--generator-loss non-saturating), fewer critic steps or a smaller critic "
            "learning rate (--d-steps, --lr-d), the stabiliser (--stabilizer spectral_norm), "
            "the drift penalty (--drift 3e-3)")


class VanishingGradient:
    """Watches the logged steps; ``update(stats)`` returns the warning (one line) the first
    time the generator's gradient has vanished, else None. ``warnings`` keeps it for
    summary.json."""

    def __init__(self):
        self.peak, self.streak, self.start = 0.0, 0, None
        self.warnings = []

    def update(self, stats):
        if "grad_norm_g" not in stats or self.warnings:
            return None
        norm, d_fake = stats["grad_norm_g"], stats["d_fake"]
        self.peak = max(self.peak, norm)
        sure = d_fake <= SURE or d_fake >= 1 - SURE
        if not (sure and norm <= RELATIVE * self.peak):
            self.streak, self.start = 0, None
            return None
        self.streak += 1
        self.start = self.start or stats["step"]
        if self.streak < LOGGED_STEPS:
            return None
        message = (f"the generator's gradient has vanished: its norm has stayed at most "
                   f"{RELATIVE:g} of its peak ({self.peak:.3g}; now {norm:.3g}) for "
                   f"{self.streak} logged steps from step {self.start} to {stats['step']}, "
                   f"while the critic is sure of itself (mean D(G(z)) = {d_fake:.4f}); "
                   f"{REMEDIES}")
        self.warnings.append(message)
        return message
