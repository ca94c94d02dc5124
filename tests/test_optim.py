"""SGD and Adam: several steps against the update formulas written out in NumPy (both
signs), ascent raises a concave objective and descent lowers a convex one, PyTorch
cross-checks, skipped parameters, bit-for-bit resume from a state dict, and the flat buffer
staying shared with the parameters."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan as mg
from minigan import nn, tuning
from minigan.backend import to_device
from minigan.backend import to_numpy as host
from minigan.optim import SGD, Adam

# --- the formulas, written out ----------------------------------------------------------


def sgd_reference(theta, grads, lr, momentum=0.0, weight_decay=0.0, maximize=False):
    """d = ±g + λθ; b ← μb + d (b = d first); θ ← θ − α b."""
    buffer = None
    for g in grads:
        d = (-g if maximize else g) + weight_decay * theta
        if momentum:
            buffer = d if buffer is None else momentum * buffer + d
            d = buffer
        theta = theta - lr * d
    return theta


def adam_reference(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   maximize=False):
    """m ← β₁m + (1−β₁)d, v ← β₂v + (1−β₂)d², θ ← θ − α/(1−β₁ᵗ) · m/(√v/√(1−β₂ᵗ) + ε)."""
    (b1, b2), m, v = betas, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        d = (-g if maximize else g) + weight_decay * theta
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        theta = theta - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    return theta


def run(optimizer, params, grads_per_step):
    """Write each step's gradients into .grad (as the engine's accumulation does) and step."""
    for grads in grads_per_step:
        optimizer.zero_grad()
        for p, g in zip(params, grads):
            p.grad += to_device(g)
        optimizer.step()


optimizer_settings = st.one_of(
    st.tuples(st.just("sgd"), st.fixed_dictionaries({
        "lr": st.floats(1e-3, 0.5), "momentum": st.sampled_from([0.0, 0.5, 0.9]),
        "weight_decay": st.sampled_from([0.0, 0.01, 0.3]), "maximize": st.booleans()})),
    st.tuples(st.just("adam"), st.fixed_dictionaries({
        "lr": st.floats(1e-4, 0.1), "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9),
                                                             (0.0, 0.99)]),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": st.sampled_from([0.0, 0.01]),
        "maximize": st.booleans()})),
)
OPTIMIZERS = {"sgd": (SGD, sgd_reference), "adam": (Adam, adam_reference)}


@given(setting=optimizer_settings, seed=st.integers(0, 2**16), n_steps=st.integers(1, 5))
def test_steps_follow_the_update_formulas(float64, setting, seed, n_steps):
    kind, kwargs = setting
    cls, reference = OPTIMIZERS[kind]
    rng = np.random.default_rng(seed)
    shapes = [(3, 2), (4,), ()]
    initial = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(n_steps)]
    params = [nn.Parameter(mg.tensor(a).data) for a in initial]
    run(cls(params, **kwargs), params, grads)
    for i, p in enumerate(params):
        expected = reference(initial[i], [step[i] for step in grads], **kwargs)
        assert p.shape == shapes[i]
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_ascent_raises_a_concave_objective_and_descent_lowers_a_convex_one(kind):
    """maximize=True is the discriminator's w ← w + α₁∇_w J; the default is θ ← θ − α₂∇_θ J."""
    cls = OPTIMIZERS[kind][0]
    target = mg.tensor(np.array([1.0, -2.0, 3.0], np.float32))

    def concave(w):  # J(w) = −Σ(w − a)², maximal at a
        return -((w - target) ** 2).sum()

    for maximize, objective, better in ((True, concave, np.greater),
                                        (False, lambda w: -concave(w), np.less)):
        w = nn.Parameter(mg.zeros(3).data)
        opt = cls([w], lr=0.05, maximize=maximize)
        values = [objective(w).item()]
        for _ in range(3):
            opt.zero_grad()
            objective(w).backward()
            opt.step()
            values.append(objective(w).item())
        assert all(better(b, a) for a, b in zip(values, values[1:])), (maximize, values)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_ascending_j_is_descending_minus_j(kind, weight_decay):
    """Bit for bit: without weight decay the ascent folds the gradient's sign into its
    passes instead of negating it (IEEE negation is exact, so the numbers are the same)."""
    cls = OPTIMIZERS[kind][0]
    rng = np.random.default_rng(1)
    start, a = rng.standard_normal(5), mg.tensor(rng.standard_normal(5).astype(np.float32))
    trajectories = []
    for maximize, sign in ((True, 1.0), (False, -1.0)):
        w = nn.Parameter(mg.tensor(start.astype(np.float32)).data)
        opt = cls([w], lr=0.1, weight_decay=weight_decay, maximize=maximize)
        for _ in range(4):
            opt.zero_grad()
            (sign * ((w - a) ** 3).sum()).backward()
            opt.step()
        trajectories.append(w.numpy())
    np.testing.assert_array_equal(*trajectories)
    assert not np.allclose(trajectories[0], start)


