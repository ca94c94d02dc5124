"""Your own differentiable op through the public API, its gradient check, and a wrong
backward caught.

An op computes its output array and records it with mg.op(output, inputs, backward,
name=...), where backward maps the output gradient g to its inputs' gradients (the
vector-Jacobian product). Here: the softsign s(x) = x / (1 + |x|), s'(x) = 1 / (1 + |x|)².
mg.gradcheck compares backward with central differences along random directions, in
float64; a backward that forgets the square is caught.

    python examples/02_your_own_op.py            # writes 02_your_own_op.png here
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402


def softsign(x):
    scale = 1 / (1 + mg.backend.xp.abs(x.data))
    return mg.op(x.data * scale, (x,), lambda g: (g * scale * scale,), name="softsign")


def softsign_wrong(x):
    scale = 1 / (1 + mg.backend.xp.abs(x.data))
    return mg.op(x.data * scale, (x,), lambda g: (g * scale,), name="softsign")  # no square


x = mg.tensor(np.linspace(-3, 3, 7) + 0.05, requires_grad=True, dtype="float64")  # off 0
print("softsign passes the gradient check:", mg.gradcheck(softsign, [x]))
try:
    mg.gradcheck(softsign_wrong, [x])
except mg.GradcheckError as err:
    print("the wrong backward is caught:", err)

# the derivative by backward, by the wrong backward and by central differences, on a grid
grid = np.linspace(-4, 4, 161)
slopes = {}
for label, fn in [("backward", softsign), ("wrong backward", softsign_wrong)]:
    t = mg.tensor(grid, requires_grad=True, dtype="float64")
    fn(t).sum().backward()
    slopes[label] = t.grad
eps = 1e-6
central = (softsign(mg.tensor(grid + eps, dtype="float64")).numpy()
           - softsign(mg.tensor(grid - eps, dtype="float64")).numpy()) / (2 * eps)
print(f"largest |backward − central difference| on the grid: "
      f"{np.abs(slopes['backward'] - central).max():.2e}")

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(grid, softsign(mg.tensor(grid, dtype="float64")).numpy(), label="s(x)", color="k")
ax.plot(grid, slopes["backward"], label="s'(x) by backward")
ax.plot(grid[::8], central[::8], "o", ms=3, label="central differences")
ax.plot(grid, slopes["wrong backward"], "--", label="the wrong backward")
ax.set(xlabel="x", title="softsign: a new op and its checked gradient")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("02_your_own_op.png", dpi=100)
print("wrote 02_your_own_op.png")
