"""The variational bound behind every f-GAN, on two distributions over four points.

    D_f(P||Q) = Σ q f(p/q)  >=  max_T  Σ p T − Σ q f*(T),   tight at T = f'(p/q).

The critic here is a free logit per point, T = g_f(V); Adam ascends the bound until it
meets the exact divergence.

    python examples/03_variational_bound.py
"""

import numpy as np

import minigan as mg

p = np.array([0.1, 0.2, 0.3, 0.4])
q = np.array([0.4, 0.3, 0.2, 0.1])

print(f"{'divergence':<18} {'exact Σ q f(p/q)':>17} {'bound after Adam':>17}")
for name in ["kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon", "gan",
             "total_variation"]:
    div = mg.divergences.get(name)
    exact = float((q * div.f(mg.tensor(p / q, dtype="float64")).numpy()).sum())
    v = mg.tensor(np.zeros(4), requires_grad=True)        # V: one free logit per point
    opt = mg.optim.Adam([v], lr=0.05, maximize=True)       # ascend the bound in V
    tp, tq = mg.tensor(p), mg.tensor(q)
    for _ in range(3000):
        opt.zero_grad()
        bound = (tp * div.activation(v)).sum() - (tq * div.conjugate_of_activation(v)).sum()
        bound.backward()
        opt.step()
    print(f"{name:<18} {exact:>17.5f} {bound.item():>17.5f}")