BLOCKED_CASES = [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "maximize": True}),
    ("Adam", {}), ("Adam", {"maximize": True}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1, "maximize": True}),
]


@pytest.fixture
def threads_by_size():
    """minigan's default thread rule for one test (conftest pins 1 thread for the suite), so
    that updates of many blocks share them out among threads."""
    tuning.auto_blas_threads()
    yield
    tuning.set_blas_threads(1)


@pytest.mark.parametrize("name, kwargs", BLOCKED_CASES)
def test_updates_in_blocks_are_the_whole_buffer_update(name, kwargs, monkeypatch,
                                                       threads_by_size):
    """A step runs over the flat buffer in cache-sized blocks, many blocks shared among
    threads: the same bits as one pass over it, on the whole-buffer path and the
    per-parameter one (a skipped parameter)."""
    rng = np.random.default_rng(3)
    shapes = [(50, 30), (701,), (3,)]
    initial = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(4)]
    results = []
    for block_bytes in (1 << 30, 1 << 10, 4):  # one block; 8 of 256 elements, on threads; 2204 of 1
        monkeypatch.setattr(mg.optim, "BLOCK_BYTES", block_bytes)
        params = [nn.Parameter(mg.tensor(a).data) for a in initial]
        opt = getattr(mg.optim, name)(params, **kwargs)
        for step, step_grads in enumerate(grads):
            opt.zero_grad()
            for i, (p, g) in enumerate(zip(params, step_grads)):
                if step == 2 and i == 1:
                    p.grad = None  # this step takes the per-parameter path
                    continue
                p.grad += to_device(g)
            opt.step()
        results.append([host(p.data).tobytes() for p in params]
                       + [host(v).tobytes() for v in opt.state_dict().values()
                          if hasattr(v, "dtype") and v.dtype.kind == "f"])
    assert results[0] == results[1] == results[2]


# --- PyTorch cross-checks -----------------------------------------------------------------

TORCH_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1}),
    ("Adam", {"lr": 0.02, "eps": 1e-3, "maximize": True}),
]


