"""The VDM objective and the alternating training step.

The objective is equation 6 of f-GAN (Nowozin et al. 2016), the lecture's J(θ, w):
``J = E_P[g_f(V_w(x))] − E_Q[f*(g_f(V_w(x̂)))]``, x̂ = G_θ(z). The discriminator ascends J in
w; the generator descends a loss in θ (DESIGN.md, "Sign conventions"):
saturating ``−E_Q[f*(g_f(V))]``, non-saturating (f-GAN section 3.2) ``−E_Q[g_f(V)]``.
For the gan divergence, with D = σ(V), these are E log(1 − D(G(z))) and −E log D(G(z)).
"""

from __future__ import annotations

from . import backend as B
from . import divergences, kernels
from . import functional as F
from .tensor import Tensor, no_grad, op, tensor


def vdm_objective(v_real, v_fake, div):
    """J = mean g_f(V(x)) − mean f*(g_f(V(x̂))) (f-GAN equation 6), from the critic's
    logits on B₁ real and B₂ fake samples; ``div`` is a Divergence or its name. One graph
    node: ∂J/∂V(x_i) = g_f'(V(x_i))/B₁, ∂J/∂V(x̂_j) = −(f*∘g_f)'(V(x̂_j))/B₂."""
    div = divergences.get(div)
    v_real, v_fake = _tensor(v_real), _tensor(v_fake)
    t_real, t_vjp = div.activation_vjp(v_real.data)
    c_fake, c_vjp = div.conjugate_of_activation_vjp(v_fake.data)
    J = _mean(t_real) - _mean(c_fake)

    def backward(g):
        return (t_vjp(g / t_real.size) if v_real.requires_grad else None,
                c_vjp(-g / c_fake.size) if v_fake.requires_grad else None)

    return op(J, (v_real, v_fake), backward, name="vdm_objective")


def generator_loss(v_fake, div, saturating=False):
    """The generator's loss to minimise: −mean f*(g_f(V(x̂))) when ``saturating`` (the θ
    part of −J), else −mean g_f(V(x̂)) (f-GAN section 3.2). Either one, descended, raises the
    critic's score of the fakes. One graph node: ∂L/∂V(x̂_j) = −(f*∘g_f)'(V(x̂_j))/B₂, or
    −g_f'(V(x̂_j))/B₂."""
    div = divergences.get(div)
    v_fake = _tensor(v_fake)
    forms = div.conjugate_of_activation_vjp if saturating else div.activation_vjp
    values, vjp = forms(v_fake.data)
    loss = -_mean(values)
    return op(loss, (v_fake,), lambda g: (vjp(-g / values.size),), name="generator_loss")


def _mean(values):
    """The mean of every entry, a 0-d array."""
    return kernels.mean(values, tuple(range(values.ndim)), False)


def _tensor(v):
    """Logits as a Tensor (arrays and lists are taken as constants)."""
    return v if isinstance(v, Tensor) else tensor(v)


# --- training: the min-max game, step by step ------------------------------------------
#
# The lecture's "Training Algorithm Summary", with its two sign slips fixed (DESIGN.md):
#   for each generator update:
#     K times:  x_1..x_B1 ~ p_x,  x̂_1..x̂_B2 = G_θ(z_j) with θ held fixed (no graph),
#               w ← w + α1 ∇_w J(θ, w)                         (ascent on equation 6)
#     once:     z_1..z_B2 ~ N(0, I), w held fixed,
#               θ ← θ − α2 ∇_θ L_G(θ, w)                      (descent)
# with J(θ, w) = (1/B1) Σ_i g_f(V_w(x_i)) − (1/B2) Σ_j f*(g_f(V_w(x̂_j))) and L_G the
# saturating loss −(1/B2) Σ_j f*(g_f(V_w(G_θ(z_j)))) or the non-saturating one
# −(1/B2) Σ_j g_f(V_w(G_θ(z_j))) (f-GAN section 3.2).


