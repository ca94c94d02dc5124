"""What ``benchmarks/run.py`` times: for each case, each peer's step, built inside that
peer's own worker process.

A peer is one library configuration: ``minigan`` (the library with its defaults),
``minigan-command`` (the ring as ``python -m minigan.train`` runs it, process tuning
included), ``torch-1`` and ``torch-N`` (PyTorch CPU at 1 and at every core's thread;
``torch-cuda`` on the GPU), ``gemm`` (only the matrix products of minigan's step, at the
same shapes and memory layouts, by NumPy or CuPy: the practical limit) and, for the per-op
overhead, ``numpy`` (the same arithmetic by hand). ``build`` returns the peer's timers:
name -> a function doing one step.

The models:

    ring       the training command's default run: G 2 -> 128 -> 128 -> 2 (ReLU), V 4 -> 128
               -> 128 -> 1 (LeakyReLU 0.2, PacGAN pack 2), B1 = B2 = 256, K = 1, GAN
               divergence, non-saturating loss, Adam(1e-3, (0.5, 0.999)), statistics every
               10th step (the command's --log-every)
    mlp        a user's own MLP GAN script on the public API: G noise -> w -> w -> d, V d ->
               w -> w -> 1, LeakyReLU 0.2, batch b, Adam(2e-4, (0.5, 0.999)) (the critic
               ascending J), K = 1, both losses read as floats every step; small: noise 64,
               w 128, d 2, b 512; wide: noise 64, w 1024, d 784, b 256
    dcgan      the DCGAN of minigan.models at 1x28x28, noise 64, batch 64, K = 1, Adam(2e-4),
               synthetic "real" images
"""

from __future__ import annotations

import atexit
import collections
import inspect
import os
import shutil
import tempfile

import numpy as np

RING = {"noise": 2, "width": 128, "data": 2, "batch": 256, "pack": 2, "lr": 1e-3}
DCGAN = {"noise": 64, "batch": 64, "lr": 2e-4, "shape": (1, 28, 28)}
MLP_SMALL = {"noise": 64, "width": 128, "data": 2, "batch": 512}
MLP_WIDE = {"noise": 64, "width": 1024, "data": 784, "batch": 256}
LOG_EVERY = 10  # the command's default --log-every: statistics on every 10th step
BETAS = (0.5, 0.999)


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# --- minigan ------------------------------------------------------------------------------


def minigan_backend(backend):
    """minigan on ``backend`` (None: leave the array module as it is, as record_step needs)."""
    import minigan as mg

    if backend is not None:
        mg.set_backend(backend)
    return mg


def minigan_vdm(model, params, backend):
    """VDMTrainer.step for the ring or the DCGAN (``params`` overriding RING or DCGAN), built
    with the public API as ``minigan.train`` builds it, without touching the process (no
    tuning calls)."""
    mg = minigan_backend(backend)
    from minigan import backend as B
    from minigan import data, gan, models, optim

    mg.manual_seed(0)
    if model == "ring":
        c, shape = {**RING, **params}, (2,)
        generator = models.generator(shape, c["noise"], c["width"], 2, "mlp")
        critic = models.critic(shape, c["width"], 2, c["pack"])
        ring = data.get("ring")
        sample_real = ring.batch
    else:
        c = {**DCGAN, **params}
        shape = tuple(c["shape"])
        generator = models.generator(shape, c["noise"], kind="dcgan")
        critic = models.critic(shape)

        def sample_real(n):
            host = B.generator().uniform(-1, 1, (n, *shape)).astype(np.float32)
            return mg.Tensor(B.to_device(host))
    opt_g = optim.Adam(generator.parameters(), c["lr"], betas=BETAS)
    opt_d = optim.Adam(critic.parameters(), c["lr"], betas=BETAS, maximize=True)
    noise = c["noise"]
    trainer = gan.VDMTrainer(
        generator, critic, "gan", opt_g, opt_d, sample_real=sample_real,
        sample_noise=lambda n: mg.Tensor(B.randn(n, noise)), d_steps=1,
        batch_real=c["batch"], batch_fake=c["batch"], pack=c.get("pack", 1))
    count = [0]

    def step():
        count[0] += 1
        return trainer.step(statistics=count[0] % LOG_EVERY == 0)

    return step