@pytest.mark.parametrize("name, kwargs", TORCH_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_optim(name, kwargs, dtype):
    """Including steps where one parameter has no gradient: both skip it, and its Adam step
    count falls behind the others'."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    initial = [rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)]
    ours = [nn.Parameter(mg.tensor(a).data) for a in initial]
    theirs = [torch.tensor(a, requires_grad=True) for a in initial]
    opt = getattr(mg.optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(6):
        grads = [rng.standard_normal(a.shape).astype(dtype) for a in initial]
        opt.zero_grad()
        topt.zero_grad()  # set_to_none
        for i, g in enumerate(grads):
            if step in (1, 2) and i == 1:
                ours[i].grad = None  # no gradient reached it
                continue
            ours[i].grad += to_device(g)
            theirs[i].grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            assert p.dtype == dtype
            tolerance = 2e-6 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=tolerance,
                                       atol=tolerance)


# --- skipped and rebound gradients ----------------------------------------------------


def test_a_parameter_without_gradient_is_skipped():
    a, b = nn.Parameter(mg.ones(2).data), nn.Parameter(mg.ones(3).data)
    frozen = nn.Parameter(mg.ones(2).data, requires_grad=False)
    opt = Adam([a, b, frozen], lr=0.1)
    opt.zero_grad()
    (a * 2.0).sum().backward()
    b.grad = None
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9, rtol=1e-6)  # Adam's first step: lr·sign(g)
    np.testing.assert_array_equal(b.numpy(), 1.0)
    np.testing.assert_array_equal(frozen.numpy(), 1.0)
    assert frozen.grad is None
    assert host(opt.state_dict()["step"]).tolist() == [1, 0, 0]
    opt.zero_grad()  # gives b its gradient back, zeroed
    assert b.grad is not None and not host(b.grad).any()


def test_rebound_arrays_are_adopted():
    """A .grad the engine allocated after someone set it to None, and a .data someone
    assigned, are copied into the flat buffers at the next step."""
    w = nn.Parameter(mg.zeros(3).data)
    other = nn.Parameter(mg.zeros(2).data)
    opt = SGD([w, other], lr=0.5)
    w.grad = None
    (w * mg.tensor([1.0, 2.0, 3.0])).sum().backward()  # the engine adopts a new array
    w.data = to_device(np.array([10.0, 10.0, 10.0], np.float32))
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [9.5, 9.0, 8.5])
    opt.zero_grad()
    (w.sum() + other.sum()).backward()
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [9.0, 8.5, 8.0])
    np.testing.assert_array_equal(other.numpy(), [-0.5, -0.5])
    w.data = w.data.astype(np.float64)
    with pytest.raises(RuntimeError, match="build the optimizer after"):
        opt.step()


def test_gradients_accumulate_into_the_flat_buffer_until_zero_grad():
    w = nn.Parameter(mg.zeros(2).data)
    opt = SGD([w], lr=1.0)
    for _ in range(2):
        (w * mg.tensor([1.0, -1.0])).sum().backward()
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [-2.0, 2.0])
    grad = w.grad
    opt.zero_grad()
    assert w.grad is grad and not host(grad).any()
    nn.Linear(1, 1).zero_grad()  # Module.zero_grad also zeroes in place
    model = nn.Linear(2, 1)
    opt = SGD(model.parameters(), lr=1.0)
    model(mg.tensor([[1.0, 1.0]])).sum().backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    assert [p.grad for p in model.parameters()] == grads
    before = [p.numpy().copy() for p in model.parameters()]
    opt.step()
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


# --- state_dict: resume bit for bit -------------------------------------------------------


def make_model():
    return nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.LeakyReLU(), nn.Linear(8, 1))


def train(model, opt, x, n_steps):
    for _ in range(n_steps):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


def snapshot(obj):
    """What a checkpoint file holds: host copies."""
    return {k: np.array(host(v)) if hasattr(v, "shape") else v
            for k, v in obj.state_dict().items()}


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: Adam(ps, lr=0.01, betas=(0.5, 0.99), weight_decay=0.01),
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, maximize=True),
])
def test_state_dict_resumes_bit_for_bit(make_optimizer):
    x = mg.tensor(np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32))
    model = make_model()
    opt = make_optimizer(model.parameters())
    train(model, opt, x, 3)
    model_state, opt_state = snapshot(model), snapshot(opt)
    train(model, opt, x, 4)
    expected = snapshot(model)

    mg.manual_seed(123)  # a different initialisation, overwritten by the load
    resumed = make_model()
    resumed_opt = make_optimizer(resumed.parameters())
    resumed_opt.lr = 99.0  # restored by the load
    resumed.load_state_dict(model_state)  # into the optimizer's flat buffer, in place
    resumed_opt.load_state_dict(opt_state)
    assert resumed_opt.lr == opt.lr
    train(resumed, resumed_opt, x, 4)
    for key, value in snapshot(resumed).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)
    for key, value in snapshot(resumed_opt).items():
        np.testing.assert_array_equal(value, snapshot(opt)[key], err_msg=key)


def test_the_flat_buffer_stays_shared_after_load_state_dict():
    model = nn.Linear(2, 2)
    opt = SGD(model.parameters(), lr=0.5)
    loaded = {"weight": np.full((2, 2), 3.0, np.float32), "bias": np.full(2, 3.0, np.float32)}
    model.load_state_dict(loaded)
    model(mg.tensor([[1.0, 1.0]])).sum().backward()  # every gradient is 1
    opt.step()
    for p in model.parameters():
        np.testing.assert_array_equal(p.numpy(), 2.5)  # stepped from the loaded values
    np.testing.assert_array_equal(host(model.state_dict()["weight"]), 2.5)


def test_optimizer_state_dict_errors():
    params = [nn.Parameter(mg.zeros(3).data), nn.Parameter(mg.zeros(2).data)]
    state = snapshot(Adam(params))
    other = Adam([nn.Parameter(mg.zeros(2).data), nn.Parameter(mg.zeros(3).data)])
    with pytest.raises(ValueError, match=r"sizes \[3, 2\].*\[2, 3\]"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match=r"missing keys \['exp_avg_sq'\]"):
        Adam(params).load_state_dict({k: v for k, v in state.items() if k != "exp_avg_sq"})
    with pytest.raises(ValueError, match="momentum_buffer"):
        SGD(params, lr=0.1).load_state_dict(snapshot(SGD(params, lr=0.1, momentum=0.9)))


# --- construction and dtype ---------------------------------------------------------------


def test_construction_errors():
    with pytest.raises(ValueError, match="empty"):
        Adam([])
    with pytest.raises(ValueError, match="same dtype"):
        SGD([nn.Parameter(mg.zeros(2).data), nn.Parameter(mg.zeros(2, dtype="float64").data)],
            lr=0.1)
    p = [nn.Parameter(mg.zeros(2).data)]
    for bad in ({"lr": -1.0}, {"betas": (0.9, 1.0)}, {"eps": -1e-8}, {"weight_decay": -0.1}):
        with pytest.raises(ValueError, match="invalid"):
            Adam(p, **bad)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_float32_stays_float32(kind):
    model = make_model()
    opt = OPTIMIZERS[kind][0](model.parameters(), lr=0.1, weight_decay=0.1, maximize=True)
    train(model, opt, mg.tensor(np.ones((4, 3), np.float32)), 2)
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32
               for p in model.parameters())
    assert all(v.dtype == np.float32 for v in opt.state_dict().values()
               if hasattr(v, "dtype") and v.dtype.kind == "f")


def test_shared_parameters_are_stepped_once():
    w = nn.Parameter(mg.zeros(2).data)
    opt = SGD([w, w], lr=1.0)
    (w * mg.tensor([1.0, 2.0])).sum().backward()
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [-1.0, -2.0])
