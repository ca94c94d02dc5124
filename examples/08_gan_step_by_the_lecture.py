"""One GAN step by the lecture, line by line, checked against minigan's own trainer.

    for each generator update:
        K times:  x_1..x_B1 ~ p_x,  x̂_j = g_θ(z_j) (θ fixed),  w ← w + α1 ∇_w J(θ, w)
        once:     z_1..z_B2 ~ N(0, I) (w fixed),               θ ← θ − α2 ∇_θ L_G(θ)

with J = (1/B1) Σ log D_w(x_i) + (1/B2) Σ log(1 − D_w(x̂_j)), D = σ(V), and the
non-saturating L_G = −(1/B2) Σ log D_w(g_θ(z_j)). (The lecture prints the critic's update
as w ← w + α1 J_D and the generator's loss with a minus sign too many; both slips are
corrected here, as in minigan.gan.) J written out by hand equals mg.gan.vdm_objective
with the GAN divergence, and one step written out by hand moves every parameter exactly
as VDMTrainer.step() does from the same (θ, w) and the same samples. Target: a 1D
mixture of two Gaussians.

    python examples/08_gan_step_by_the_lecture.py   # writes 08_gan_step_by_the_lecture.png
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402
from minigan import nn  # noqa: E402
from minigan.gan import VDMTrainer, held_fixed  # noqa: E402

FAST = os.environ.get("MINIGAN_EXAMPLES_FAST") == "1"
STEPS = 200 if FAST else 3000
mg.manual_seed(0)
rng = np.random.default_rng(0)
K, B1, B2, alpha1, alpha2 = 1, 128, 128, 1e-3, 1e-3


def players():
    G = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))                  # g_θ
    V = nn.Sequential(nn.Linear(1, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))          # V_w
    opt_w = mg.optim.Adam(V.parameters(), lr=alpha1, betas=(0.5, 0.999), maximize=True)
    opt_theta = mg.optim.Adam(G.parameters(), lr=alpha2, betas=(0.5, 0.999))
    return G, V, opt_w, opt_theta


def sample_real(n):  # p_x = ½ N(−2, 0.3²) + ½ N(2, 0.3²)
    return mg.tensor((rng.choice([-2.0, 2.0], n) + 0.3 * rng.standard_normal(n))[:, None])


G, V, opt_w, opt_theta = players()
# the trainer's copy of the same players, to compare one step with
G2, V2, opt_w2, opt_theta2 = players()
G2.load_state_dict(G.state_dict())
V2.load_state_dict(V.state_dict())
history = []
for step in range(STEPS):
    batches = []
    for _ in range(K):                                   # train the discriminator
        x, noise = sample_real(B1), mg.randn(B2, 4)
        with mg.no_grad():                               # θ fixed: no graph through G
            x_hat = G(noise)
        v_real, v_fake = V(x), V(x_hat)
        J = F.log_sigmoid(v_real).mean() + F.log_sigmoid(-v_fake).mean()  # log(1−σ(v)) = logσ(−v)
        if step == 0:
            J_library = mg.gan.vdm_objective(v_real, v_fake, "gan")
            print(f"J by hand {J.item():+.7f}   mg.gan.vdm_objective {J_library.item():+.7f}")
        opt_w.zero_grad()
        J.backward()                                     # ∇_w J
        opt_w.step()                                     # w ← w + α1 ∇_w J
        batches += [x, noise]
    z = mg.randn(B2, 4)                                  # train the generator
    with held_fixed(V):                                  # w fixed: backward stops at V's input
        loss_G = -F.log_sigmoid(V(G(z))).mean()          # −E log D(G(z))
    opt_theta.zero_grad()
    loss_G.backward()                                    # ∇_θ L_G
    opt_theta.step()                                     # θ ← θ − α2 ∇_θ L_G
    if step == 0:  # the library's trainer, on the same samples, from the same (θ, w)
        same_real, same_noise = iter(batches[0::2]), iter(batches[1::2] + [z])
        trainer = VDMTrainer(G2, V2, "gan", opt_theta2, opt_w2,
                             lambda n, it=same_real: next(it),
                             lambda n, it=same_noise: next(it),
                             d_steps=K, batch_real=B1, batch_fake=B2)
        trainer.step()
        gap = max(float(np.abs(a.numpy() - b.numpy()).max())
                  for a, b in zip(G.parameters() + V.parameters(),
                                  G2.parameters() + V2.parameters()))
        print(f"after one step, largest |by hand − VDMTrainer.step()| over θ and w: {gap:.1e}")
    history.append((J.item(), loss_G.item()))
    if step % 1000 == 0 or step == STEPS - 1:
        print(f"step {step:4d}  J {J.item():+.3f}  L_G {loss_G.item():.3f}")

with mg.no_grad():
    samples = G(mg.randn(2000, 4)).numpy().ravel()
print(f"share of samples near −2: {np.mean(np.abs(samples + 2) < 0.9):.2f}, "
      f"near +2: {np.mean(np.abs(samples - 2) < 0.9):.2f} (ideal 0.50 / 0.50)")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(np.array(history))
axes[0].axhline(-2 * np.log(2), color="k", ls=":", lw=1)
axes[0].legend(["J (critic ascends)", "L_G (generator descends)", "J at equilibrium: −log 4"],
               fontsize=8)
axes[0].set(xlabel="step", title="The two players' objectives")
axes[1].hist(sample_real(2000).numpy().ravel(), bins=80, alpha=0.5, density=True, label="real")
axes[1].hist(samples, bins=80, alpha=0.5, density=True, label="generated")
axes[1].set(title="Samples after training")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig("08_gan_step_by_the_lecture.png", dpi=90)
print("wrote 08_gan_step_by_the_lecture.png")
