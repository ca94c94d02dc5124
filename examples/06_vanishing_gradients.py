"""Vanishing gradients: the lecture's stability section, made visible.

With the GAN divergence, D = σ(V), data P = N(2, 0.3²) and the generator held at
Q_θ = N(−2, 0.3²), where a critic can tell its samples apart, the saturating loss
E_z[log(1 − D(G(z)))] has the gradient −E[D(G(z)) ∇_θ V(G(z))]: as the critic grows
sure, D(G(z)) → 0 and the gradient vanishes
("discriminator too strong: the generator cannot learn"). The non-saturating loss
−E_z[log D(G(z))] (f-GAN section 3.2) has the gradient −E[(1 − D(G(z))) ∇_θ V(G(z))],
which stays large exactly there. Here the critic trains against a fixed generator, and
both losses' gradient norms ‖∇_θ L‖ are measured as it gets stronger.

    python examples/06_vanishing_gradients.py    # writes 06_vanishing_gradients.png here
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import minigan as mg  # noqa: E402
from minigan import models, nn  # noqa: E402
from minigan.gan import generator_loss, grad_norm, held_fixed, vdm_objective  # noqa: E402

FAST = os.environ.get("MINIGAN_EXAMPLES_FAST") == "1"
STEPS, EVERY = (60, 10) if FAST else (2000, 25)
mg.manual_seed(0)
G = models.LinearGenerator()                      # Q_θ = N(μ, σ²), held at N(−2, 0.3²)
G.mu.data[:], G.sigma.data[:] = -2.0, 0.3
V = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32),
                  nn.LeakyReLU(0.2), nn.Linear(32, 1))
opt_w = mg.optim.Adam(V.parameters(), lr=1e-2, betas=(0.5, 0.999), maximize=True)
z = mg.randn(1024, 1)                             # one fixed noise batch for the measurements


def sample_real(n):                               # P = N(2, 0.3²)
    return mg.randn(n, 1) * 0.3 + 2.0


def generator_gradient_norm(saturating):
    """‖∇_θ L_G‖ with the critic held fixed; L_G the saturating or non-saturating loss."""
    G.zero_grad()
    with held_fixed(V):
        generator_loss(V(G(z)), "gan", saturating=saturating).backward()
    return grad_norm(G.parameters())


rows = []
for step in range(STEPS + 1):
    if step % EVERY == 0:
        with mg.no_grad():
            d_fake = mg.functional.sigmoid(V(G(z))).mean().item()
        rows.append((step, d_fake, generator_gradient_norm(True), generator_gradient_norm(False)))
    with mg.no_grad():                            # θ fixed: no graph through G
        x_fake = G(mg.randn(256, 1))
    J = vdm_objective(V(sample_real(256)), V(x_fake), "gan")
    opt_w.zero_grad()
    J.backward()
    opt_w.step()                                  # w ← w + α1 ∇_w J

print(f"{'critic steps':>12} {'mean D(G(z))':>13} {'‖∇θ‖ saturating':>16} "
      f"{'‖∇θ‖ non-saturating':>20}")
shown = rows[::max(1, len(rows) // 10)]
if shown[-1] is not rows[-1]:
    shown.append(rows[-1])
for step, d_fake, saturating, non_saturating in shown:
    print(f"{step:>12} {d_fake:>13.2e} {saturating:>16.3e} {non_saturating:>20.3e}")

steps, d_fake, saturating, non_saturating = zip(*rows)
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.semilogy(steps, saturating, label="saturating  E log(1 − D(G(z)))")
ax.semilogy(steps, non_saturating, label="non-saturating  −E log D(G(z))")
ax.semilogy(steps, d_fake, "k:", label="mean D(G(z))")
ax.set(xlabel="critic steps against a fixed generator", ylabel="generator gradient norm",
       title="A stronger critic starves the saturating loss")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("06_vanishing_gradients.png", dpi=90)
print("wrote 06_vanishing_gradients.png")
