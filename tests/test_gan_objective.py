"""The VDM objective (f-GAN equation 6) and the generator losses: the GAN row against binary
cross-entropy, and the signs of DESIGN.md (a critic step raises J, a generator step raises
the critic's score of the fakes)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan as mg
from minigan import divergences, gan, nn, optim
from minigan.backend import to_numpy as host
from minigan.testing import arrays

SPECS = [*divergences.NAMES, "js_weighted(0.2)", "alpha(-1)", "alpha(0.3)"]


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


@given(v_real=arrays((7,), -30, 30), v_fake=arrays((5,), -30, 30))
def test_gan_objective_is_binary_cross_entropy(float64, v_real, v_fake):
    # J = E log D(x) + E log(1 − D(x̂)), D = σ(V), and its gradients
    real, fake = mg.tensor(v_real, requires_grad=True), mg.tensor(v_fake, requires_grad=True)
    j = gan.vdm_objective(real, fake, "gan")
    expected = log_sigmoid(v_real).mean() + log_sigmoid(-v_fake).mean()
    np.testing.assert_allclose(j.item(), expected, rtol=1e-12)
    j.backward()
    sigmoid = lambda x: np.exp(log_sigmoid(x))  # noqa: E731
    np.testing.assert_allclose(host(real.grad), sigmoid(-v_real) / len(v_real), rtol=1e-12)
    np.testing.assert_allclose(host(fake.grad), -sigmoid(v_fake) / len(v_fake), rtol=1e-12)


@given(v_fake=arrays((6,), -30, 30))
def test_gan_generator_losses_are_the_lectures(float64, v_fake):
    fake = mg.tensor(v_fake)
    saturating = gan.generator_loss(fake, "gan", saturating=True).item()
    non_saturating = gan.generator_loss(fake, "gan").item()
    np.testing.assert_allclose(saturating, log_sigmoid(-v_fake).mean(), rtol=1e-12)  # E log(1−D)
    np.testing.assert_allclose(non_saturating, -log_sigmoid(v_fake).mean(), rtol=1e-12)  # −E log D


def test_gan_objective_is_finite_for_saturated_critics():
    extreme = mg.tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], np.float32), requires_grad=True)
    j = gan.vdm_objective(extreme, extreme, "gan")
    j.backward()
    assert np.isfinite(j.item()) and np.isfinite(host(extreme.grad)).all()
    for saturating in (False, True):
        assert np.isfinite(gan.generator_loss(extreme, "gan", saturating).item())


@pytest.mark.parametrize("spec", SPECS)
@given(v_real=arrays((6,), -5, 5), v_fake=arrays((4,), -5, 5))
def test_objective_and_losses_follow_equation_6(float64, spec, v_real, v_fake):
    div = divergences.get(spec)
    real, fake = mg.tensor(v_real), mg.tensor(v_fake)
    g_real = div.activation(real).numpy()
    composed_fake = div.conjugate_of_activation(fake).numpy()
    for given_div in (div, spec):  # a Divergence or its name
        np.testing.assert_allclose(gan.vdm_objective(real, fake, given_div).item(),
                                   g_real.mean() - composed_fake.mean(), rtol=1e-12)
        np.testing.assert_allclose(gan.generator_loss(fake, given_div, saturating=True).item(),
                                   -composed_fake.mean(), rtol=1e-12)
        np.testing.assert_allclose(gan.generator_loss(fake, given_div).item(),
                                   -div.activation(fake).numpy().mean(), rtol=1e-12)


def composed(spec, v_real, v_fake, saturating):
    """J and both losses as the row's single nodes and Tensor means (what the one-node
    objective and losses stand for), backpropagated: their values and input gradients."""
    div = divergences.get(spec)
    real, fake = mg.tensor(v_real, requires_grad=True), mg.tensor(v_fake, requires_grad=True)
    J = div.activation(real).mean() - div.conjugate_of_activation(fake).mean()
    form = div.conjugate_of_activation if saturating else div.activation
    loss = -form(fake).mean()
    (J + loss).backward()
    return J.item(), loss.item(), host(real.grad), host(fake.grad)


def one_node(spec, v_real, v_fake, saturating):
    real, fake = mg.tensor(v_real, requires_grad=True), mg.tensor(v_fake, requires_grad=True)
    J = gan.vdm_objective(real, fake, spec)
    loss = gan.generator_loss(fake, spec, saturating)
    assert J.parents == (real, fake) and loss.parents == (fake,)  # one node each
    (J + loss).backward()
    return J.item(), loss.item(), host(real.grad), host(fake.grad)


@pytest.mark.parametrize("saturating", [False, True])
@pytest.mark.parametrize("spec", SPECS)
@given(v_real=arrays((6,), -5, 5), v_fake=arrays((4,), -5, 5))
def test_the_objective_and_loss_nodes_have_their_compositions_gradients(float64, spec,
                                                                         saturating, v_real,
                                                                         v_fake):
    for ours, theirs in zip(one_node(spec, v_real, v_fake, saturating),
                            composed(spec, v_real, v_fake, saturating)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)
    real, fake = mg.tensor(v_real, requires_grad=True), mg.tensor(v_fake, requires_grad=True)
    assert mg.gradcheck(lambda r, f: gan.vdm_objective(r, f, spec), [real, fake])
    assert mg.gradcheck(lambda f: gan.generator_loss(f, spec, saturating), [fake])


@pytest.mark.parametrize("spec", SPECS)
def test_the_objective_node_reads_logits_through_the_rows_guard(spec):
    """float32 logits past where the row's forms overflow: the node's numbers are the
    guarded single nodes' numbers, bit for bit, its gradients finite (the means of such
    values may overflow)."""
    v = np.array([-1e4, -300.0, -90.0, -1.0, 0.0, 2.0, 90.0, 300.0, 1e4], np.float32)
    for saturating in (False, True):
        ours = one_node(spec, v, v[::-1].copy(), saturating)
        for a, b in zip(ours, composed(spec, v, v[::-1].copy(), saturating)):
            np.testing.assert_array_equal(a, b)
        assert np.all(np.isfinite(ours[2])) and np.all(np.isfinite(ours[3]))


def test_objective_applies_f_star_to_the_activation_not_the_logit():
    # a shipped bug: f*(V) instead of f*(g_f(V)); for kl, f*(g(v)) = exp(v − 1) either way,
    # so use reverse_kl, where f*(v) is not even defined for v > 0
    v = mg.tensor(np.array([0.5, 2.0]))
    j = gan.vdm_objective(v, v, "reverse_kl").item()
    np.testing.assert_allclose(j, np.mean(-np.exp(-v.numpy())) - np.mean(v.numpy() - 1))


def test_unknown_divergence_is_refused():
    v = mg.tensor(np.zeros(3))
    with pytest.raises(ValueError, match="total_variation"):
        gan.vdm_objective(v, v, "wasserstein")
    with pytest.raises(ValueError):
        gan.generator_loss(v, "nope")


# --- the signs of DESIGN.md ----------------------------------------------------------------


def critic_and_batches(seed):
    rng = np.random.default_rng(seed)
    critic = nn.Linear(2, 1)
    real = mg.tensor(rng.normal(1.0, 0.5, (64, 2)))
    fake = mg.tensor(rng.normal(-0.5, 0.7, (48, 2)))
    return critic, real, fake


def objective(critic, real, fake, div):
    return gan.vdm_objective(critic(real).reshape(-1), critic(fake).reshape(-1), div)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("make_optimizer", [
    lambda params, maximize: optim.Adam(params, lr=1e-3, maximize=maximize),
    lambda params, maximize: optim.SGD(params, lr=1e-3, maximize=maximize),
], ids=["adam", "sgd"])
@given(seed=st.integers(0, 2**16))
def test_a_discriminator_step_raises_j(float64, spec, make_optimizer, seed):
    div = divergences.get(spec)
    for maximize, direction in ((True, 1), (False, -1)):  # descending J must lower it
        critic, real, fake = critic_and_batches(seed)
        step = make_optimizer(critic.parameters(), maximize)
        before = objective(critic, real, fake, div)
        before.backward()
        step.step()
        with mg.no_grad():
            after = objective(critic, real, fake, div)
        assert direction * (after.item() - before.item()) > 0


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("saturating", [False, True], ids=["non_saturating", "saturating"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@given(w=st.floats(0.3, 2.0), c=st.floats(-1.0, 1.0), sign=st.sampled_from([-1, 1]))
def test_a_generator_step_raises_the_critics_score_of_the_fakes(float64, spec, saturating,
                                                                 optimizer, w, c, sign):
    """With a linear critic V(x) = w x + c and centred noise, the mean score of the fakes
    is linear in the generator's parameters, so one descent step on either loss raises it,
    whatever the learning rate; the lecture's printed sign (the loss negated) lowers it."""
    div = divergences.get(spec)
    z = np.random.default_rng(0).standard_normal((32, 1))
    z = mg.tensor(z - z.mean())
    w = sign * w

    def mean_score(scale, shift):
        return ((z @ scale + shift) * w + c).mean()

    for flip in (1, -1):
        scale = nn.Parameter(mg.tensor(np.array([[0.8]])))  # G(z) = z A + b
        shift = nn.Parameter(mg.tensor(np.array([0.1])))
        params = [scale, shift]
        step = (optim.SGD(params, lr=0.05) if optimizer == "sgd"
                else optim.Adam(params, lr=0.05))
        v_fake = ((z @ scale + shift) * w + c).reshape(-1)
        before = mean_score(scale, shift).item()
        (flip * gan.generator_loss(v_fake, div, saturating)).backward()
        step.step()
        with mg.no_grad():
            after = mean_score(scale, shift).item()
        assert flip * (after - before) > 0


def test_the_objective_and_loss_take_arrays_and_lists_as_constant_logits():
    v_real, v_fake = np.array([0.5, -1.0, 2.0]), [0.25, -0.5]
    expected = gan.vdm_objective(mg.tensor(v_real), mg.tensor(v_fake), "kl").item()
    assert gan.vdm_objective(v_real, v_fake, "kl").item() == expected
    assert gan.generator_loss(v_fake, "kl").item() == gan.generator_loss(
        mg.tensor(v_fake), "kl").item()
