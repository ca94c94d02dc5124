"""conv2d and conv_transpose2d: values against direct loop references (and PyTorch when
installed), finite-difference gradients, shape errors, and checks that a wrong backward
is caught."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan import conv as C
from minigan import unfold as U
from minigan.backend import to_numpy as host
from minigan.testing import check_module_gradients

# --- direct references: one output (or input) pixel at a time, no im2col ----------------


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def reference_pads(padding, kernel, dilation):
    """((top, bottom), (left, right)); "same" pads d(k − 1) per axis, the odd one after."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                     for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in pair(padding))


def reference_conv2d(x, w, b, stride, padding, dilation=1, groups=1):
    """y[n, o, i, j] = Σ_{c, di, dj} x_pad[n, c_o + c, i·sh + di·dh, j·sw + dj·dw] w[o, c, di, dj]
    + b[o], c_o the first input channel of o's group; an unbatched x is one sample."""
    if x.ndim == 3:
        return reference_conv2d(x[None], w, b, stride, padding, dilation, groups)[0]
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    n, _, h, width = x.shape
    o, c_group, kh, kw = w.shape
    (pt, pb), (pl, pr) = reference_pads(padding, (kh, kw), (dh, dw))
    padded = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (width + pl + pr - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    o_group = o // groups
    for g in range(groups):
        channels = slice(g * c_group, (g + 1) * c_group)
        outs = slice(g * o_group, (g + 1) * o_group)
        for i in range(ho):
            for j in range(wo):
                patch = padded[:, channels, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                               j * sw:j * sw + dw * (kw - 1) + 1:dw]
                y[:, outs, i, j] = np.tensordot(patch, w[outs], axes=([1, 2, 3], [1, 2, 3]))
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def reference_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation=1, groups=1):
    """Each input pixel x[n, :, i, j] scatters x·w into the (dilated) window at (i·sh, j·sw)
    of the uncropped output, group by group; the output is that canvas cropped by the
    padding."""
    if x.ndim == 3:
        return reference_conv_transpose2d(x[None], w, b, stride, padding, output_padding,
                                          dilation, groups)[0]
    (sh, sw), (ph, pw), (oh, ow) = pair(stride), pair(padding), pair(output_padding)
    dh, dw = pair(dilation)
    n, c_in, h, width = x.shape
    _, o_group, kh, kw = w.shape
    c_group = c_in // groups
    canvas = np.zeros((n, o_group * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oh,
                       (width - 1) * sw + dw * (kw - 1) + 1 + ow))
    for g in range(groups):
        channels = slice(g * c_group, (g + 1) * c_group)
        outs = slice(g * o_group, (g + 1) * o_group)
        for i in range(h):
            for j in range(width):
                canvas[:, outs, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                       j * sw:j * sw + dw * (kw - 1) + 1:dw] += np.tensordot(
                    x[:, channels, i, j], w[channels], axes=([1], [0]))
    out_h, out_w = canvas.shape[2] - 2 * ph, canvas.shape[3] - 2 * pw
    y = canvas[:, :, ph:ph + out_h, pw:pw + out_w]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# --- strategies -------------------------------------------------------------------------


def int_orpair(low, high):
    return st.one_of(st.integers(low, high), st.tuples(st.integers(low, high),
                                                       st.integers(low, high)))


