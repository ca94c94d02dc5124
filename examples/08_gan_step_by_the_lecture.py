"""The lecture's training algorithm, written out with minigan's parts (the trainer in
minigan/gan.py does the same, with logging, packing and checkpoints).

    for each generator update:
        K times:  x_1..x_B1 ~ p_x,  x̂_j = g_θ(z_j) (θ fixed),  w ← w + α1 ∇_w J(θ, w)
        once:     z_1..z_B2 ~ N(0, I) (w fixed),               θ ← θ − α2 ∇_θ L_G(θ)

with J = (1/B1) Σ log D_w(x_i) + (1/B2) Σ log(1 − D_w(x̂_j)), D = σ(V), and the
non-saturating L_G = −(1/B2) Σ log D_w(g_θ(z_j)). Target: a 1D mixture of two Gaussians.

    python examples/04_gan_by_the_lecture.py
"""

import numpy as np

import minigan as mg
import minigan.functional as F
from minigan import nn
from minigan.gan import held_fixed

mg.manual_seed(0)
rng = np.random.default_rng(0)
K, B1, B2, alpha1, alpha2 = 1, 128, 128, 1e-3, 1e-3

G = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))                 # g_θ
V = nn.Sequential(nn.Linear(1, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))         # V_w
opt_w = mg.optim.Adam(V.parameters(), lr=alpha1, betas=(0.5, 0.999), maximize=True)
opt_theta = mg.optim.Adam(G.parameters(), lr=alpha2, betas=(0.5, 0.999))


def sample_real(n):  # p_x = ½ N(−2, 0.3²) + ½ N(2, 0.3²)
    return mg.tensor((rng.choice([-2.0, 2.0], n) + 0.3 * rng.standard_normal(n))[:, None])


for step in range(3000):
    for _ in range(K):                                   # train the discriminator
        x = sample_real(B1)
        with mg.no_grad():                               # θ fixed: no graph through G
            x_hat = G(mg.randn(B2, 4))
        v_real, v_fake = V(x), V(x_hat)
        J = F.log_sigmoid(v_real).mean() + F.log_sigmoid(-v_fake).mean()  # log(1−σ(v)) = logσ(−v)
        if step == 0:  # the same J as the library's VDM objective with the GAN divergence
            J_library = mg.gan.vdm_objective(v_real, v_fake, "gan")
            print(f"J by hand {J.item():+.6f} = mg.gan.vdm_objective {J_library.item():+.6f}")
        opt_w.zero_grad()
        J.backward()
        opt_w.step()                                     # w ← w + α1 ∇_w J
    z = mg.randn(B2, 4)                                  # train the generator
    with held_fixed(V):                                  # w fixed: backward stops at V's input
        loss_G = -F.log_sigmoid(V(G(z))).mean()          # −E log D(G(z))
    opt_theta.zero_grad()
    loss_G.backward()
    opt_theta.step()                                     # θ ← θ − α2 ∇_θ L_G
    if step % 1000 == 0 or step == 2999:
        print(f"step {step:4d}  J {J.item():+.3f}  L_G {loss_G.item():.3f}")

with mg.no_grad():
    samples = G(mg.randn(2000, 4)).numpy().ravel()
print(f"share of samples near −2: {np.mean(np.abs(samples + 2) < 0.9):.2f}, "
      f"near +2: {np.mean(np.abs(samples - 2) < 0.9):.2f} (ideal 0.50 / 0.50)")
