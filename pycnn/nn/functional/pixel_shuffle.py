"""pixel_shuffle and pixel_unshuffle (torch.nn.functional's): channels to space and back, as a reshape,
a permutation and a reshape (pycnn.tensor_ops; differentiable, exported as ONNX Reshape/Transpose)."""
from ..._arguments import as_int
from ...tensor import as_tensor
from ...tensor_ops import permute, reshape


def _factor(value, op):
    factor = as_int(value, op, "factor")
    if factor < 1:
        raise ValueError(f"{op}: expected a positive factor, got {value!r}")
    return factor


def pixel_shuffle(input, upscale_factor):
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r), output channel c at (h * r + i, w * r + j) taken from
    input channel c * r * r + i * r + j (torch's rule; ONNX DepthToSpace mode CRD)."""
    as_tensor(input, "pixel_shuffle", "input")
    r = _factor(upscale_factor, "pixel_shuffle")
    *batch, c, h, w = input.shape
    if input.ndim < 3 or c % (r * r):
        raise ValueError(f"pixel_shuffle: expected input (*, C, H, W) with C divisible by {r * r}, got shape "
                         f"{tuple(input.shape)}")
    n = len(batch)
    x = reshape(input, (*batch, c // (r * r), r, r, h, w))
    x = permute(x, tuple(range(n)) + tuple(n + i for i in (0, 3, 1, 4, 2)))
    return reshape(x, (*batch, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """The inverse of :func:`pixel_shuffle`: (*, C, H * r, W * r) -> (*, C * r * r, H, W)."""
    as_tensor(input, "pixel_unshuffle", "input")
    r = _factor(downscale_factor, "pixel_unshuffle")
    *batch, c, h, w = input.shape
    if input.ndim < 3 or h % r or w % r:
        raise ValueError(f"pixel_unshuffle: expected input (*, C, H, W) with H and W divisible by {r}, got shape "
                         f"{tuple(input.shape)}")
    n = len(batch)
    x = reshape(input, (*batch, c, h // r, r, w // r, r))
    x = permute(x, tuple(range(n)) + tuple(n + i for i in (0, 2, 4, 1, 3)))
    return reshape(x, (*batch, c * r * r, h // r, w // r))
