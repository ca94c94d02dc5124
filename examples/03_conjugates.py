"""The f-divergence family at a glance: f, its convex conjugate f* and the activation g_f
of every row, with dom f* and the critic's threshold f'(1) marked.

    D_f(P||Q) = ∫ q f(p/q),   f*(t) = sup_u (u t − f(u)),   T = g_f(V) ∈ dom f*.

g_f maps the critic's logit V into dom f*, where f* is finite; f'(1) is the optimal T
where P = Q, so T > f'(1) reads as "real". The dots on f* mark f*(f'(1)) = f'(1) − f(1),
the Fenchel-Young equality at u = 1.

    python examples/03_conjugates.py             # writes 03_conjugates.png here
"""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402

SPECS = [name for name in mg.divergences.NAMES if name not in ("js_weighted", "alpha")]
SPECS += ["js_weighted(0.3)", "alpha(0.5)"]
mg.set_default_dtype("float64")


def values(fn, points):
    return fn(mg.tensor(points)).numpy()


fig, axes = plt.subplots(len(SPECS), 3, figsize=(10, 2.0 * len(SPECS)))
u = np.linspace(0.05, 4, 300)
v = np.linspace(-4, 4, 300)
print(f"{'divergence':<18} {'dom f*':<22} {'f(1)':>8} {'f_prime(1)':>11} "
      f"{'range of g_f on [-4,4]':>26}")
for row, spec in zip(axes, SPECS):
    div = mg.divergences.get(spec)
    dom = div.conjugate_domain
    low = max(dom.low, div.f_prime_at_1 - 3)
    high = min(dom.high, div.f_prime_at_1 + 3)
    t = np.linspace(low, high, 300)[1:-1]  # open ends: f* may be infinite at the boundary
    g = values(div.activation, v)
    print(f"{spec:<18} {f'({dom.low:g}, {dom.high:g})':<22} {div.f_at_1:>8.4f} "
          f"{div.f_prime_at_1:>11.4f} {f'[{g.min():.3f}, {g.max():.3f}]':>26}")
    row[0].plot(u, values(div.f, u))
    row[0].axvline(1.0, color="0.6", lw=0.8, ls=":")
    row[0].set_ylabel(spec, fontsize=9)
    row[1].plot(t, values(div.conjugate, t))
    row[1].plot([div.f_prime_at_1], [div.f_prime_at_1 - div.f_at_1], "ko", ms=3)
    row[1].axvline(div.f_prime_at_1, color="k", lw=0.8, ls="--")
    row[2].plot(v, g)
    row[2].axhline(div.f_prime_at_1, color="k", lw=0.8, ls="--")
    for ax in row[1:]:  # dom f*: where f* is finite and T must lie
        span = ax.get_xlim() if ax is row[1] else ax.get_ylim()
        lo = dom.low if math.isfinite(dom.low) else span[0]
        hi = dom.high if math.isfinite(dom.high) else span[1]
        (ax.axvspan if ax is row[1] else ax.axhspan)(lo, hi, color="tab:green", alpha=0.08)
for ax, title in zip(axes[0], ["f(u), u = p/q", "f*(t), dom f* shaded, f'(1) dashed",
                               "g_f(v) ∈ dom f*, f'(1) dashed"]):
    ax.set_title(title, fontsize=10)
fig.tight_layout()
fig.savefig("03_conjugates.png", dpi=80)
print("wrote 03_conjugates.png")
