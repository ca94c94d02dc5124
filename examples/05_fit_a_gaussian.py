"""Fit one Gaussian to a mixture with every f-divergence: the f-GAN paper's experiment.

P = 0.3·N(−1, 0.5²) + 0.7·N(1.5, 1²); the generator G(z) = μ + σz makes Q_θ = N(μ, σ²).
VDM with the saturating generator loss has the true saddle point
θ* = argmin_θ D_f(P||Q_θ), computed here by quadrature (a grid search, refined) for each
divergence and set beside the learned (μ, σ). KL is moment matching (μ* = 0.75,
σ* = 1.4448); the mass-covering divergences give a wide σ, the mode-seeking ones
(reverse_kl, neyman, ...) a narrower σ pulled toward the heavier mode at 1.5.
total_variation is the exception: its critic T = ½·tanh(V) only sees where p > q, the
objective is flat in θ between the kinks of |p − q|, and plain alternating steps do not
find its optimum (they end near μ = 1.5, a TV about 0.23 against the optimum's 0.16). The
critic's own gradient dies where it saturates: within 50 steps V is a ramp, V ≈ −7 at
x = −1 (T = −½ over the left mode, where p exceeds N(0, 1) only a little), and it never
relearns the p > q that holds there as Q moves right: the generator walks through μ*
toward the heavier mode and stops there, the vanished gradient of the lecture's stability
section. Slower or faster critics (Adam, SGD, up to 25 steps
per generator step), slower generators, batches of 4,096, weight decay, instance noise
annealed to 0, and spectral normalisation (minigan.stabilizers) at a fixed or a rising
Lipschitz scale each move the end point but none brings it within 0.1 of the optimum.

    python examples/05_fit_a_gaussian.py         # writes 05_fit_a_gaussian.png here
"""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
from minigan import data, models  # noqa: E402
from minigan.gan import VDMTrainer  # noqa: E402

FAST = os.environ.get("MINIGAN_EXAMPLES_FAST") == "1"
STEPS = 60 if FAST else 2000
SPECS = ["kl", "reverse_kl", "pearson", "neyman", "squared_hellinger", "jeffrey",
         "jensen_shannon", "gan", "total_variation", "js_weighted(0.3)", "alpha(0.5)"]
X = np.linspace(-10, 12, 2201)
LOG_P = np.log(data.mixture1d_density(X))


def exact_optimum(div):
    """argmin over (μ, σ) of D_f(P||N(μ, σ²)) = ∫ q f(p/q) dx, on a grid refined 5 times."""
    def divergence(mu, sigma):
        log_q = (-0.5 * ((X - mu[:, None]) / sigma[:, None]) ** 2
                 - np.log(sigma[:, None] * math.sqrt(2 * math.pi)))
        with mg.no_grad(), np.errstate(over="ignore", invalid="ignore"):
            f = div.f(mg.tensor(np.exp(LOG_P - log_q), dtype="float64")).numpy()
        return (np.exp(log_q) * f).sum(axis=1) * (X[1] - X[0])

    centre, width = np.array([0.9, 1.3]), 0.9
    for _ in range(5):
        mus, sigmas = np.meshgrid(np.linspace(-width, width, 21) + centre[0],
                                  np.linspace(-width, width, 21) + centre[1])
        mus, sigmas = mus.ravel(), np.maximum(sigmas.ravel(), 0.05)
        best = np.nanargmin(divergence(mus, sigmas))
        centre, width = np.array([mus[best], sigmas[best]]), width / 5
    return centre


def fit(spec, seed=0):
    """The library's VDM trainer with the command's mixture1d settings (α1 = α2 = 3e-3,
    B1 = B2 = 512, a 2 × 64 critic, the saturating loss, the rate decayed over the last half)."""
    mg.manual_seed(seed)
    dataset = data.get("mixture1d")
    G, V = models.LinearGenerator(), models.critic((1,), hidden=64, layers=2)
    opt_g = mg.optim.Adam(G.parameters(), lr=3e-3, betas=(0.5, 0.999))
    opt_d = mg.optim.Adam(V.parameters(), lr=3e-3, betas=(0.5, 0.999), maximize=True)
    trainer = VDMTrainer(G, V, spec, opt_g, opt_d, dataset.batch, lambda n: mg.randn(n, 1),
                         batch_real=512, batch_fake=512, saturating=True)
    for step in range(STEPS):
        factor = min(1.0, (STEPS - step) / (0.5 * STEPS))
        opt_g.lr = opt_d.lr = 3e-3 * factor
        trainer.step(statistics=False)
    return G.fitted()


print(f"{'divergence':<18} {'learned μ':>9} {'σ':>7}   {'exact μ*':>8} {'σ*':>7}   "
      f"{'|Δμ|':>6} {'|Δσ|':>6}")
results = {}
for spec in SPECS:
    div = mg.divergences.get(spec)
    (mu, sigma), (mu_star, sigma_star) = fit(spec), exact_optimum(div)
    results[spec] = (mu, sigma, mu_star, sigma_star)
    print(f"{spec:<18} {mu:>9.4f} {sigma:>7.4f}   {mu_star:>8.4f} {sigma_star:>7.4f}   "
          f"{abs(mu - mu_star):>6.3f} {abs(sigma - sigma_star):>6.3f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
x = np.linspace(-4, 6, 500)
for ax, group, title in [(axes[0], ["kl", "pearson", "jeffrey"], "mass-covering"),
                         (axes[1], ["reverse_kl", "neyman", "gan"], "mode-seeking")]:
    ax.fill_between(x, data.mixture1d_density(x), color="0.85", label="P (the mixture)")
    for spec in group:
        mu, sigma, mu_star, sigma_star = results[spec]
        density = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        line, = ax.plot(x, density, label=f"{spec}: μ={mu:.2f}, σ={sigma:.2f}")
        ax.axvline(mu_star, color=line.get_color(), ls=":", lw=1)
    ax.set(title=f"{title} fits (dotted: exact μ*)", xlabel="x")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("05_fit_a_gaussian.png", dpi=90)
print("wrote 05_fit_a_gaussian.png")
