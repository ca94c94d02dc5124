"""The min-max step: K critic ascents on J with the generator held fixed (no graph through
it), then one generator descent with the critic held fixed; the signs of both players;
simultaneous updates at one point; PacGAN packing; state for resuming; and the f-GAN
paper's Gaussian fits (kl: moment matching; reverse_kl: the quadrature optimum)."""

import json

import numpy as np
import pytest

import minigan as mg
from minigan import backend as B
from minigan import divergences, gan, models, nn, optim, train


def host(t):
    return t.numpy().astype(np.float64)


def snapshot(module):
    return {k: B.to_numpy(v).copy() for k, v in module.state_dict().items()}


class Fixed:
    """A sampler that returns the same batch every call and counts the calls."""

    def __init__(self, array):
        self.array, self.sizes = np.asarray(array, np.float32), []

    def __call__(self, n):
        self.sizes.append(n)
        return mg.tensor(self.array[:n])


def make(div="gan", saturating=False, d_steps=1, pack=1, simultaneous=False, sgd_lr=None,
         batch=8, drift=0.0):
    rng = np.random.default_rng(0)
    G = models.mlp([3, 16, 2], nn.ReLU)
    V = models.critic((2,), hidden=16, layers=1, pack=pack)
    if sgd_lr is None:
        opt_g, opt_d = optim.Adam(G.parameters(), 1e-2), optim.Adam(V.parameters(), 1e-2,
                                                                    maximize=True)
    else:
        opt_g, opt_d = optim.SGD(G.parameters(), sgd_lr), optim.SGD(V.parameters(), sgd_lr,
                                                                  maximize=True)
    real = Fixed(rng.normal(1.0, 0.3, (batch, 2)))
    noise = Fixed(rng.standard_normal((batch, 3)))
    trainer = gan.VDMTrainer(G, V, div, opt_g, opt_d, real, noise,
                             d_steps=d_steps, batch_real=batch, batch_fake=batch, pack=pack,
                             saturating=saturating, simultaneous=simultaneous, drift=drift)
    return trainer, real, noise


def J_now(trainer, real, noise):
    with mg.no_grad():
        x_hat = trainer.generator(noise(trainer.B2))
        return trainer.critic_objective(real(trainer.B1), x_hat)[0].item()


def mean_fake_logit(trainer, noise):
    with mg.no_grad():
        return trainer.V(trainer.generator(noise(trainer.B2))).numpy().mean()


@pytest.mark.parametrize("div", ["gan", "kl", "reverse_kl", "pearson", "total_variation"])
def test_the_critic_step_ascends_J_with_the_generator_fixed(div):
    trainer, real, noise = make(div, sgd_lr=1e-3)
    before_J, before_G = J_now(trainer, real, noise), snapshot(trainer.generator)
    trainer.critic_step()
    assert J_now(trainer, real, noise) > before_J
    after_G = snapshot(trainer.generator)
    assert all(np.array_equal(before_G[k], after_G[k]) for k in before_G)
    # no gradient reached θ: nothing was built through G
    assert all(p.grad is None or not np.any(B.to_numpy(p.grad))
               for p in trainer.generator.parameters())


@pytest.mark.parametrize("div", ["gan", "kl", "reverse_kl", "squared_hellinger"])
@pytest.mark.parametrize("saturating", [False, True])
def test_the_generator_step_raises_the_critics_score_of_the_fakes(div, saturating):
    trainer, real, noise = make(div, saturating=saturating, sgd_lr=1e-3)
    before_V, before_w = mean_fake_logit(trainer, noise), snapshot(trainer.critic)
    grads_before = [B.to_numpy(p.grad).copy() if p.grad is not None else None
                    for p in trainer.critic.parameters()]
    trainer.generator_step()
    assert mean_fake_logit(trainer, noise) > before_V
    after_w = snapshot(trainer.critic)
    assert all(np.array_equal(before_w[k], after_w[k]) for k in before_w)
    # the critic held fixed received no gradient and is trainable again afterwards
    for p, g in zip(trainer.critic.parameters(), grads_before):
        assert p.requires_grad
        assert (p.grad is None and g is None) or np.array_equal(B.to_numpy(p.grad), g)