@st.composite
def conv_cases(draw, transposed=False, extended=True):
    """Random small convolution settings and float64 host arrays x, w, b (b may be None).
    ``extended`` also draws dilation, groups, "same"/"valid" padding and unbatched inputs."""
    stride, padding = draw(int_orpair(1, 3)), draw(int_orpair(0, 2))
    dilation, groups, unbatched = 1, 1, False
    if extended:
        dilation, groups = draw(int_orpair(1, 3)), draw(st.integers(1, 3))
        unbatched = draw(st.booleans())
        if not transposed:
            padding = draw(st.sampled_from([padding, "valid"] + ["same"] * (stride == 1)))
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n = 1 if unbatched else draw(st.integers(1, 3))
    c_in, c_out = (groups * draw(st.integers(1, 2 if groups > 1 else 3)) for _ in range(2))
    case = {"stride": stride, "padding": padding}
    if extended:
        case.update(dilation=dilation, groups=groups)
    if transposed:
        output_padding = draw(st.tuples(st.integers(0, max(sh, dh) - 1),
                                        st.integers(0, max(sw, dw) - 1)))
        case["output_padding"] = output_padding
        (ph, pw) = pair(padding)
        h, width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        assume((h - 1) * sh - 2 * ph + dh * (kh - 1) + output_padding[0] >= 0)
        assume((width - 1) * sw - 2 * pw + dw * (kw - 1) + output_padding[1] >= 0)
        w_shape = (c_in, c_out // groups, kh, kw)
    else:
        (pt, pb), (pl, pr) = reference_pads(padding, (kh, kw), (dh, dw))
        low_h, low_w = dh * (kh - 1) + 1 - pt - pb, dw * (kw - 1) + 1 - pl - pr
        h = draw(st.integers(max(1, low_h), max(1, low_h) + 4))
        width = draw(st.integers(max(1, low_w), max(1, low_w) + 4))
        w_shape = (c_out, c_in // groups, kh, kw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((c_in, h, width) if unbatched else (n, c_in, h, width))
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(c_out) if draw(st.booleans()) else None
    return x, w, b, case


def as_tensors(x, w, b):
    return [mg.tensor(a, requires_grad=True) for a in ((x, w) if b is None else (x, w, b))]


def conv(tensors, case, transposed):
    x, w, *b = tensors
    op = F.conv_transpose2d if transposed else F.conv2d
    return op(x, w, b[0] if b else None, **case)


def reference(x, w, b, case, transposed):
    if transposed:
        return reference_conv_transpose2d(x, w, b, **case)
    return reference_conv2d(x, w, b, **case)


# --- values and gradients ---------------------------------------------------------------


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_matches_the_loop_reference(float64, transposed, data):
    x, w, b, case = data.draw(conv_cases(transposed))
    y = conv(as_tensors(x, w, b), case, transposed)
    expected = reference(x, w, b, case, transposed)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_gradients_match_finite_differences(float64, transposed, data):
    x, w, b, case = data.draw(conv_cases(transposed))
    assert mg.gradcheck(lambda *t: conv(t, case, transposed), as_tensors(x, w, b))


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_values_and_gradients_match_pytorch(float64, torch, transposed, data):
    x, w, b, case = data.draw(conv_cases(transposed))
    ours = as_tensors(x, w, b)
    theirs = [torch.tensor(a, requires_grad=True) for a in ((x, w) if b is None else (x, w, b))]
    y = conv(ours, case, transposed)
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    y_torch = op(theirs[0], theirs[1], theirs[2] if b is not None else None, **case)
    np.testing.assert_allclose(y.numpy(), y_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
    cotangent = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(mg.tensor(cotangent))
    y_torch.backward(torch.tensor(cotangent))
    for mine, reference_tensor in zip(ours, theirs):
        np.testing.assert_allclose(host(mine.grad), reference_tensor.grad.numpy(),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dcgan_shapes_keep_the_dtype(dtype):
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((2, 1, 28, 28)).astype(dtype), requires_grad=True)
    w1 = mg.tensor(rng.standard_normal((8, 1, 4, 4)).astype(dtype), requires_grad=True)
    w2 = mg.tensor(rng.standard_normal((8, 3, 4, 4)).astype(dtype), requires_grad=True)
    b2 = mg.tensor(rng.standard_normal(3).astype(dtype), requires_grad=True)
    h = F.conv2d(x, w1, stride=2, padding=1)
    assert h.shape == (2, 8, 14, 14)
    y = F.conv_transpose2d(h, w2, b2, stride=2, padding=1)
    assert y.shape == (2, 3, 28, 28)
    y.sum().backward()
    assert y.dtype == dtype
    for t in (x, w1, w2, b2):
        assert t.grad.dtype == dtype and t.grad.shape == t.shape
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    expected = reference_conv_transpose2d(
        reference_conv2d(x.numpy().astype(np.float64), w1.numpy().astype(np.float64), None,
                         2, 1),
        w2.numpy().astype(np.float64), b2.numpy().astype(np.float64), 2, 1, 0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("padding", [0, 1])
def test_non_contiguous_inputs_and_broadcast_gradients(float64, transposed, padding):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((3, 2, 3, 2) if transposed else (2, 3, 3, 2))
    case = {"stride": (2, 1), "padding": padding}
    if transposed:
        case["output_padding"] = (1, 0)
    base = mg.tensor(x.transpose(0, 1, 3, 2).copy(), requires_grad=True)
    weight = mg.tensor(w, requires_grad=True)
    # base.transpose(...) has x's values in non-contiguous data
    y = conv([base.transpose(0, 1, 3, 2), weight], case, transposed)
    np.testing.assert_allclose(y.numpy(), reference(x, w, None, case, transposed), rtol=1e-12)
    y.sum().backward()  # the output gradient arrives as a zero-stride broadcast view
    grads = host(base.grad).copy(), host(weight.grad).copy()
    base.grad = weight.grad = None
    conv([base.transpose(0, 1, 3, 2), weight], case, transposed).backward(np.ones(y.shape))
    np.testing.assert_allclose(grads[0], host(base.grad), rtol=1e-12)
    np.testing.assert_allclose(grads[1], host(weight.grad), rtol=1e-12)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_one_node_with_fused_bias_and_no_unneeded_gradients(transposed):
    rng = np.random.default_rng(3)
    x = mg.tensor(rng.standard_normal((2, 3, 5, 5)))  # data: needs no gradient
    w = mg.tensor(rng.standard_normal((3, 4, 3, 3)), requires_grad=True)
    b = mg.tensor(rng.standard_normal(4), requires_grad=True)
    op = F.conv_transpose2d if transposed else F.conv2d
    y = op(x, w if transposed else w.transpose(1, 0, 2, 3), b, stride=2, padding=1)
    assert y.requires_grad and len(y._parents) == 3
    assert y._parents[0] is x and y._parents[2] is b
    y.sum().backward()
    assert x.grad is None and w.grad is not None
    np.testing.assert_allclose(host(b.grad), np.full(4, y.shape[0] * y.shape[2] * y.shape[3]),
                               rtol=1e-6)
    with mg.no_grad():
        assert not op(x, w if transposed else w.transpose(1, 0, 2, 3), b).requires_grad


@pytest.mark.parametrize("method", ["conv_transpose_phases", "conv_transpose_columns"])
@given(data=st.data())
def test_the_transposed_convolution_is_the_adjoint_of_im2col(float64, method, data):
    """<W · im2col(x), g> = <x, conv_transpose(g, W)> for every geometry (groups,
    dilation and uneven "same" padding included), by sub-pixel phases and by col2im: what
    makes each conv's forward the other's input gradient."""
    x, w, _, case = data.draw(conv_cases())
    x = x if x.ndim == 4 else x[None]
    kernel, stride, dilation = w.shape[2:], pair(case["stride"]), pair(case["dilation"])
    groups, pads = case["groups"], reference_pads(case["padding"], kernel, dilation)
    out = tuple((side + sum(p) - d * (k - 1) - 1) // s + 1
                for side, p, k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation))
    cols = host(U.im2col(mg.backend.to_device(x), kernel, stride, pads, out, dilation))
    assert cols.shape == (x.shape[1] * kernel[0] * kernel[1], out[0] * out[1] * x.shape[0])
    # per group: (O/G, C/G·kh·kw) @ (C/G·kh·kw, Ho·Wo·N)
    y = np.einsum("gok,gkl->gol", w.reshape(groups, w.shape[0] // groups, -1),
                  cols.reshape(groups, cols.shape[0] // groups, -1)).reshape(w.shape[0], -1)
    g = np.random.default_rng(x.size).standard_normal(y.shape)
    g_nchw = g.reshape(w.shape[0], *out, x.shape[0]).transpose(3, 0, 1, 2)
    back = host(getattr(U, method)(mg.backend.to_device(g_nchw), mg.backend.to_device(w),
                                   stride, (pads[0][0], pads[1][0]), dilation, groups,
                                   x.shape[2:]))
    assert back.shape == x.shape
    np.testing.assert_allclose(float((y * g).sum()), float((x * back).sum()), rtol=1e-10)


@given(data=st.data())
def test_col2im_is_the_adjoint_of_im2col(float64, data):
    x, w, _, case = data.draw(conv_cases())
    x = x if x.ndim == 4 else x[None]
    kernel, stride, dilation = w.shape[2:], pair(case["stride"]), pair(case["dilation"])
    pads = reference_pads(case["padding"], kernel, dilation)
    out = tuple((side + sum(p) - d * (k - 1) - 1) // s + 1
                for side, p, k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation))
    xd = mg.backend.to_device(x)
    cols = U.im2col(xd, kernel, stride, pads, out, dilation)
    c = mg.backend.to_device(np.random.default_rng(x.size).standard_normal(cols.shape))
    back = U.col2im(c, x.shape, kernel, stride, pads, dilation=dilation, out_size=out)
    assert back.shape == x.shape
    np.testing.assert_allclose(float((cols * c).sum()), float((xd * back).sum()), rtol=1e-10)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("c_in, c_out", [(8, 1), (1, 8), (6, 6)])
def test_both_transposed_methods_run_inside_the_ops(float64, transposed, c_in, c_out):
    """Thin and wide layers take different methods for the transposed direction; each
    matches PyTorch's numbers where installed, the loop reference otherwise."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, c_in, 5, 6))
    w = rng.standard_normal((c_in, c_out, 4, 3) if transposed else (c_out, c_in, 4, 3))
    case = {"stride": 2, "padding": 1, **({"output_padding": 1} if transposed else {})}
    ours = as_tensors(x, w, None)
    y = conv(ours, case, transposed)
    np.testing.assert_allclose(y.numpy(), reference(x, w, None, case, transposed), rtol=1e-12)
    assert mg.gradcheck(lambda *t: conv(t, case, transposed), ours)


def test_functional_re_exports_the_convolutions_and_nodes_carry_their_names():
    assert F.conv2d is C.conv2d and F.conv_transpose2d is C.conv_transpose2d
    x = mg.tensor(np.ones((1, 2, 4, 4)), requires_grad=True)
    assert F.conv2d(x, mg.tensor(np.ones((3, 2, 2, 2)))).op_name == "conv2d"
    assert F.conv_transpose2d(x, mg.tensor(np.ones((2, 3, 2, 2)))).op_name == "conv_transpose2d"
    assert C.as_pair(3, "stride", 1) == (3, 3) and C.as_pair([1, 2], "padding", 0) == (1, 2)


# --- errors -----------------------------------------------------------------------------

SHAPE_ERRORS = [
    ("conv2d", (4, 4), (2, 1, 3, 3), None, {}, "4-D"),
    ("conv2d", (1, 1, 1, 4, 4), (2, 1, 3, 3), None, {}, "4-D"),
    ("conv2d", (1, 1, 4, 4), (2, 1, 3), None, {}, "4-D"),
    ("conv2d", (1, 2, 5, 5), (3, 1, 3, 3), None, {}, "channels"),
    ("conv2d", (1, 1, 3, 3), (1, 1, 5, 5), None, {}, "larger than the padded input"),
    ("conv2d", (1, 1, 3, 4), (1, 1, 3, 7), None, {"padding": 1}, "larger than the padded"),
    ("conv2d", (1, 1, 5, 5), (2, 1, 3, 3), (3,), {}, "bias"),
    ("conv_transpose2d", (1, 2, 3, 3), (3, 1, 2, 2), None, {}, "channels"),
    ("conv_transpose2d", (3, 3), (3, 1, 2, 2), None, {}, "4-D"),
    ("conv_transpose2d", (2, 3, 3), (3, 1, 2, 2), None, {}, "channels"),
    ("conv_transpose2d", (1, 3, 3, 3), (3, 2, 2, 2), (3,), {}, "bias"),
    ("conv_transpose2d", (1, 1, 3, 3), (1, 1, 2, 2), None,
     {"stride": 2, "output_padding": 2}, "output_padding"),
    ("conv_transpose2d", (1, 1, 3, 3), (1, 1, 2, 2), None,
     {"stride": (2, 1), "output_padding": (0, 1)}, "output_padding"),
    ("conv_transpose2d", (1, 1, 1, 1), (1, 1, 1, 1), None, {"padding": 1}, "not positive"),
]


@pytest.mark.parametrize("op, x_shape, w_shape, b_shape, kwargs, words", SHAPE_ERRORS)
def test_shapes_that_do_not_fit_raise_naming_both(op, x_shape, w_shape, b_shape, kwargs, words):
    x, w = mg.tensor(np.zeros(x_shape)), mg.tensor(np.zeros(w_shape))
    b = None if b_shape is None else mg.tensor(np.zeros(b_shape))
    with pytest.raises(ValueError, match=words) as error:
        getattr(F, op)(x, w, b, **kwargs)
    assert str(x_shape) in str(error.value) and str(w_shape) in str(error.value)


@pytest.mark.parametrize("kwargs, name", [
    ({"stride": 0}, "stride"), ({"stride": (1, 2, 3)}, "stride"), ({"stride": 1.5}, "stride"),
    ({"padding": -1}, "padding"), ({"padding": (0, "1")}, "padding"),
])
def test_bad_arguments_raise(kwargs, name):
    x, w = mg.tensor(np.zeros((1, 1, 4, 4))), mg.tensor(np.zeros((1, 1, 2, 2)))
    for op in (F.conv2d, F.conv_transpose2d):
        with pytest.raises(ValueError, match=name):
            op(x, w, **kwargs)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, w, stride=2, output_padding=-1)


def test_int_and_pair_arguments_agree():
    rng = np.random.default_rng(4)
    x = mg.tensor(rng.standard_normal((1, 2, 6, 6)))
    w = mg.tensor(rng.standard_normal((2, 2, 3, 3)))
    for op in (F.conv2d, F.conv_transpose2d):
        a = op(x, w, stride=2, padding=1).numpy()
        np.testing.assert_array_equal(a, op(x, w, stride=(2, 2), padding=[1, 1]).numpy())


# --- the checks bite ---------------------------------------------------------------------


def test_gradcheck_catches_a_wrong_conv2d_input_gradient(float64, monkeypatch):
    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal((2, 2, 5, 5)))
    w = mg.tensor(rng.standard_normal((3, 2, 3, 3)))
    fn = lambda x_, w_: F.conv2d(x_, w_, stride=2, padding=1)  # noqa: E731
    assert mg.gradcheck(fn, [x, w])
    transposed = U.conv_transpose_array

    def transposed_missing_a_tap(g, weight, *args):
        weight = weight.copy()
        weight[:, :, 0, 0] = 0  # forget what kernel offset (0, 0) contributes
        return transposed(g, weight, *args)

    # conv2d's forward never calls the transposed convolution: only its input gradient is wrong
    monkeypatch.setattr(U, "conv_transpose_array", transposed_missing_a_tap)
    with pytest.raises(mg.GradcheckError, match="input 0"):
        mg.gradcheck(fn, [x, w])
    assert mg.gradcheck(lambda w_: fn(x, w_), [w])


def test_gradcheck_catches_a_wrong_conv_transpose2d_backward(float64, monkeypatch):
    rng = np.random.default_rng(6)
    x = mg.tensor(rng.standard_normal((2, 3, 3, 3)))
    w = mg.tensor(rng.standard_normal((3, 2, 3, 3)))
    fn = lambda x_, w_: F.conv_transpose2d(x_, w_, stride=2, padding=1)  # noqa: E731
    assert mg.gradcheck(fn, [x, w])
    im2col = U.im2col

    def im2col_missing_a_tap(array, kernel, *args):
        cols = im2col(array, kernel, *args)
        cols.reshape(-1, kernel[0] * kernel[1], cols.shape[-1])[:, 0] = 0
        return cols

    # conv_transpose2d's forward never calls im2col: both of its gradients are wrong
    monkeypatch.setattr(U, "im2col", im2col_missing_a_tap)
    with pytest.raises(mg.GradcheckError, match="input 0"):
        mg.gradcheck(fn, [x, w])
    with pytest.raises(mg.GradcheckError, match="input 0"):
        mg.gradcheck(lambda w_: fn(x, w_), [w])


# --- PyTorch's parameters: dilation, groups, padding strings, unbatched input -----------

LAYER_CASES = [
    ("Conv2d", (4, 6, 3), {"padding": "same", "dilation": 2, "groups": 2}),
    ("Conv2d", (4, 6, (2, 3)), {"padding": "same"}),
    ("Conv2d", (6, 6, 3), {"stride": (2, 1), "padding": "valid", "groups": 6, "bias": False}),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1,
                                    "groups": 2, "dilation": 2}),
    ("ConvTranspose2d", (2, 3, (3, 2)), {"stride": (1, 2), "dilation": (3, 1),
                                         "output_padding": (2, 1), "bias": False}),
]


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("name, args, kwargs", LAYER_CASES)
def test_layers_with_pytorchs_parameters_match_torch(float64, torch, name, args, kwargs,
                                                     unbatched):
    ours, theirs = getattr(mg.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    theirs = theirs.double()
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert repr(ours) == repr(theirs)
    with torch.no_grad():
        for pname, p in theirs.named_parameters():
            p.copy_(torch.tensor(host(getattr(ours, pname).data)))
    rng = np.random.default_rng(9)
    x = rng.standard_normal((args[0], 7, 6) if unbatched else (2, args[0], 7, 6))
    xt, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, out = ours(xt), theirs(tx)
    assert y.shape == tuple(out.shape)
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(host(xt.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for pname, p in theirs.named_parameters():
        np.testing.assert_allclose(host(getattr(ours, pname).grad), p.grad.numpy(),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, args, kwargs", LAYER_CASES)
def test_layers_with_pytorchs_parameters_pass_gradcheck(float64, name, args, kwargs):
    layer = getattr(mg.nn, name)(*args, **kwargs)
    x = mg.tensor(np.random.default_rng(10).standard_normal((2, args[0], 5, 4)),
                  requires_grad=True)
    assert check_module_gradients(layer, x)


def test_unbatched_input_is_one_sample_of_a_batch():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    for op, w in ((F.conv2d, rng.standard_normal((4, 3, 3, 3))),
                  (F.conv_transpose2d, rng.standard_normal((3, 4, 3, 3)))):
        w = mg.tensor(w.astype(np.float32))
        xt = mg.tensor(x, requires_grad=True)
        y = op(xt, w, stride=2, padding=1)
        expected = op(mg.tensor(x[None]), w, stride=2, padding=1).numpy()[0]
        assert y.shape == expected.shape and y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)
        y.sum().backward()
        assert xt.grad.shape == x.shape


ARGUMENT_ERRORS = [
    (F.conv2d, (1, 4, 5, 5), (6, 1, 3, 3), {"groups": 4}, "divisible by groups=4"),
    (F.conv2d, (1, 4, 5, 5), (6, 2, 3, 3), {"groups": 3}, "channels"),
    (F.conv2d, (1, 4, 5, 5), (6, 2, 3, 3), {"groups": 0}, "groups"),
    (F.conv2d, (1, 4, 5, 5), (6, 2, 3, 3), {"groups": 1.5}, "groups"),
    (F.conv2d, (1, 4, 5, 5), (6, 4, 3, 3), {"padding": "same", "stride": 2}, "strided"),
    (F.conv2d, (1, 4, 5, 5), (6, 4, 3, 3), {"padding": "full"}, "'valid' or 'same'"),
    (F.conv2d, (1, 4, 5, 5), (6, 4, 3, 3), {"dilation": 0}, "dilation"),
    (F.conv2d, (1, 4, 5, 5), (6, 4, 3, 3), {"dilation": 3}, "dilated to"),
    (F.conv_transpose2d, (1, 4, 5, 5), (4, 2, 3, 3), {"padding": "same"}, "padding"),
    (F.conv_transpose2d, (1, 4, 5, 5), (4, 2, 3, 3), {"groups": 3}, "divisible by groups"),
    (F.conv_transpose2d, (1, 4, 5, 5), (4, 2, 3, 3), {"stride": 2, "dilation": 3,
                                                      "output_padding": 3}, "output_padding"),
]


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs, words", ARGUMENT_ERRORS)
def test_bad_new_arguments_raise_one_clear_error(op, x_shape, w_shape, kwargs, words):
    x, w = mg.tensor(np.zeros(x_shape)), mg.tensor(np.zeros(w_shape))
    with pytest.raises(ValueError, match=words):
        op(x, w, **kwargs)


@pytest.mark.parametrize("kwargs, words", [
    ({"groups": 3}, "in_channels .* divisible by groups"),
    ({"groups": 2, "out_channels": 5}, "out_channels .* divisible by groups"),
    ({"padding": "same", "stride": 2}, "strided"), ({"padding": "half"}, "'valid' or 'same'"),
    ({"dilation": (1, 0)}, "dilation"),
])
def test_conv2d_layer_rejects_bad_arguments(kwargs, words):
    kwargs = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=words):
        mg.nn.Conv2d(**kwargs)


# --- scratch buffers ----------------------------------------------------------------------


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_outputs_and_gradients_never_share_the_scratch_buffers(transposed):
    """A second call of the same shapes reuses the temporaries of the first; its outputs
    and gradients must not change the first's."""
    rng = np.random.default_rng(12)
    c_in, c_out = (8, 8) if transposed else (8, 2)  # both transposed methods
    w_shape = (c_in, c_out, 4, 4) if transposed else (c_out, c_in, 4, 4)
    op = F.conv_transpose2d if transposed else F.conv2d
    results = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        x = mg.tensor(rng.standard_normal((3, c_in, 6, 6)).astype(np.float32),
                      requires_grad=True)
        w = mg.tensor(rng.standard_normal(w_shape).astype(np.float32), requires_grad=True)
        y = op(x, w, stride=2, padding=1)
        y.backward(np.ones(y.shape, np.float32))
        results.append((y, x.grad, w.grad, [host(a).copy() for a in (y.data, x.grad, w.grad)]))
    for y, gx, gw, copies in results:
        for now, then in zip((y.data, gx, gw), copies):
            np.testing.assert_array_equal(host(now), then)


def test_scratch_reuses_one_buffer_per_slot_up_to_the_limit(monkeypatch):
    def write(array, value):
        array[...] = value
        return host(first).ravel()

    first = U.scratch("test-slot", (4, 5), np.float32)
    write(first, 0)
    assert (write(U.scratch("test-slot", (2, 3), np.float32), 1)[:6] == 1).all()
    assert (write(U.scratch("test-slot", (4, 5), np.float64), 2) != 2).all()  # own buffer
    monkeypatch.setattr(U, "SCRATCH_LIMIT", 16)
    assert (write(U.scratch("test-slot", (4, 5), np.float32), 3) != 3).all()  # afresh
    monkeypatch.undo()
    assert (write(U.scratch("test-slot", (4, 5), np.float32), 4) == 4).all()


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_no_grad_and_a_weight_switched_on_after_the_forward(transposed):
    """Under no_grad the columns nobody keeps go to scratch: same values. A weight that
    starts to require a gradient only after the forward gets none, as in PyTorch."""
    rng = np.random.default_rng(13)
    x = mg.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    w = mg.tensor(rng.standard_normal((3, 4, 3, 3) if transposed else (4, 3, 3, 3))
                  .astype(np.float32))
    op = F.conv_transpose2d if transposed else F.conv2d
    y = op(x, w, stride=2, padding=1)
    with mg.no_grad():
        np.testing.assert_array_equal(op(x, w, stride=2, padding=1).numpy(), y.numpy())
    w.requires_grad = True  # after the forward: the node did not keep what dW needs
    y.sum().backward()
    assert x.grad is not None and w.grad is None


@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("transposed", [False, True])
def test_an_unbatched_convolution_takes_its_activation_along(transposed, slope):
    """relu_slope on a (C, H, W) input: the numbers of the convolution and then the
    activation, values and gradients, bit for bit."""
    rng = np.random.default_rng(3)
    data = rng.standard_normal((2, 5, 5)).astype(np.float32)
    kernel = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    conv = F.conv_transpose2d if transposed else F.conv2d
    results = []
    for fused in (True, False):
        x, w = mg.tensor(data, requires_grad=True), mg.tensor(kernel, requires_grad=True)
        y = (conv(x, w, stride=2, padding=1, relu_slope=slope) if fused
             else F.leaky_relu(conv(x, w, stride=2, padding=1), slope))
        y.backward(np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape))
        results.append((y.numpy(), host(x.grad), host(w.grad)))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
