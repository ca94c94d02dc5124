"""Backpropagation by hand, then by the engine: the two agree to the last digit.

A two-layer network and a squared loss,

    h = x W1ᵀ + b1,   a = tanh h,   y = a W2ᵀ + b2,   L = ½ Σ (y − t)²,

and the chain rule read backwards, one line per node:

    dL/dy  = y − t
    dL/dW2 = (dL/dy)ᵀ a,         dL/db2 = Σ_rows dL/dy,     dL/da = (dL/dy) W2
    dL/dh  = dL/da ⊙ (1 − a²)
    dL/dW1 = (dL/dh)ᵀ x,         dL/db1 = Σ_rows dL/dh

The engine records the same graph forward and walks it backward (minigan/tensor.py,
Tensor.backward); in float64 the two sets of numbers are the same floats.

    python examples/01_backprop_by_hand.py       # writes 01_backprop_by_hand.png here
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402

rng = np.random.default_rng(0)
x, t = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
W1, b1 = rng.standard_normal((5, 3)), rng.standard_normal(5)
W2, b2 = rng.standard_normal((2, 5)), rng.standard_normal(2)

# by hand, with NumPy
a = np.tanh(x @ W1.T + b1)
y = a @ W2.T + b2
dy = y - t
hand = {"W2": dy.T @ a, "b2": dy.sum(axis=0)}
da = dy @ W2
dh = da * (1 - a * a)
hand.update(W1=dh.T @ x, b1=dh.sum(axis=0))

# by the engine: the same network from minigan's ops, one backward call
params = {name: mg.tensor(value, requires_grad=True)
          for name, value in dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
h = F.tanh(F.linear(mg.tensor(x), params["W1"], params["b1"]))
r = F.linear(h, params["W2"], params["b2"]) - mg.tensor(t)
loss = (r * r).sum() * 0.5
loss.backward()

print(f"loss {loss.item():.12f}")
print(f"{'gradient':<9} {'largest |entry|':>16} {'largest |hand − engine|':>24}")
for name, grad in hand.items():
    engine = params[name].grad
    print(f"{'dL/d' + name:<9} {np.abs(grad).max():>16.12f} {np.abs(grad - engine).max():>24.3g}")

# a tensor used twice gets both contributions added: d/dz (z + z)·z = 4z
z = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
((z + z) * z).sum().backward()
print("(z + z)·z  ->  grad", z.grad, "= 4z")

fig, ax = plt.subplots(figsize=(4.5, 4))
for name, grad in hand.items():
    ax.scatter(grad.ravel(), params[name].grad.ravel(), s=14, label=f"dL/d{name}")
ax.plot([-8, 8], [-8, 8], color="0.7", lw=0.8, zorder=0)
ax.set(xlabel="by hand (NumPy)", ylabel="by the engine (backward)",
       title="Every gradient entry lies on the diagonal")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("01_backprop_by_hand.png", dpi=100)
print("wrote 01_backprop_by_hand.png")