def test_k_critic_updates_then_one_generator_update_with_b1_and_b2():
    trainer, real, noise = make(d_steps=3)
    trainer.B1, trainer.B2 = 6, 4
    counts = {"d": 0, "g": 0}
    for name, attr in (("d", "opt_d"), ("g", "opt_g")):
        opt = getattr(trainer, attr)
        original = opt.step

        def counted(original=original, name=name):
            counts[name] += 1
            return original()

        opt.step = counted
    stats = trainer.step()
    assert counts == {"d": 3, "g": 1}
    assert real.sizes == [6, 6, 6]           # B1 real samples per critic update
    assert noise.sizes == [4, 4, 4, 4]       # B2 noise samples per update of either player
    assert stats["step"] == 1 and trainer.step_count == 1


def _gradients(trainer, real, noise):
    """∇_w J and ∇_θ L_G, both at the trainer's current (θ, w), computed on copies."""
    G = models.mlp([3, 16, 2], nn.ReLU)
    V = models.critic((2,), hidden=16, layers=1)
    G.load_state_dict(trainer.generator.state_dict())
    V.load_state_dict(trainer.critic.state_dict())
    J = gan.vdm_objective(V(real(8)).reshape(-1), V(G(noise(8)).detach()).reshape(-1),
                          trainer.divergence)
    J.backward()
    grad_w = [host(mg.tensor(p.grad)) for p in V.parameters()]
    with gan.held_fixed(V):
        loss = gan.generator_loss(V(G(noise(8))).reshape(-1), trainer.divergence)
        loss.backward()
    return grad_w, [host(mg.tensor(p.grad)) for p in G.parameters()]


def test_alternation_steps_the_generator_against_the_updated_critic():
    lr = 0.05
    trainer, real, noise = make(sgd_lr=lr)
    w0 = [host(p) for p in trainer.critic.parameters()]
    theta0 = [host(p) for p in trainer.generator.parameters()]
    grad_w, grad_theta_at_w0 = _gradients(trainer, real, noise)
    trainer.critic_step()  # w1 = w0 + α ∇_w J(θ0, w0)
    for p, start, g in zip(trainer.critic.parameters(), w0, grad_w):
        np.testing.assert_allclose(host(p), start + lr * g, rtol=1e-5, atol=1e-6)
    _, grad_theta_at_w1 = _gradients(trainer, real, noise)
    trainer.generator_step()  # θ1 = θ0 − α ∇_θ L_G(θ0, w1)
    for p, start, g in zip(trainer.generator.parameters(), theta0, grad_theta_at_w1):
        np.testing.assert_allclose(host(p), start - lr * g, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(grad_theta_at_w0, grad_theta_at_w1))


def test_simultaneous_update_takes_both_gradients_at_the_same_point():
    lr = 0.05
    trainer, real, noise = make(simultaneous=True, sgd_lr=lr)
    grad_w, grad_theta = _gradients(trainer, real, noise)
    w0 = [host(p) for p in trainer.critic.parameters()]
    theta0 = [host(p) for p in trainer.generator.parameters()]
    trainer.step()
    for p, start, g in zip(trainer.critic.parameters(), w0, grad_w):
        np.testing.assert_allclose(host(p), start + lr * g, rtol=1e-5, atol=1e-6)  # ascent
    for p, start, g in zip(trainer.generator.parameters(), theta0, grad_theta):
        np.testing.assert_allclose(host(p), start - lr * g, rtol=1e-5, atol=1e-6)  # descent


