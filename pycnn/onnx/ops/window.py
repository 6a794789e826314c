"""The sliding-window attributes Conv and the pools share: kernel_shape, strides, dilations, pads
(top, left, bottom, right) and auto_pad, as ONNX defines them for 2-d (N, C, H, W) inputs."""
from .pad import pad


def spatial_pads(node, in_hw, kernel, strides, dilations):
    """(top, left, bottom, right) from ``pads`` or ``auto_pad`` (SAME_UPPER puts the odd one at the end)."""
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
        return [0, 0, 0, 0]
    pads = node.attr("pads", [0, 0, 0, 0])
    return list(pads)


def window_problems(node, what):
    """Problems of the kernel_shape/strides/dilations/pads/auto_pad/group attributes of a Conv or pool;
    ``what``: 'convolves' or 'pools', for the message."""
    problems = []
    for key, low in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        value = node.attr(key)
        if value is None:
            continue
        if len(value) != 2:
            problems.append(f"{key} {value} is not 2-d; pycnn {what} 2-d (N, C, H, W) tensors only")
        elif min(value) < low:
            problems.append(f"{key} {value} must be positive")
        elif max(value) >= 1 << 31:
            problems.append(f"{key} {value} is larger than 2^31")
    pads = node.attr("pads", [0, 0, 0, 0])
    if len(pads) != 4 or min(pads, default=0) < 0:
        problems.append(f"pads {pads} are not 4 non-negative values (top, left, bottom, right)")
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