def pack(x, m):
    """PacGAN: m consecutive samples concatenated into one critic input,
    (B, c, ...) -> (B/m, m·c, ...)."""
    if m == 1:
        return x
    return x.reshape(x.shape[0] // m, x.shape[1] * m, *x.shape[2:])


class held_fixed:
    """Context manager: the parameters of ``module`` take no gradient inside (their
    requires_grad is switched off and restored), so a player held fixed neither receives
    nor keeps gradients and backward skips computing them."""

    def __init__(self, module):
        self.params = module.parameters()

    def __enter__(self):
        self.flags = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad = False

    def __exit__(self, *exc):
        for p, flag in zip(self.params, self.flags):
            p.requires_grad = flag


def grad_norm(params):
    """‖∇‖ over all ``params`` (a backend scalar; 0 where no gradient arrived)."""
    xp = B.xp
    total = xp.zeros((), dtype=B.default_dtype)
    for p in params:
        if p.grad is not None:
            total = total + xp.vdot(p.grad.ravel(), p.grad.ravel())
    return xp.sqrt(total)


class VDMTrainer:
    """Alternating (or simultaneous) gradient steps on min_θ max_w J(θ, w).

    ``generator`` is G_θ, ``critic`` is V_w (T_w = g_f ∘ V_w), ``divergence`` gives g_f and
    f* (a Divergence or its name). ``opt_d`` must ascend (``maximize=True``, learning rate α1);
    ``opt_g`` descends (learning rate α2). ``sample_real(n)`` returns n data samples and
    ``sample_noise(n)`` n noise vectors, both device Tensors. ``d_steps`` is K,
    ``batch_real`` B1, ``batch_fake`` B2; ``pack`` is PacGAN's m (both batch sizes must be
    multiples of it). ``simultaneous`` takes both players' gradients at the same (θ, w)
    and updates both (f-GAN Algorithm 1), instead of alternating. ``drift`` is ε of the
    drift penalty (``critic_ascent``); 0 ascends J itself. ``samplewise_critic`` (set when
    every module of the critic is ``samplewise``) has the critic step read the real and
    the generated batch in one critic call.
    """

    def __init__(self, generator, critic, divergence, opt_g, opt_d, sample_real,
                 sample_noise, d_steps=1, batch_real=64, batch_fake=64, pack=1,
                 saturating=False, simultaneous=False, running_decay=0.98, drift=0.0):
        if not opt_d.maximize or opt_g.maximize:
            raise ValueError("the critic's optimizer must ascend (maximize=True) and the "
                             "generator's descend (maximize=False)")
        for name, value in (("d_steps", d_steps), ("batch_real", batch_real),
                            ("batch_fake", batch_fake), ("pack", pack)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if not 0 <= drift < float("inf"):
            raise ValueError(f"drift must be a finite number >= 0, got {drift}")
        if batch_real % pack or batch_fake % pack:
            raise ValueError(f"batch sizes ({batch_real}, {batch_fake}) must be multiples of "
                             f"pack={pack}")
        self.generator, self.critic = generator, critic
        self.divergence = divergences.get(divergence)
        self.opt_g, self.opt_d = opt_g, opt_d
        self.sample_real, self.sample_noise = sample_real, sample_noise
        self.K, self.B1, self.B2, self.m = d_steps, batch_real, batch_fake, pack
        self.saturating, self.simultaneous = saturating, simultaneous
        self.running_decay, self.drift = running_decay, drift
        self.samplewise_critic = all(module.samplewise for module in critic.modules())
        self._critic_fixed = held_fixed(critic)  # reused: the optimizers fixed the parameters
        self.step_count = 0
        self.logits = None  # (V on real, V on generated) of the last critic update (arrays)
        self.running_objective = None  # exponential average of J: the divergence estimate

    # the two players' outputs -----------------------------------------------------------
    def V(self, x):
        """V_w on (packed) samples, one logit per critic input."""
        return self.critic(pack(x, self.m)).reshape(-1)

    def critic_objective(self, x_real, x_fake):
        """J(θ, w) on one minibatch (equation 6), and the logits it used. A critic made only
        of ``samplewise`` modules reads both batches in one call, V(x ‖ x̂) = V(x) ‖ V(x̂)
        (one pass through its layers instead of two)."""
        if self.samplewise_critic:
            v = self.V(F.concat([x_real, x_fake]))
            split = x_real.shape[0] // self.m
            v_real, v_fake = v[:split], v[split:]
        else:
            v_real, v_fake = self.V(x_real), self.V(x_fake)
        return vdm_objective(v_real, v_fake, self.divergence), v_real, v_fake

    def critic_ascent(self, J, v_real):
        """What the critic ascends: J − ε·mean V(x)² over the real batch, the drift penalty
        of Karras, Aila, Laine, Lehtinen 2018 ("Progressive Growing of GANs", appendix
        A.1), which keeps V from running off to where g_f saturates and the critic's own
        gradient vanishes (total_variation's ½·tanh V); J itself when ε = 0. J, not this,
        is the divergence estimate."""
        return J - self.drift * (v_real * v_real).mean() if self.drift else J

    def _generator_loss(self, x_fake):
        return generator_loss(self.V(x_fake), self.divergence, saturating=self.saturating)

    # one step ---------------------------------------------------------------------------
    def step(self, statistics=True):
        """One generator update and its K critic updates (``critic_step`` K times, then
        ``generator_step``; both players at once when ``simultaneous``). Returns the step's
        numbers (host floats): J, the losses and the running divergence estimate, and with
        ``statistics`` also the mean critic outputs on real and generated samples and both
        players' gradient norms (left out on steps nobody logs: they cost host syncs)."""
        if self.simultaneous:
            J, loss_g, v_real, v_fake = self._simultaneous_step()
        else:
            J, loss_g, v_real, v_fake = self._alternating_step()
        self.logits = (v_real.data, v_fake.data)  # the last critic update's, for diagnosis
        self.step_count += 1
        objective = float(J.data)
        stats = {"step": self.step_count, "objective": objective, "loss_d": -objective,
                 "loss_g": float(loss_g.data)}
        if statistics:
            stats.update(self._statistics(v_real, v_fake))
        if self.running_objective is None:
            self.running_objective = objective
        else:
            a = self.running_decay
            self.running_objective = a * self.running_objective + (1 - a) * objective
        stats["divergence_estimate"] = self.running_objective
        return stats

    def critic_step(self):
        """One critic update, the lecture's ``w ← w + α1 ∇_w J(θ, w)`` (ascent on equation 6),
        on B1 real samples x_i ~ p_x and B2 generated ones x̂_j = G_θ(z_j), θ held fixed (G
        runs under no_grad). Returns J (before the update) and the critic's logits on the
        real and generated samples."""
        x = self.sample_real(self.B1)                         # x_1..x_B1 ~ p_x
        with no_grad():                                        # θ fixed: no graph through G
            x_hat = self.generator(self.sample_noise(self.B2))  # x̂_j = G_θ(z_j)
        J, v_real, v_fake = self.critic_objective(x, x_hat)
        self.opt_d.zero_grad()
        self.critic_ascent(J, v_real).backward()               # ∇_w J (− ε ∇_w E V²)
        self.opt_d.step()                                      # ascent (maximize=True)
        return J, v_real, v_fake

    def generator_step(self):
        """One generator update, the lecture's ``θ ← θ − α2 ∇_θ L_G(θ, w)`` (descent), on B2
        fresh noise samples z_j ~ N(0, I), w held fixed (the critic's parameters take no
        gradient, and keep the ones of the last critic step). L_G is the saturating or the
        non-saturating loss (``generator_loss``). Returns L_G (before the update)."""
        z = self.sample_noise(self.B2)                         # z_1..z_B2 ~ N(0, I)
        self.opt_g.zero_grad()
        with self._critic_fixed:
            loss_g = self._generator_loss(self.generator(z))
            loss_g.backward()                                  # ∇_θ L_G only
        self.opt_g.step()                                      # descent
        return loss_g

    def _alternating_step(self):
        for _ in range(self.K):
            J, v_real, v_fake = self.critic_step()
        return J, self.generator_step(), v_real, v_fake

    def _simultaneous_step(self):
        """f-GAN Algorithm 1: ∇_w J and ∇_θ L_G both at the current (θ, w), then
        w ← w + α1 ∇_w J and θ ← θ − α2 ∇_θ L_G together (K is ignored)."""
        x = self.sample_real(self.B1)
        x_hat = self.generator(self.sample_noise(self.B2))
        J, v_real, v_fake = self.critic_objective(x, x_hat.detach())
        self.opt_d.zero_grad()
        self.critic_ascent(J, v_real).backward()
        self.opt_g.zero_grad()
        with self._critic_fixed:
            loss_g = self._generator_loss(x_hat)
            loss_g.backward()
        self.opt_d.step()
        self.opt_g.step()
        return J, loss_g, v_real, v_fake

    def _statistics(self, v_real, v_fake):
        """Mean D = σ(V) and T = g_f(V) on the last critic update's batches, the smallest and
        largest logit V on them (``v_min``, ``v_max``: whether the critic stays where g_f and
        f* are exact, ``Divergence.logit_range``); the norms of the gradients each player
        last stepped with (the critic's is kept through the generator's update, which holds
        it fixed)."""
        g_f, xp = self.divergence.activation, B.xp
        with no_grad():
            stats = {
                "d_real": F.sigmoid(v_real).data.mean(), "d_fake": F.sigmoid(v_fake).data.mean(),
                "t_real": g_f(v_real).data.mean(), "t_fake": g_f(v_fake).data.mean(),
                "v_min": xp.minimum(v_real.data.min(), v_fake.data.min()),
                "v_max": xp.maximum(v_real.data.max(), v_fake.data.max()),
                "grad_norm_d": grad_norm(self.critic.parameters()),
                "grad_norm_g": grad_norm(self.generator.parameters()),
            }
        return {key: float(value) for key, value in stats.items()}

    # state ------------------------------------------------------------------------------
    def state_dict(self):
        """Everything but the RNG that a resume needs to continue bit for bit."""
        return {"step": self.step_count, "running_objective": self.running_objective,
                "generator": self.generator.state_dict(), "critic": self.critic.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_state_dict(self, state):
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step_count = int(state["step"])
        running = state["running_objective"]
        self.running_objective = None if running is None else float(running)
