"""The shape rules _C exposes (pool_output_size, conv_output_size, pool2d_output_shape,
conv2d_output_shape) against the shapes torch actually produces, against the ONNX pads formula
written out here independently, and against the ops' own error messages."""
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from pycnn import _C


def _onnx_pool_size(size, kernel, pad_begin, pad_end, stride, dilation, ceil_mode):
    """ONNX's pool output length with asymmetric pads, and PyTorch's rule that a ceil_mode window
    starting at or past size + pad_begin is dropped; exact rational arithmetic, no C++ shared."""
    q = Fraction(size + pad_begin + pad_end - dilation * (kernel - 1) - 1, stride)
    out = (math.ceil(q) if ceil_mode else math.floor(q)) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _torch_shape(fn, *args):
    """torch's output shape of fn(*args), or None where torch refuses the configuration."""
    try:
        return list(fn(*args).shape)
    except RuntimeError:
        return None


def _ours(fn, *args):
    """_C's answer fn(*args), or None where it raises ValueError."""
    try:
        return fn(*args)
    except ValueError:
        return None


def _pool_configs(count, seed, dilated):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, 16, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        # Up to one past half the kernel, so that torch's padding rule is exercised too.
        ph, pw = int(rng.integers(0, kh // 2 + 2)), int(rng.integers(0, kw // 2 + 2))
        dh, dw = (int(v) for v in rng.integers(1, 4, size=2)) if dilated else (1, 1)
        yield (int(rng.integers(1, 3)), int(rng.integers(1, 3)), h, w), (kh, kw), (sh, sw), \
            (ph, pw), (dh, dw), bool(rng.integers(0, 2))


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool2d_output_shape_is_torchs(op):
    accepted = rejected = dropped = 0
    for shape, k, s, p, d, ceil_mode in _pool_configs(400, seed=16 if op == "max_pool2d" else 17,
                                                      dilated=op == "max_pool2d"):
        x = torch.zeros(shape)
        if op == "max_pool2d":
            expected = _torch_shape(TF.max_pool2d, x, k, s, p, d, ceil_mode)
        else:
            expected = _torch_shape(TF.avg_pool2d, x, k, s, p, ceil_mode)
        got = _ours(_C.pool2d_output_shape, list(shape), k, s, p, d, ceil_mode, op)
        assert got == expected, (shape, k, s, p, d, ceil_mode)
        if expected is None:
            rejected += 1
            continue
        accepted += 1
        for axis in (0, 1):
            size = _C.pool_output_size(shape[2 + axis], k[axis], p[axis], p[axis], s[axis],
                                       d[axis], ceil_mode)
            assert size == expected[2 + axis]
            if ceil_mode:  # the ceil formula alone would give one more: a window was dropped
                span = shape[2 + axis] + 2 * p[axis] - d[axis] * (k[axis] - 1) - 1
                dropped += size == math.ceil(Fraction(span, s[axis]))
    # The random configurations must reach both verdicts and the ceil_mode drop rule.
    assert accepted > 100 and rejected > 20 and dropped > 0


def test_conv2d_output_shape_is_torchs():
    rng = np.random.default_rng(18)
    accepted = rejected = 0
    for _ in range(400):
        groups = int(rng.integers(1, 4))
        c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        p = tuple(int(v) for v in rng.integers(0, 3, size=2))
        d = tuple(int(v) for v in rng.integers(1, 4, size=2))
        x_shape, w_shape = [int(rng.integers(1, 3)), c_in, h, w], [c_out, c_in // groups, kh, kw]
        expected = _torch_shape(TF.conv2d, torch.zeros(x_shape), torch.zeros(w_shape), None, s, p,
                                d, groups)
        got = _ours(_C.conv2d_output_shape, x_shape, w_shape, s, p, d, groups)
        assert got == expected, (x_shape, w_shape, s, p, d, groups)
        if expected is None:
            rejected += 1
            continue
        accepted += 1
        for axis, size in ((0, h), (1, w)):
            k = w_shape[2 + axis]
            assert _C.conv_output_size(size, k, p[axis], p[axis], s[axis], d[axis]) == \
                expected[2 + axis]
    assert accepted > 100 and rejected > 20


def test_asymmetric_pads_follow_the_onnx_formula():
    rng = np.random.default_rng(19)
    for _ in range(2000):
        size, kernel = int(rng.integers(1, 15)), int(rng.integers(1, 6))
        begin, end = (int(v) for v in rng.integers(0, 5, size=2))
        stride, dilation = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        args = (size, kernel, begin, end, stride, dilation)
        for ceil_mode in (False, True):
            expected = _onnx_pool_size(*args, ceil_mode)
            got = _ours(_C.pool_output_size, *args, ceil_mode)
            assert got == (expected if expected > 0 else None), (args, ceil_mode)
        floor = _onnx_pool_size(*args, False)
        assert _ours(_C.conv_output_size, *args) == (floor if floor > 0 else None), args


@pytest.mark.parametrize("begin,end", [(0, 1), (2, 0), (1, 3), (3, 1)])
def test_asymmetric_floor_sizes_are_torchs_on_a_padded_input(begin, end):
    # Padding explicitly and then pooling/convolving unpadded is what an asymmetric ONNX pad means.
    for size in range(1, 12):
        for kernel, stride, dilation in ((1, 1, 1), (2, 2, 1), (3, 2, 2), (3, 1, 1), (4, 3, 1)):
            x = TF.pad(torch.zeros(1, 1, size, 1), (0, 0, begin, end))
            pooled = _torch_shape(TF.max_pool2d, x, (kernel, 1), (stride, 1), 0, (dilation, 1))
            convolved = _torch_shape(TF.conv2d, x, torch.zeros(1, 1, kernel, 1), None, (stride, 1),
                                     0, (dilation, 1))
            args = (size, kernel, begin, end, stride, dilation)
            assert _ours(_C.pool_output_size, *args, False) == (pooled[2] if pooled else None), args
            assert _ours(_C.conv_output_size, *args) == \
                (convolved[2] if convolved else None), args


def test_ceil_mode_drops_a_window_that_starts_in_the_trailing_padding():
    # size 2, kernel 1, stride 2: ceil((2 - 1) / 2) + 1 = 2 windows, but the second starts at 2 =
    # size + pad_begin, wholly outside: torch keeps 1.
    assert _C.pool_output_size(2, 1, 0, 0, 2, 1, True) == 1
    assert list(TF.max_pool2d(torch.zeros(1, 1, 2, 2), 1, 2, ceil_mode=True).shape) == [1, 1, 1, 1]
    # A leading pad of 1 shifts that second window to input index 1: kept.
    assert _C.pool_output_size(2, 1, 1, 0, 2, 1, True) == 2
    # A trailing pad of 1 does not: the second window still starts at 2 = size + pad_begin, as in
    # torch's pooling_output_shape_pad_lr (the asymmetric form of the same rule).
    assert _C.pool_output_size(2, 1, 0, 1, 2, 1, True) == 1


@pytest.mark.parametrize("fn,args,message", [
    (_C.pool_output_size, (5, 2, 0, 0, 0, 1, False), "pool_output_size: stride must be positive, got 0"),
    (_C.pool_output_size, (5, 0, 0, 0, 1, 1, False), "pool_output_size: kernel must be positive, got 0"),
    (_C.pool_output_size, (5, 2, 0, 0, 1, 0, True), "pool_output_size: dilation must be positive, got 0"),
    (_C.pool_output_size, (0, 2, 0, 0, 1, 1, False), "pool_output_size: size must be positive, got 0"),
    (_C.pool_output_size, (5, 2, -1, 0, 1, 1, False),
     "pool_output_size: pads must be non-negative, got pad_begin=-1 and pad_end=0"),
    (_C.pool_output_size, (3, 3, 0, 0, 1, 2, False),
     (r"pool_output_size: kernel 3 with dilation 2 \(extent 5\) does not fit the input size 3 "
      r"padded by \(0, 0\): output size would be -1")),
    (_C.conv_output_size, (5, 2, 0, 0, -2, 1), "conv_output_size: stride must be positive, got -2"),
    (_C.conv_output_size, (5, 2, 0, -3, 1, 1),
     "conv_output_size: pads must be non-negative, got pad_begin=0 and pad_end=-3"),
    (_C.conv_output_size, (4, 6, 1, 0, 1, 1),
     (r"conv_output_size: kernel 6 with dilation 1 \(extent 6\) does not fit the input size 4 "
      r"padded by \(1, 0\): output size would be 0")),
])
def test_bad_sizes_raise_value_error_naming_the_function(fn, args, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        fn(*args)


def _message(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("shape,k,s,p,d,ceil_mode", [
    ([1, 2, 5], (2, 2), (2, 2), (0, 0), (1, 1), False),      # not 4-d
    ([1, 2, 5, 5], (0, 2), (2, 2), (0, 0), (1, 1), False),   # kernel
    ([1, 2, 5, 5], (2, 2), (2, 0), (0, 0), (1, 1), False),   # stride
    ([1, 2, 5, 5], (2, 2), (2, 2), (0, 0), (1, 0), True),    # dilation
    ([1, 2, 5, 5], (3, 3), (1, 1), (2, 1), (1, 1), False),   # padding over half the kernel
    ([1, 2, 2, 5], (3, 3), (1, 1), (0, 0), (1, 1), False),   # window larger than the input
    ([1, 0, 5, 5], (2, 2), (1, 1), (0, 0), (1, 1), False),   # no channels
])
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool2d_output_shape_raises_the_ops_own_message(op, shape, k, s, p, d, ceil_mode):
    ours = _message(lambda: _C.pool2d_output_shape(shape, k, s, p, d, ceil_mode, op=op))
    assert ours.startswith(op + ": ")
    x = _C.zeros(shape, "float32", "cpu")
    if op == "max_pool2d":
        assert ours == _message(lambda: _C.max_pool2d_forward(x, k, s, p, d, ceil_mode))
    elif d == (1, 1):
        assert ours == _message(lambda: _C.avg_pool2d_forward(x, k, s, p, ceil_mode, True, None))


def test_pool2d_output_shape_names_max_pool2d_by_default():
    assert _message(lambda: _C.pool2d_output_shape([1, 1, 4, 4], (2, 2), (0, 1), (0, 0), (1, 1),
                                                   False)) == \
        "max_pool2d: stride must be positive, got (0, 1)"


@pytest.mark.parametrize("x_shape,w_shape,s,p,d,groups", [
    ([2, 4, 7], [6, 2, 3, 3], (1, 1), (0, 0), (1, 1), 2),        # input not 4-d
    ([2, 4, 7, 7], [6, 2, 3], (1, 1), (0, 0), (1, 1), 2),        # weight not 4-d
    ([2, 4, 7, 7], [6, 2, 3, 3], (0, 1), (0, 0), (1, 1), 2),     # stride
    ([2, 4, 7, 7], [6, 2, 3, 3], (1, 1), (-1, 0), (1, 1), 2),    # padding
    ([2, 4, 7, 7], [6, 2, 3, 3], (1, 1), (0, 0), (1, 1), 3),     # groups do not divide
    ([2, 4, 7, 7], [6, 2, 3, 3], (1, 1), (0, 0), (1, 1), 1),     # weight's channels
    ([2, 4, 7, 7], [6, 2, 3, 3], (1, 1), (0, 0), (4, 1), 2),     # dilated kernel too large
    ([2, 4, 0, 7], [6, 2, 3, 3], (1, 1), (0, 0), (1, 1), 2),     # empty input plane
])
def test_conv2d_output_shape_raises_conv2d_forwards_message(x_shape, w_shape, s, p, d, groups):
    ours = _message(lambda: _C.conv2d_output_shape(x_shape, w_shape, s, p, d, groups))
    assert ours.startswith("conv2d: ")
    x, w = _C.zeros(x_shape, "float32", "cpu"), _C.zeros(w_shape, "float32", "cpu")
    assert ours == _message(lambda: _C.conv2d_forward(x, w, None, s, p, d, groups))
