"""The sliding-window attributes Conv and the pools share: kernel_shape, strides, dilations, pads
(top, left, bottom, right) and auto_pad, as ONNX defines them for 2-d (N, C, H, W) inputs; a 1-d
window over (N, C, L) runs as the 2-d one over (N, C, 1, L) (:func:`as_2d`)."""
from ... import tensor_ops
from .common import shape_of
from .pad import pad

_LIFTED = {"kernel_shape": 1, "strides": 1, "dilations": 1}


def as_2d(node, x):
    """(node, x) of a 1-d window op as its 2-d equivalent: ``x`` (N, C, L) viewed as (N, C, 1, L),
    the node's kernel_shape/strides/dilations given a leading 1 and its pads (begin, end) a zero row
    pad; a 2-d op comes back as it is."""
    if x.ndim != 3:
        return node, x
    lifted = node.copy()
    for key, one in _LIFTED.items():
        if key in node.attrs:
            lifted.attrs[key] = [one] + list(node.attrs[key])
    if "pads" in node.attrs:
        begin, end = node.attrs["pads"]
        lifted.attrs["pads"] = [0, begin, 0, end]
    n, c, length = shape_of(x)
    return lifted, tensor_ops.reshape(x, (n, c, 1, length))


def depth_then_plane(node):
    """A 3-d window over (D, H, W) as two 2-d ones: (kernel_d, 1) over (D, H * W), then (kernel_h,
    kernel_w) over (H, W); exact for max and average pooling, whose windows and divisors are products
    of per-axis ones (pads, ceil_mode, count_include_pad, auto_pad alike)."""
    first, second = node.copy(), node.copy()
    for key, one in _LIFTED.items():
        if key in node.attrs:
            d, h, w = node.attrs[key]
            first.attrs[key], second.attrs[key] = [d, one], [h, w]
    if "pads" in node.attrs:
        bd, bh, bw, ed, eh, ew = node.attrs["pads"]
        first.attrs["pads"], second.attrs["pads"] = [bd, 0, ed, 0], [bh, bw, eh, ew]
    return first, second


def pool_3d(node, x, pool2d):
    """``pool2d(node, x)`` (a 2-d MaxPool or AveragePool) applied to (N, C, D, H, W) as
    :func:`depth_then_plane` says."""
    first, second = depth_then_plane(node)
    n, c, d, h, w = shape_of(x)
    y = pool2d(first, tensor_ops.reshape(x, (n, c, d, h * w)))
    d_out = shape_of(y)[2]
    y = pool2d(second, tensor_ops.reshape(y, (n, c * d_out, h, w)))
    h_out, w_out = shape_of(y)[2:]
    return tensor_ops.reshape(y, (n, c, d_out, h_out, w_out))


def back_to_1d(y, was_1d):
    """The (N, C, 1, L) result of a lifted 1-d op as (N, C, L)."""
    if not was_1d:
        return y
    n, c, _, length = shape_of(y)
    return tensor_ops.reshape(y, (n, c, length))


def spatial_pads(node, in_hw, kernel, strides, dilations):
    """The begins then the ends ((top, left, bottom, right) in 2-d) from ``pads`` or ``auto_pad`` (SAME_UPPER
    puts the odd one at the end)."""
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(in_hw, kernel, strides, dilations):
            out = -(-size // s)
            pads.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0))
        small = [p // 2 for p in pads]
        large = [p - p // 2 for p in pads]
        return (small + large) if auto == "SAME_UPPER" else (large + small)
    if auto == "VALID":
        return [0] * (2 * len(in_hw))
    return list(node.attr("pads", [0] * (2 * len(in_hw))))


def window_problems(node, what):
    """Problems of the kernel_shape/strides/dilations/pads/auto_pad/group attributes of a Conv or pool
    (1-d, 2-d or 3-d); ``what``: 'convolves' or 'pools', for the message."""
    problems = []
    kernel = node.attr("kernel_shape")
    spatial = len(kernel) if kernel is not None and len(kernel) in (1, 2, 3) else 2
    if kernel is not None and len(kernel) not in (1, 2, 3):
        problems.append(f"kernel_shape {kernel} is {len(kernel)}-d; pycnn {what} (N, C, L), (N, C, H, W) and "
                        "(N, C, D, H, W) tensors only")
        return problems
    for key, low in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        value = node.attr(key)
        if value is None:
            continue
        if len(value) != spatial:
            problems.append(f"{key} {value} does not have one value per spatial axis like the kernel "
                            f"{kernel}")
        elif min(value) < low:
            problems.append(f"{key} {value} must be positive")
        elif max(value) >= 1 << 31:
            problems.append(f"{key} {value} is larger than 2^31")
    pads = node.attr("pads", [0] * 2 * spatial)
    if len(pads) != 2 * spatial or min(pads, default=0) < 0:
        problems.append(f"pads {pads} are not {2 * spatial} non-negative values (the begins, then the ends)")
    elif max(pads) >= 1 << 31:
        problems.append(f"pads {pads} are larger than 2^31")
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        problems.append(f"auto_pad {node.attr('auto_pad')!r} is not an ONNX value (NOTSET, VALID, SAME_UPPER, "
                        "SAME_LOWER)")
    if node.attr("group", 1) < 1:
        problems.append(f"group {node.attr('group')} must be positive")
    return problems


def symmetric_padding(x, pads, value):
    """(x, (pad_h, pad_w)): asymmetric padding is applied explicitly, symmetric left to the op."""
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return x, (top, left)
    return pad(x, [0, 0, top, left, 0, 0, bottom, right], value), (0, 0)