@pytest.mark.parametrize("simultaneous", [False, True])
def test_the_drift_penalty_is_ascended_beside_J_and_left_out_of_it(simultaneous):
    lr, eps = 0.05, 0.3
    trainer, real, noise = make("total_variation", simultaneous=simultaneous, sgd_lr=lr,
                                drift=eps)
    V = models.critic((2,), hidden=16, layers=1)
    V.load_state_dict(trainer.critic.state_dict())
    with mg.no_grad():
        x_hat = trainer.generator(noise(8))
    v_real = V(real(8)).reshape(-1)
    J = gan.vdm_objective(v_real, V(x_hat).reshape(-1), trainer.divergence)
    (J - eps * (v_real * v_real).mean()).backward()   # Karras et al.: J − ε E_P[V²]
    w0 = [host(p) for p in trainer.critic.parameters()]
    stats = trainer.step()
    for p, start, q in zip(trainer.critic.parameters(), w0, V.parameters()):
        np.testing.assert_allclose(host(p), start + lr * host(mg.tensor(q.grad)),
                                   rtol=1e-5, atol=1e-6)
    assert stats["objective"] == pytest.approx(J.item(), rel=1e-6)  # J, not the penalty
    assert eps * (v_real.numpy() ** 2).mean() > 1e-4  # the penalty is not negligible here


def test_pack_concatenates_consecutive_samples():
    x = mg.tensor(np.arange(24.0).reshape(6, 4))
    packed = gan.pack(x, 3)
    assert packed.shape == (2, 12)
    np.testing.assert_array_equal(packed.numpy()[1], np.arange(12.0, 24.0))
    images = mg.tensor(np.arange(2 * 4 * 3 * 3.0).reshape(4, 2, 3, 3))
    packed = gan.pack(images, 2)
    assert packed.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(packed.numpy()[1, 2:], images.numpy()[3])
    assert gan.pack(x, 1) is x


def test_a_packed_critic_sees_m_samples_per_input():
    trainer, real, noise = make(pack=4)
    seen = []
    forward = trainer.critic.forward
    trainer.critic.forward = lambda x: seen.append(x.shape) or forward(x)
    trainer.step()
    # 8 = 4 samples of 2 features per input; the critic step reads the 8 real and 8
    # generated samples in one call (an MLP critic is samplewise), the generator step 8
    assert seen == [(4, 8), (2, 8)]


