"""Metrics: variational estimates of f-divergences between sample sets; mode coverage
and the Gaussian fit of generated samples; the digit score of generated MNIST images
(``digit_score`` and its parts, defined in ``minigan.digits``)."""

from __future__ import annotations

import math

from . import backend as B
from . import divergences, nn, optim
from .digits import digit_score, frechet_distance, kl_to_uniform, real_frechet_floor
from .gan import vdm_objective
from .tensor import Tensor, no_grad

__all__ = ["estimate_divergence", "mode_coverage", "gaussian_fit", "digit_score",
           "frechet_distance", "kl_to_uniform", "real_frechet_floor"]


def _as_rows(samples):
    """Samples as a 2-D backend array, one row per sample."""
    data = samples.data if isinstance(samples, Tensor) else B.to_device(samples)
    data = data.astype(B.default_dtype, copy=False)
    return data.reshape(len(data), -1)


def estimate_divergence(samples_p, samples_q, div, *, eval_p=None, eval_q=None, holdout=0.5,
                        hidden=16, steps=200, lr=0.03, seed=0):
    """Estimate D_f(P||Q) by variational divergence minimisation's inner problem: train a
    critic V_w (an MLP with two tanh layers of ``hidden`` units, inputs standardised) with
    Adam to maximise the bound J(w) = mean_P g_f(V_w) − mean_Q f*(g_f(V_w)) (f-GAN
    equation 6) on the training samples, and return J on held-out samples, a float.

    Held-out samples are ``eval_p`` and ``eval_q`` when given, else a ``holdout`` fraction of
    each sample set (the critic then trains on the rest). J of a fixed critic on fresh
    samples is an unbiased estimate of a lower bound on D_f, so the estimate errs low by the
    critic's shortfall (second order in its error) plus the Monte Carlo error of the means.
    That error can be large: for kl the Q-term averages p/q, heavy-tailed when P has the
    heavier tails, and a large or long-trained critic grows where P has training samples
    and Q has none, so held-out Q samples there pull the estimate far down; the small
    default critic and short schedule keep it smooth. Full-batch steps, the learning rate
    annealed to 0 along a cosine. Deterministic given ``seed``; the global random state is
    left as it was.
    """
    div = divergences.get(div)
    state = B.rng_state()
    B.manual_seed(seed)
    try:
        p, q = _as_rows(samples_p), _as_rows(samples_q)
        if (eval_p is None) != (eval_q is None):
            raise ValueError("give both eval_p and eval_q, or neither")
        if eval_p is None:
            if not 0 < holdout < 1:
                raise ValueError(f"holdout must lie in (0, 1), got {holdout}")
            order = B.generator()
            p = p[B.to_device(order.permutation(len(p)))]
            q = q[B.to_device(order.permutation(len(q)))]
            n_p, n_q = int(len(p) * (1 - holdout)), int(len(q) * (1 - holdout))
            if min(n_p, len(p) - n_p, n_q, len(q) - n_q) < 1:
                raise ValueError("too few samples to hold some out")
            p, eval_p, q, eval_q = p[:n_p], p[n_p:], q[:n_q], q[n_q:]
        else:
            eval_p, eval_q = _as_rows(eval_p), _as_rows(eval_q)
        xp = B.xp
        pooled = xp.concatenate([p, q])
        center, scale = pooled.mean(axis=0), pooled.std(axis=0) + 1e-8
        p, q, eval_p, eval_q = (Tensor((x - center) / scale) for x in (p, q, eval_p, eval_q))
        critic = nn.Sequential(nn.Linear(p.shape[1], hidden), nn.Tanh(),
                               nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        adam = optim.Adam(critic.parameters(), lr=lr, maximize=True)
        both, n_p = Tensor(xp.concatenate([p.data, q.data])), len(p)
        for step in range(steps):
            adam.lr = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            adam.zero_grad()
            v = critic(both)  # one pass over P's and Q's samples together
            vdm_objective(v[:n_p], v[n_p:], div).backward()
            adam.step()
        with no_grad():
            return vdm_objective(critic(eval_p), critic(eval_q), div).item()
    finally:
        B.set_rng_state(state)


# --- mode coverage on the 2D benchmarks (fgan-reference.md, as the published code does) ---


def mode_coverage(samples, centres, std):
    """Assign each sample (the reference draws 2500: ``train.EVAL_SAMPLES``) to its nearest
    centre; it is high quality if within 3 std of it; a mode is covered if it holds at
    least one high-quality sample.

    Returns {"modes": covered count, "n_modes", "high_quality": % of all samples,
    "kl_uniform": KL(histogram of high-quality samples over modes || uniform), None when no
    sample is high quality, "n_samples"}. Computed in float64 on the active backend.
    """
    xp = B.xp
    x, c = B.to_device(samples, dtype="float64"), B.to_device(centres, dtype="float64")
    if x.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"samples of shape {x.shape} do not match centres of shape {c.shape}")
    squared = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    nearest = squared.argmin(axis=1)
    good = xp.sqrt(squared.min(axis=1)) <= 3 * std
    hits = nearest[good]
    # CuPy before 14.2 refuses bincount of an empty array (its max has no identity)
    counts = (xp.bincount(hits, minlength=len(c)) if hits.size
              else xp.zeros(len(c), dtype=xp.int64))
    total = int(counts.sum())
    kl = None
    if total:
        p = counts[counts > 0] / total
        kl = float((p * xp.log(p * len(c))).sum())
    return {"modes": int((counts > 0).sum()), "n_modes": len(c),
            "high_quality": 100.0 * total / len(x), "kl_uniform": kl, "n_samples": len(x)}


def gaussian_fit(samples):
    """(mean, standard deviation) of 1D samples, as floats: the fitted N(μ, σ²)."""
    x = B.to_device(samples, dtype="float64").reshape(-1)
    return float(x.mean()), float(x.std())
