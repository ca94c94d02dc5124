"""Backpropagation by hand, then by the engine: the two must agree.

For y = sum(tanh(x W^T + b)), the chain rule gives
    dy/dW = (1 - tanh²(h))^T x,   dy/db = sum_rows(1 - tanh²(h)),   h = x W^T + b.

    python examples/01_backprop_by_hand.py
"""

import numpy as np

import minigan as mg
import minigan.functional as F

rng = np.random.default_rng(0)
x = rng.standard_normal((5, 3)).astype(np.float32)
W = rng.standard_normal((4, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)

# by hand, with NumPy
h = x @ W.T + b
dh = 1.0 - np.tanh(h) ** 2          # dy/dh, since dy/d(tanh h) = 1
grad_W, grad_b = dh.T @ x, dh.sum(axis=0)

# by the engine: record the graph forward, walk it backward
tW, tb = mg.tensor(W, requires_grad=True), mg.tensor(b, requires_grad=True)
y = F.tanh(F.linear(mg.tensor(x), tW, tb)).sum()
y.backward()

print("dy/dW agrees:", np.allclose(tW.grad, grad_W, atol=1e-5))
print("dy/db agrees:", np.allclose(tb.grad, grad_b, atol=1e-5))

# a gradient used twice is added up: d/dx (x + x) * x = 4x
z = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
((z + z) * z).sum().backward()
print("(x + x) * x  ->  grad", z.grad, "= 4x")