@pytest.mark.parametrize("pack", [1, 2])
def test_a_samplewise_critic_reads_both_batches_in_one_call_with_the_same_numbers(pack):
    trainer, real, noise = make(pack=pack)
    assert trainer.samplewise_critic
    x, x_hat = real(trainer.B1), trainer.generator(noise(trainer.B2)).detach()
    joint = trainer.critic_objective(x, x_hat)
    trainer.samplewise_critic = False
    apart = trainer.critic_objective(x, x_hat)
    for a, b in zip(joint, apart):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    # and so do the gradients J sends to the critic
    grads = []
    for J in (joint[0], apart[0]):
        trainer.opt_d.zero_grad()
        J.backward()
        grads.append([B.to_numpy(p.grad).copy() for p in trainer.critic.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_critic_with_batch_statistics_reads_each_batch_on_its_own():
    critic = models.critic((1, 8, 8), width=4)  # the DCGAN critic has a BatchNorm2d
    generator = models.generator((1, 8, 8), 4, kind="dcgan", width=4)
    trainer = gan.VDMTrainer(generator, critic, "gan", optim.Adam(generator.parameters()),
                             optim.Adam(critic.parameters(), maximize=True),
                             Fixed(np.zeros((4, 1, 8, 8))), Fixed(np.zeros((4, 4))),
                             batch_real=4, batch_fake=4)
    assert not trainer.samplewise_critic
    seen = []
    forward = critic.forward
    critic.forward = lambda x: seen.append(x.shape[0]) or forward(x)
    trainer.critic_step()
    assert seen == [4, 4]


def test_step_statistics():
    trainer, real, noise = make(div="gan")
    stats = trainer.step()
    keys = {"step", "objective", "loss_d", "loss_g", "d_real", "d_fake", "t_real", "t_fake",
            "grad_norm_d", "grad_norm_g", "divergence_estimate", "v_min", "v_max"}
    assert set(stats) == keys
    assert all(isinstance(v, (int, float)) and np.isfinite(v) for v in stats.values())
    assert stats["loss_d"] == -stats["objective"]
    assert stats["divergence_estimate"] == stats["objective"]  # the first running value
    # the gradient norms are those of the last update of each player
    norm_g = np.sqrt(sum((host(mg.tensor(p.grad)) ** 2).sum()
                         for p in trainer.generator.parameters()))
    assert stats["grad_norm_g"] == pytest.approx(norm_g, rel=1e-5)
    # for the gan divergence T = log D, so exp(T) averages to D only approximately: check D
    with mg.no_grad():
        d_fake = mg.functional.sigmoid(trainer.V(trainer.generator(noise(8)))).numpy()
    assert 0 < stats["d_fake"] < 1 and 0 < d_fake.mean() < 1
    second = trainer.step()
    a = trainer.running_decay
    assert second["divergence_estimate"] == pytest.approx(
        a * stats["objective"] + (1 - a) * second["objective"])


@pytest.mark.parametrize("div", ["gan", "kl", "reverse_kl"])
def test_step_statistics_are_those_of_the_step(div):
    """J, the mean D = σ(V) and T = g_f(V) on both batches are those of the critic update
    (at the starting w), the generator loss that of the generator update (θ0 against the
    updated critic), and the critic's gradient norm that of ∇_w J at the start."""
    trainer, real, noise = make(div=div)
    g_f = trainer.divergence.activation
    grad_w, _ = _gradients(trainer, real, noise)
    theta0 = models.mlp([3, 16, 2], nn.ReLU)
    theta0.load_state_dict(trainer.generator.state_dict())
    with mg.no_grad():
        v_real, v_fake = trainer.V(real(8)), trainer.V(trainer.generator(noise(8)))
        J = gan.vdm_objective(v_real, v_fake, trainer.divergence).item()
        expected = {"d_real": mg.functional.sigmoid(v_real), "d_fake":
                    mg.functional.sigmoid(v_fake), "t_real": g_f(v_real), "t_fake": g_f(v_fake)}
    stats = trainer.step()
    assert stats["objective"] == pytest.approx(J, rel=1e-5, abs=1e-6)
    for key, values in expected.items():
        assert stats[key] == pytest.approx(host(values).mean(), rel=1e-5, abs=1e-6), key
    logits = np.concatenate([host(v_real), host(v_fake)])
    assert stats["v_min"] == pytest.approx(logits.min(), rel=1e-5, abs=1e-6)
    assert stats["v_max"] == pytest.approx(logits.max(), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(np.concatenate([B.to_numpy(a) for a in trainer.logits]),
                               logits, rtol=1e-5, atol=1e-6)
    with mg.no_grad():
        loss_g = gan.generator_loss(trainer.V(theta0(noise(8))), trainer.divergence).item()
    assert stats["loss_g"] == pytest.approx(loss_g, rel=1e-5, abs=1e-6)
    norm_w = np.sqrt(sum((g ** 2).sum() for g in grad_w))
    assert stats["grad_norm_d"] == pytest.approx(norm_w, rel=1e-5)


def test_statistics_are_optional_and_do_not_change_training():
    a, _, _ = make()
    b, _, _ = make()
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        full, lean = a.step(), b.step(statistics=False)
        assert set(lean) == {"step", "objective", "loss_d", "loss_g", "divergence_estimate"}
        assert lean == {key: full[key] for key in lean}
    for part in ("generator", "critic"):
        for key, value in getattr(a, part).state_dict().items():
            assert B.to_numpy(value).tobytes() == B.to_numpy(
                getattr(b, part).state_dict()[key]).tobytes()


def test_state_dict_resumes_identically():
    a, _, _ = make()
    b, _, _ = make()
    for _ in range(3):
        a.step()
    b.load_state_dict(a.state_dict())
    assert b.step_count == 3 and b.running_objective == a.running_objective
    for _ in range(2):
        sa, sb = a.step(), b.step()
        assert sa == sb


def test_the_divergence_is_given_by_name_or_as_a_divergence():
    by_name, _, _ = make("js_weighted(0.3)")
    assert by_name.divergence == divergences.get("js_weighted", pi=0.3)
    by_object, _, _ = make(divergences.get("js_weighted(0.3)"))
    by_object.load_state_dict(by_name.state_dict())
    assert by_name.step() == by_object.step()  # the statistics use g_f too
    with pytest.raises(ValueError, match="wasserstein"):
        make("wasserstein")


def test_misconfigured_trainers_are_refused():
    G, V = models.mlp([3, 4, 2], nn.ReLU), models.critic((2,), hidden=4, layers=1)
    ascend, descend = optim.SGD(V.parameters(), 0.1, maximize=True), optim.SGD(
        G.parameters(), 0.1)
    div = divergences.get("gan")
    with pytest.raises(ValueError, match="maximize"):
        gan.VDMTrainer(G, V, div, descend, optim.SGD(V.parameters(), 0.1), None, None)
    with pytest.raises(ValueError, match="multiples of pack"):
        gan.VDMTrainer(G, V, div, descend, ascend, None, None, batch_real=10, pack=4)
    with pytest.raises(ValueError, match="d_steps"):
        gan.VDMTrainer(G, V, div, descend, ascend, None, None, d_steps=0)
    for drift in (-1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="drift"):
            gan.VDMTrainer(G, V, div, descend, ascend, None, None, drift=drift)


# --- the f-GAN paper's Gaussian fits --------------------------------------------------------


def quadrature_optimum(integrand):
    """argmin over (μ, σ) of ∫ integrand(log q, log p) dx, q = N(μ, σ²) and p the mixture,
    by quadrature on a grid, then refined."""
    from minigan.data import mixture1d_density

    x = np.linspace(-12, 14, 8001)
    dx = x[1] - x[0]
    log_p = np.log(mixture1d_density(x))

    def distance(mu, sigma):
        log_q = -0.5 * ((x - mu[:, None]) / sigma[:, None]) ** 2 - np.log(
            sigma[:, None] * np.sqrt(2 * np.pi))
        return integrand(log_q, log_p).sum(axis=1) * dx

    centre, width = np.array([1.0, 1.2]), 0.8
    for _ in range(4):
        mus, sigmas = np.meshgrid(np.linspace(-width, width, 41) + centre[0],
                                  np.linspace(-width, width, 41) + centre[1])
        values = distance(mus.ravel(), np.abs(sigmas.ravel()))
        centre = np.array([mus.ravel()[values.argmin()], sigmas.ravel()[values.argmin()]])
        width /= 8
    return centre


def reverse_kl_optimum():
    """argmin KL(N(μ, σ²) || P) = ∫ q (log q − log p) dx."""
    return quadrature_optimum(lambda log_q, log_p: np.exp(log_q) * (log_q - log_p))


def total_variation_optimum():
    """argmin TV(P, N(μ, σ²)) = ½ ∫ |p − q| dx."""
    return quadrature_optimum(lambda log_q, log_p: 0.5 * np.abs(np.exp(log_p) - np.exp(log_q)))


def test_the_quadrature_optimum_is_mode_seeking():
    mu, sigma = reverse_kl_optimum()
    assert 0.75 < mu < 1.5 and sigma < 1.444818  # shifted to the heavier mode, narrower
    assert mu == pytest.approx(0.911, abs=0.01) and sigma == pytest.approx(1.330, abs=0.01)
    # examples/05 finds the total_variation optimum at (0.980, 1.430) on its own grid
    assert total_variation_optimum() == pytest.approx([0.980, 1.430], abs=0.01)


@pytest.mark.parametrize("div", ["kl", "reverse_kl", "total_variation"])
def test_the_linear_generator_fits_the_vdm_optimum(tmp_path, div):
    """total_variation gets there with its mixture1d recipe, the drift penalty."""
    code = train.main(["--dataset", "mixture1d", "--divergence", div, "--no-progress",
                       "--no-plots", "--out", str(tmp_path)])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["generator_loss"] == "saturating"
    target = {"kl": lambda: (0.75, 1.444818), "reverse_kl": reverse_kl_optimum,
              "total_variation": total_variation_optimum}[div]()
    assert summary["mu"] == pytest.approx(target[0], abs=0.05)
    assert summary["sigma"] == pytest.approx(target[1], abs=0.05)
