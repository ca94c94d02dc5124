"""The VDM objective and the alternating training step.

The objective is equation 6 of f-GAN (Nowozin et al. 2016), the lecture's J(θ, w):
``J = E_P[g_f(V_w(x))] − E_Q[f*(g_f(V_w(x̂)))]``, x̂ = G_θ(z). The discriminator ascends J in
w; the generator descends a loss in θ (DESIGN.md, "Sign conventions"):
saturating ``−E_Q[f*(g_f(V))]``, non-saturating (f-GAN section 3.2) ``−E_Q[g_f(V)]``.
For the gan divergence, with D = σ(V), these are E log(1 − D(G(z))) and −E log D(G(z)).
"""

from __future__ import annotations

from . import divergences


def vdm_objective(v_real, v_fake, div):
    """J = mean g_f(V(x)) − mean f*(g_f(V(x̂))) (f-GAN equation 6), from the critic's
    logits on real and fake samples; ``div`` is a Divergence or its name."""
    div = divergences.get(div)
    return div.activation(v_real).mean() - div.conjugate_of_activation(v_fake).mean()


def generator_loss(v_fake, div, saturating=False):
    """The generator's loss to minimise: −mean f*(g_f(V(x̂))) when ``saturating`` (the θ
    part of −J), else −mean g_f(V(x̂)) (f-GAN section 3.2). Either one, descended, raises the
    critic's score of the fakes."""
    div = divergences.get(div)
    if saturating:
        return -div.conjugate_of_activation(v_fake).mean()
    return -div.activation(v_fake).mean()
