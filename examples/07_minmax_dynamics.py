"""Min-max dynamics on the Dirac-GAN (Mescheder, Geiger, Nowozin 2018, "Which training
methods for GANs do actually converge?").

The data is a point mass at 0, the generator a point mass at θ, the critic linear,
V_ψ(x) = ψx. With the GAN divergence the VDM objective is

    J(θ, ψ) = g_f(V_ψ(0)) − f*(g_f(V_ψ(θ))) = −log 2 − softplus(ψθ),

whose only saddle point is (θ, ψ) = (0, 0). The critic ascends J in ψ, the generator
descends it in θ (the saturating loss), both by plain gradient steps of size h:

- simultaneous steps (f-GAN Algorithm 1) spiral outwards: the Jacobian of the gradient
  field has purely imaginary eigenvalues at the saddle, and an explicit Euler step
  multiplies the radius by √(1 + h²ω²) every step;
- alternating steps (the lecture's algorithm, K = 1) stay on a closed orbit: they cycle
  around the saddle and never converge;
- a gradient penalty on the critic, (γ/2)·E_p[‖∇ₓV_ψ(x)‖²] = (γ/2)ψ² (R1, from the same
  paper; for a linear critic it is exact), damps the cycle and both players converge.

    python examples/07_minmax_dynamics.py        # writes 07_minmax_dynamics.png here
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402

FAST = os.environ.get("MINIGAN_EXAMPLES_FAST") == "1"
STEPS = 100 if FAST else 1500
H, GAMMA, START = 0.1, 0.3, (1.0, 1.0)
mg.set_default_dtype("float64")
zero = mg.tensor([0.0])


def gradients(theta, psi, penalty):
    """(∂J/∂θ, ∂(J − penalty)/∂ψ) at (θ, ψ), by backward through the VDM objective."""
    t, p = mg.tensor([theta], requires_grad=True), mg.tensor([psi], requires_grad=True)
    J = mg.gan.vdm_objective(p * zero, p * t, "gan")
    (J - penalty * 0.5 * GAMMA * (p * p).sum()).backward()
    return t.grad[0], p.grad[0]


def run(mode):
    theta, psi = START
    path = [(theta, psi)]
    for _ in range(STEPS):
        if mode == "simultaneous":
            d_theta, d_psi = gradients(theta, psi, penalty=False)
            theta, psi = theta - H * d_theta, psi + H * d_psi
        else:
            psi += H * gradients(theta, psi, penalty=mode == "alternating + R1")[1]  # critic
            theta -= H * gradients(theta, psi, penalty=False)[0]                    # generator
        path.append((theta, psi))
    return np.array(path)


MODES = ["simultaneous", "alternating", "alternating + R1"]
paths = {mode: run(mode) for mode in MODES}
print(f"{'updates':<18} {'distance to the saddle after ' + str(STEPS) + ' steps':>44}")
for mode in MODES:
    radius = np.hypot(*paths[mode].T)
    print(f"{mode:<18} {radius[0]:>10.3f} -> {radius[-1]:.3f}")

fig, axes = plt.subplots(1, len(MODES), figsize=(4 * len(MODES), 4), sharex=True, sharey=True)
for ax, mode in zip(axes, MODES):
    ax.plot(*paths[mode].T, lw=0.8)
    ax.plot(*START, "go", ms=5, label="start")
    ax.plot(0, 0, "k*", ms=9, label="saddle (0, 0)")
    ax.set(title=mode, xlabel="generator θ", xlim=(-3, 3), ylim=(-3, 3))
axes[0].set_ylabel("critic ψ")
axes[0].legend(fontsize=8, loc="lower right")
fig.suptitle(f"Dirac-GAN, step size {H}: spiral out, cycle, converge")
fig.tight_layout()
fig.savefig("07_minmax_dynamics.png", dpi=90)
print("wrote 07_minmax_dynamics.png")