def minigan_command(backend):
    """The ring step of ``python -m minigan.train`` itself: the run its argument parser
    builds, begun as the command begins it (BLAS threads and malloc tuning included), one
    ``Run.train_step`` per step (the log line every 10th step). Never reaches its end."""
    from minigan import train

    out = tempfile.mkdtemp(prefix="minigan-bench-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    big = str(10 ** 9)
    run = train.prepare(["--backend", backend, "--steps", big, "--checkpoint-every", big,
                         "--snapshots", "1", "--no-plots", "--no-progress", "--out", out])
    run.make_folder()
    run.begin()
    log = open(os.path.join(out, "metrics.jsonl"), "a")  # open for the worker's lifetime
    count = [0]

    def step():
        run.train_step(count[0], log, None)
        count[0] += 1

    return step


def minigan_mlp(spec, backend):
    """A user's MLP GAN training script, on minigan's public API and defaults."""
    mg = minigan_backend(backend)
    import minigan.functional as F
    from minigan import nn, optim

    mg.manual_seed(0)
    return mlp_gan_step(spec, nn, optim.Adam, F.log_sigmoid, F.softplus, mg.no_grad,
                        lambda a: mg.tensor(a), lambda *s: mg.randn(*s))


def mlp_gan_step(spec, nn, adam, log_sigmoid, softplus, no_grad, tensor, randn):
    """The same script for both libraries (their APIs agree but for these names)."""
    noise, width, dim, batch = spec["noise"], spec["width"], spec["data"], spec["batch"]
    generator = nn.Sequential(nn.Linear(noise, width), nn.LeakyReLU(0.2),
                              nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, dim))
    critic = nn.Sequential(nn.Linear(dim, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                           nn.LeakyReLU(0.2), nn.Linear(width, 1))
    opt_g = adam(generator.parameters(), 2e-4, betas=BETAS)
    opt_d = adam(critic.parameters(), 2e-4, betas=BETAS, maximize=True)
    rng = np.random.default_rng(0)

    def step():
        x = tensor(rng.standard_normal((batch, dim), dtype=np.float32))
        with no_grad():
            fake = generator(randn(batch, noise))
        J = log_sigmoid(critic(x)).mean() - softplus(critic(fake)).mean()
        opt_d.zero_grad()
        J.backward()
        opt_d.step()
        loss_g = -log_sigmoid(critic(generator(randn(batch, noise)))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return J.item(), loss_g.item()

    return step


# --- PyTorch ------------------------------------------------------------------------------


def torch_setup(peer):
    import torch

    if peer == "torch-cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("PyTorch has no CUDA device here (torch.cuda.is_available() "
                               "is False)")
        return torch, "cuda"
    torch.set_num_threads(1 if peer == "torch-1" else cores())
    return torch, "cpu"


def torch_mlp(spec, peer):
    torch, device = torch_setup(peer)
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(0)
    with torch.device(device):
        return mlp_gan_step(spec, nn, torch.optim.Adam, F.logsigmoid, F.softplus,
                            torch.no_grad, lambda a: torch.from_numpy(a).to(device),
                            lambda *s: torch.randn(*s, device=device))


def torch_noise_code(nn, k):
    """``minigan.models.NoiseCode`` in PyTorch: z -> (z, one_hot(argmax(z_1..z_k)))."""
    import torch

    class NoiseCode(nn.Module):
        def forward(self, z):
            code = nn.functional.one_hot(z[:, :k].argmax(dim=1), k).to(z.dtype)
            return torch.cat([z, code], dim=1)

    return NoiseCode()


def torch_dcgan(nn, noise, g_width=64, d_width=64, pack=1, fc_width=0, noise_code=0):
    """minigan.models' DCGAN for 1x28x28 in PyTorch, layer for layer: (generator, critic),
    the critic reading ``pack`` images stacked on the channel axis, each network with its
    hidden Linear of ``fc_width`` units and the generator with its ``noise_code``-way code
    where those are not 0, with PyTorch's default initialisation (``dcgan_init_`` gives
    minigan's)."""
    g, d, u, k = g_width, d_width, fc_width, noise_code
    projection = [nn.Linear(noise + k, 2 * g * 7 * 7)]
    if u:
        projection = [nn.Linear(noise + k, u), nn.BatchNorm1d(u), nn.ReLU(),
                      nn.Linear(u, 2 * g * 7 * 7)]
    if k:
        projection.insert(0, torch_noise_code(nn, k))
    generator = nn.Sequential(
        *projection, nn.Unflatten(1, (2 * g, 7, 7)),
        nn.BatchNorm2d(2 * g), nn.ReLU(),
        nn.ConvTranspose2d(2 * g, g, 4, stride=2, padding=1), nn.BatchNorm2d(g),
        nn.ReLU(), nn.ConvTranspose2d(g, 1, 4, stride=2, padding=1), nn.Tanh())
    head = [nn.Linear(2 * d * 7 * 7, 1)]
    if u:
        head = [nn.Linear(2 * d * 7 * 7, u), nn.LeakyReLU(0.2), nn.Linear(u, 1)]
    critic = nn.Sequential(
        nn.Conv2d(pack, d, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(d, 2 * d, 4, stride=2, padding=1), nn.BatchNorm2d(2 * d),
        nn.LeakyReLU(0.2), nn.Flatten(), *head)
    return generator, critic


def packed_critic(critic, m):
    """V(x) = critic(pack(x, m)) flattened, as ``VDMTrainer.V``: m consecutive samples
    concatenated on axis 1 (``minigan.gan.pack``), one logit per packed input."""

    def V(x):
        return critic(x.reshape(x.shape[0] // m, x.shape[1] * m, *x.shape[2:])).reshape(-1)

    return V


def dcgan_init_(nn, module, std=0.02):
    """minigan's ``nn.init_dcgan_`` on a PyTorch module: Linear and (transposed) convolution
    weights ~ N(0, std²), BatchNorm weights ~ N(1, std²), all biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
        else:
            continue
        nn.init.zeros_(m.bias)
    return module


def torch_vdm(model, params, peer):
    """The ring or DCGAN iteration in PyTorch, layer for layer, loss for loss and statistic
    for statistic as minigan's VDMTrainer (GAN divergence: g_f(v) = log σ(v), f*(g_f(v)) =
    softplus(v); the critic held fixed in the generator's step)."""
    torch, device = torch_setup(peer)
    from torch import nn
    from torch.nn import functional as F

    from minigan import data

    torch.manual_seed(0)
    c = {**(RING if model == "ring" else DCGAN), **params}
    with torch.device(device):
        if model == "ring":
            h = c["width"]
            generator = nn.Sequential(nn.Linear(c["noise"], h), nn.ReLU(), nn.Linear(h, h),
                                      nn.ReLU(), nn.Linear(h, 2))
            critic = nn.Sequential(nn.Linear(2 * c["pack"], h), nn.LeakyReLU(0.2),
                                   nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1))
        else:
            generator, critic = torch_dcgan(nn, c["noise"])
    opt_g = torch.optim.Adam(generator.parameters(), c["lr"], betas=BETAS)
    opt_d = torch.optim.Adam(critic.parameters(), c["lr"], betas=BETAS, maximize=True)
    m, batch, noise = c.get("pack", 1), c["batch"], c["noise"]
    rng = np.random.default_rng(0)
    if model == "ring":
        def sample(n):
            return data.ring(n, rng).astype(np.float32)
    else:
        def sample(n):
            return rng.uniform(-1, 1, (n, *c["shape"])).astype(np.float32)

    V = packed_critic(critic, m)

    def grad_norm(params):
        return torch.sqrt(sum(torch.vdot(p.grad.ravel(), p.grad.ravel()) for p in params))

    count = [0]

    def step():
        count[0] += 1
        x = torch.from_numpy(sample(batch)).to(device)
        with torch.no_grad():
            x_hat = generator(torch.randn(batch, noise, device=device))
        if model == "ring":  # an MLP critic is samplewise: minigan reads both in one call
            v = V(torch.cat([x, x_hat]))
            v_real, v_fake = v[:batch // m], v[batch // m:]
        else:
            v_real, v_fake = V(x), V(x_hat)
        J = F.logsigmoid(v_real).mean() - F.softplus(v_fake).mean()
        opt_d.zero_grad()
        J.backward()
        opt_d.step()
        z = torch.randn(batch, noise, device=device)
        opt_g.zero_grad()
        critic.requires_grad_(False)
        loss_g = -F.logsigmoid(V(generator(z))).mean()
        loss_g.backward()
        critic.requires_grad_(True)
        opt_g.step()
        stats = {"objective": J.item(), "loss_g": loss_g.item()}
        if count[0] % LOG_EVERY == 0:
            with torch.no_grad():
                extra = {"d_real": torch.sigmoid(v_real).mean(),
                         "d_fake": torch.sigmoid(v_fake).mean(),
                         "t_real": F.logsigmoid(v_real).mean(),
                         "t_fake": F.logsigmoid(v_fake).mean(),
                         "grad_norm_d": grad_norm(critic.parameters()),
                         "grad_norm_g": grad_norm(generator.parameters())}
            stats.update({k: v.item() for k, v in extra.items()})
        return stats

    return step


# --- recording minigan's products and array calls ----------------------------------------


class Recorder:
    """What one step of minigan asks of its array module: every call by name (each would be
    one kernel launch under CuPy: element-wise ops, reductions, products, copies, fills;
    views and allocations are not counted), host-to-device transfers, and every matrix
    product with its shapes and memory layouts."""

    PRODUCTS = {"dot", "matmul"}
    NOT_KERNELS = {"reshape", "transpose", "swapaxes", "broadcast_to", "expand_dims",
                   "squeeze", "moveaxis", "empty_like", "shape", "ndim", "result_type",
                   "may_share_memory", "shares_memory", "can_cast", "iscomplexobj",
                   "broadcast_shapes", "atleast_1d", "atleast_2d", "ravel"}

    def __init__(self):
        self.calls = collections.Counter()
        self.sites = collections.Counter()  # "minigan module.function" -> calls made there
        self.products = []
        self.transfers = 0
        self.depth = 0
        self.active = False

    def call(self, name, args=()):
        if not self.active or self.depth:
            return
        if name not in self.NOT_KERNELS:
            self.calls[name] += 1
            self.sites[site()] += 1
        if name in self.PRODUCTS and len(args) >= 2:
            a, b = np.asarray(args[0]), np.asarray(args[1])
            if a.ndim >= 1 and b.ndim >= 1 and a.ndim + b.ndim >= 3:
                self.products.append({"fn": name, "a": list(a.shape), "b": list(b.shape),
                                      "a_layout": layout(a), "b_layout": layout(b),
                                      "dtype": str(a.dtype)})


def site():
    """The innermost minigan function on the call stack, as 'module.function'."""
    frame = inspect.currentframe()
    while frame is not None:
        path = frame.f_code.co_filename
        if f"{os.sep}minigan{os.sep}" in path:
            module = os.path.splitext(os.path.basename(path))[0]
            return f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "outside minigan"


def layout(a):
    """'C' (row-major), 'T' (a transposed row-major matrix) or 'copy' (anything else)."""
    if a.flags.c_contiguous:
        return "C"
    if a.ndim == 2 and a.flags.f_contiguous:
        return "T"
    return "copy"


RECORDER = Recorder()


def plain(x):
    return x.view(np.ndarray) if isinstance(x, Counted) else x


def counted(x):
    if isinstance(x, np.ndarray) and not isinstance(x, Counted):
        return x.view(Counted)
    if isinstance(x, tuple):
        return tuple(counted(item) for item in x)
    return x


class Counted(np.ndarray):
    """An array that reports every ufunc and NumPy function applied to it to RECORDER."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        RECORDER.call(name, inputs)
        RECORDER.depth += 1
        try:
            if out is not None:
                kwargs["out"] = tuple(plain(o) for o in out)
            result = getattr(ufunc, method)(*(plain(x) for x in inputs), **kwargs)
        finally:
            RECORDER.depth -= 1
        if out is not None:
            return out[0] if len(out) == 1 else out
        return counted(result)

    def __array_function__(self, func, types, args, kwargs):
        RECORDER.call(func.__name__, args)
        RECORDER.depth += 1
        try:
            result = super().__array_function__(func, types, args, kwargs)
        finally:
            RECORDER.depth -= 1
        return counted(result)

    def copy(self, *args, **kwargs):
        RECORDER.call("copy")
        return super().copy(*args, **kwargs)

    def astype(self, dtype, *args, **kwargs):
        RECORDER.call("astype")
        return super().astype(dtype, *args, **kwargs)

    def fill(self, value):
        RECORDER.call("fill")
        return super().fill(value)

    def __setitem__(self, index, value):
        RECORDER.call("setitem")
        return super().__setitem__(index, plain(value))

    def item(self, *args):
        RECORDER.call("item (a host sync)")
        return super().item(*args)


class CountingNumpy:
    """NumPy whose array constructors return Counted arrays (so the whole graph is
    Counted), standing in for ``backend.xp`` while a step is recorded."""

    CONSTRUCTORS = {"empty", "zeros", "ones", "full", "array", "asarray", "ascontiguousarray",
                    "arange", "eye", "linspace"}
    KERNELS = {"zeros": "zeros", "ones": "ones", "full": "full",
               "ascontiguousarray": "ascontiguousarray"}

    def __getattr__(self, name):
        attribute = getattr(np, name)
        if name not in self.CONSTRUCTORS:
            return attribute

        def construct(*args, **kwargs):
            source = args[0] if args else None
            if name in ("array", "asarray") and not isinstance(source, Counted):
                if RECORDER.active and not RECORDER.depth:
                    RECORDER.transfers += 1  # host data (or a Python number) to the device
            elif name in self.KERNELS:
                RECORDER.call(self.KERNELS[name])
            RECORDER.depth += 1
            try:
                result = attribute(*(plain(a) for a in args), **kwargs)
            finally:
                RECORDER.depth -= 1
            return counted(result)

        return construct


def record_step(build):
    """(products, calls, transfers) of one step of ``build()``'s step on the numpy backend,
    after two unrecorded steps (which create any lazily built state). The optimizers update
    in one block, as on a GPU, so that the calls are the kernel launches CuPy would make."""
    from minigan import backend as B
    from minigan import optim

    saved, saved_block = B.xp, optim.BLOCK_BYTES
    B.xp, optim.BLOCK_BYTES = CountingNumpy(), 1 << 62
    try:
        step = build()
        step()
        step()
        RECORDER.__init__()
        RECORDER.active = True
        step()
        RECORDER.active = False
    finally:
        B.xp, optim.BLOCK_BYTES = saved, saved_block
    return (RECORDER.products, dict(RECORDER.calls.most_common()), RECORDER.transfers,
            dict(RECORDER.sites.most_common()))


def replay(products, xp, threads=None):
    """A function doing only the recorded products, by ``xp`` (NumPy or CuPy), on arrays of
    the recorded shapes and layouts; with NumPy at ``threads`` OpenBLAS threads, or
    (``threads='auto'``) at the count minigan's size rule picks for each."""
    from minigan import tuning

    rng = np.random.default_rng(0)

    def make(shape, kind, dtype):
        if kind == "T":
            host = rng.standard_normal(shape[::-1]).astype(dtype)
            return xp.asarray(host).T
        return xp.asarray(rng.standard_normal(shape).astype(dtype))

    calls = []
    for p in products:
        a, b = make(p["a"], p["a_layout"], p["dtype"]), make(p["b"], p["b_layout"], p["dtype"])
        work = max(int(np.prod(p["a"])) * (p["b"][-1] if len(p["b"]) > 1 else 1),
                   int(np.prod(p["b"])) * (p["a"][-2] if len(p["a"]) > 1 else 1))
        calls.append((getattr(xp, p["fn"]), a, b, work))

    def run():
        if threads == "auto":
            tuning.auto_blas_threads()
            for fn, a, b, work in calls:
                tuning.fit_blas_threads(work)
                fn(a, b)
            return
        if threads is not None:
            tuning.set_blas_threads(threads)
        for fn, a, b, _ in calls:
            fn(a, b)

    return run


# --- the cases ----------------------------------------------------------------------------


def case_builder(case, spec, backend):
    """The library-default minigan step of ``case`` (what the gemm peer records)."""
    if case in ("ring", "dcgan"):
        return lambda: minigan_vdm(case, spec, backend)
    return lambda: minigan_mlp(spec, backend)


def build(case, peer, spec, backend):
    """(timers, info) of ``peer`` in ``case``: timers maps a name to a function doing one
    step; info is what the peer reports about itself (products, array calls)."""
    info = {}
    if case == "overhead":
        return overhead_timers(peer, spec, backend), info
    if peer == "gemm":
        products, calls, transfers, sites = record_step(case_builder(case, spec, None))
        from minigan import tuning

        tuning.default_freed_memory()  # as minigan's own process has it (its first optimizer)
        info = {"products": len(products), "array_calls_per_step": sum(calls.values()),
                "host_to_device_per_step": transfers, "calls": calls, "sites": sites}
        if backend == "cupy":
            import cupy

            return {"cupy": replay(products, cupy)}, info
        many = cores()
        timers = {"1 thread": replay(products, np, 1), "auto": replay(products, np, "auto")}
        if many > 1:
            timers[f"{many} threads"] = replay(products, np, many)
        return timers, info
    if peer == "minigan-command":
        return {"step": minigan_command(backend)}, info
    if peer == "minigan":
        return {"step": case_builder(case, spec, backend)()}, info
    if case in ("ring", "dcgan"):
        return {"step": torch_vdm(case, spec, peer)}, info
    return {"step": torch_mlp(spec, peer)}, info


def worker_build(spec):
    """What a worker process times: (timers, info, synchronize) for its spec."""
    timers, info = build(spec["model"], spec["peer"], spec["params"], spec["backend"])
    return timers, info, synchronizer(spec["peer"], spec["backend"])


def overhead_timers(peer, spec, backend):
    """forward+backward of a*b and a@b on n x n float32 (overhead.py's peers)."""
    import overhead

    n = spec["size"]
    rng = np.random.default_rng(0)
    a, b, g = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(3))
    if peer.startswith("torch"):
        torch, device = torch_setup(peer)
        elementwise, matmul = overhead.torch_peer(a, b, g, device=device)
    elif peer == "minigan":
        mg = minigan_backend(backend)
        elementwise, matmul = overhead.minigan_peer(*(mg.backend.to_device(x) for x in (a, b, g)))
    else:
        xp = np
        if backend == "cupy":
            import cupy as xp
        elementwise, matmul = overhead.numpy_peer(*(xp.asarray(x) for x in (a, b, g)))
    return {"elementwise a*b": elementwise, "matmul a@b": matmul}


def synchronizer(peer, backend):
    """A function that waits for the device (a no-op on the CPU)."""
    if backend != "cupy":
        return lambda: None
    if peer.startswith("torch"):
        import torch

        return torch.cuda.synchronize
    import cupy

    return cupy.cuda.Device().synchronize
