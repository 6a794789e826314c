"""interpolate (torch.nn.functional's, modes 'nearest', 'nearest-exact', 'linear', 'bilinear',
'bicubic', 'trilinear') and the resampling ONNX Resize/Upsample define, as one separable linear map per
resized axis: :func:`axis_matrix` gives each output position's weights over the input positions (one 1
for nearest, two for linear, four for cubic, the index clamped to the edge), :class:`ResizeFunction`
applies the matrices along their axes (on the host) and their transposes in the backward.

Cubic (ONNX's and torch's bicubic): the taps floor(c) - 1 .. floor(c) + 2 of coordinate c, weighted by
Keys' kernel with coefficient ``cubic_coeff_a`` (torch's -0.75); ``exclude_outside`` gives the taps
outside the input no weight and renormalises the others to sum to 1 (else their index is clamped).

Coordinate transformations (ONNX's names): the output position x maps to the input coordinate
half_pixel (x + 0.5) / scale - 0.5; pytorch_half_pixel the same, or 0 when the output has length 1;
align_corners x * (in - 1) / (out - 1); asymmetric x / scale; half_pixel_symmetric half_pixel shifted
so that the centres of input and output align. Nearest rounds that coordinate by ``nearest_mode``
(round_prefer_floor, round_prefer_ceil, floor, ceil; and 'simple', ONNX's Upsample and Resize-10 as
onnxruntime computes them: the floor when enlarging, the ceiling when shrinking).
"""
import numpy as np

from ..._arguments import as_float
from ...autograd import Function
from ...tensor import as_tensor
from ...tensor_ops.common import from_host

COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def _cubic_weights(distance, a):
    """Keys' cubic convolution kernel at ``distance`` (>= 0) with coefficient ``a``."""
    d = np.abs(distance)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def axis_matrix(in_len, out_len, scale, mode, coordinate_mode, nearest_mode="round_prefer_floor", cubic_coeff_a=-0.75,
                exclude_outside=False):
    """(out_len, in_len) float64 weights of one resized axis; ``scale`` is out / in as the caller defines
    it (the given factor, or the sizes' ratio)."""
    x = np.arange(out_len, dtype=np.float64)
    out_width = scale * in_len
    if coordinate_mode == "align_corners":
        coord = np.zeros(out_len) if out_width == 1 else x * (in_len - 1) / (out_width - 1)
    elif coordinate_mode == "asymmetric":
        coord = x / scale
    elif coordinate_mode == "pytorch_half_pixel":
        coord = np.zeros(out_len) if out_width == 1 else (x + 0.5) / scale - 0.5
    elif coordinate_mode == "half_pixel":
        coord = (x + 0.5) / scale - 0.5
    elif coordinate_mode == "half_pixel_symmetric":
        offset = in_len / 2 * (1 - out_len / out_width)
        coord = offset + (x + 0.5) / scale - 0.5
    else:
        raise ValueError(f"resize: coordinate transformation {coordinate_mode!r} is not one of "
                         f"{', '.join(COORDINATE_MODES)}")
    matrix = np.zeros((out_len, in_len))
    rows = np.arange(out_len)
    if mode == "nearest":
        floor = np.floor(coord)
        frac = coord - floor
        if nearest_mode == "round_prefer_floor":
            index = np.where(frac <= 0.5, floor, floor + 1)
        elif nearest_mode == "round_prefer_ceil":
            index = np.where(frac < 0.5, floor, floor + 1)
        elif nearest_mode == "floor" or (nearest_mode == "simple" and scale >= 1):
            index = floor
        elif nearest_mode == "simple":
            index = np.ceil(coord)
        elif nearest_mode == "ceil":
            index = np.ceil(coord)
        else:
            raise ValueError(f"resize: nearest_mode {nearest_mode!r} is not one of {', '.join(NEAREST_MODES)}")
        matrix[rows, np.clip(index, 0, in_len - 1).astype(np.int64)] = 1.0
    elif mode == "linear":
        low = np.floor(coord)
        weight = coord - low
        np.add.at(matrix, (rows, np.clip(low, 0, in_len - 1).astype(np.int64)), 1.0 - weight)
        np.add.at(matrix, (rows, np.clip(low + 1, 0, in_len - 1).astype(np.int64)), weight)
    elif mode == "cubic":
        low = np.floor(coord)
        taps = np.stack([low + offset for offset in (-1, 0, 1, 2)], axis=1)  # (out_len, 4)
        weights = _cubic_weights(coord[:, None] - taps, float(cubic_coeff_a))
        if exclude_outside:
            weights = np.where((taps >= 0) & (taps <= in_len - 1), weights, 0.0)
            weights /= weights.sum(axis=1, keepdims=True)
        np.add.at(matrix, (np.repeat(rows, 4), np.clip(taps, 0, in_len - 1).astype(np.int64).reshape(-1)),
                  weights.reshape(-1))
    else:
        raise ValueError(f"resize: mode {mode!r} is not 'nearest', 'linear' or 'cubic'")
    return matrix


def _apply(array, matrices, transpose=False):
    for axis, matrix in matrices:
        m = matrix.T if transpose else matrix
        array = np.moveaxis(np.tensordot(m, array, axes=([1], [axis])), 0, axis)
    return array


class ResizeFunction(Function):
    """``x`` with each (axis, matrix) of ``matrices`` applied along its axis; ``spec`` (how the matrices
    were made: sizes, scales, modes) is kept for the ONNX export."""

    def forward(self, x, matrices, spec):
        self.matrices, self.device, self.shape = matrices, x.device, tuple(x.shape)
        out = _apply(x.to("cpu").numpy().astype(np.float64), matrices)
        return from_host(out, self.device, np.float32)

    def backward(self, grad):
        g = _apply(grad.to("cpu").numpy().astype(np.float64), self.matrices[::-1], transpose=True)
        return from_host(g, self.device, np.float32), None, None


def resize(input, sizes, scales, mode, coordinate_mode, nearest_mode="round_prefer_floor", cubic_coeff_a=-0.75,
           exclude_outside=False):
    """``input`` resampled to ``sizes`` (one per dimension), ``scales`` (out / in per dimension) being the
    factors the coordinate transformation uses; dimensions whose size and scale stay are untouched."""
    if any(int(s) < 1 for s in sizes):
        raise ValueError(f"resize: output sizes {tuple(sizes)} must be positive")
    matrices = tuple((axis, axis_matrix(int(size), int(out), float(scale), mode, coordinate_mode, nearest_mode,
                                        cubic_coeff_a, exclude_outside))
                     for axis, (size, out, scale) in enumerate(zip(input.shape, sizes, scales))
                     if not (out == size and scale == 1.0))
    spec = (tuple(int(s) for s in sizes), tuple(float(s) for s in scales), mode, coordinate_mode, nearest_mode,
            float(cubic_coeff_a), int(bool(exclude_outside)))
    return ResizeFunction.apply(input, matrices, spec) if matrices else input


_TORCH_MODES = {"nearest": ("nearest", "asymmetric", "floor"), "nearest-exact": ("nearest", "half_pixel",
                                                                                  "round_prefer_ceil"),
                "linear": ("linear", "half_pixel", None), "bilinear": ("linear", "half_pixel", None),
                "trilinear": ("linear", "half_pixel", None), "bicubic": ("cubic", "half_pixel", None)}
# torch computes its linear and cubic modes in half_pixel coordinates, an output of length 1 included (it reads
# the middle of the input, not its first element as ONNX's pytorch_half_pixel does); bicubic's a is -0.75.


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """torch.nn.functional.interpolate for modes 'nearest', 'nearest-exact', 'linear', 'bilinear',
    'bicubic' (4-d input), 'trilinear' over the dimensions after (N, C): ``size`` or ``scale_factor`` (an
    int/float or one per spatial dimension; the output is floor(size * factor), the coordinates use the
    factor as given). ``align_corners`` (linear and cubic modes) maps the corner pixels onto each other."""
    as_tensor(input, "interpolate", "input")
    if mode not in _TORCH_MODES:
        raise ValueError(f"interpolate: mode {mode!r} is not supported (expected one of {', '.join(_TORCH_MODES)})")
    if align_corners is not None and _TORCH_MODES[mode][0] == "nearest":
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    spatial = input.ndim - 2
    if spatial < 1:
        raise ValueError(f"interpolate: expected input (N, C, *spatial), got shape {tuple(input.shape)}")
    if mode == "bicubic" and spatial != 2:
        raise ValueError(f"interpolate: bicubic mode needs a 4-d input (N, C, H, W), got shape {tuple(input.shape)}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: either size or scale_factor should be defined, not both")
    in_sizes = list(input.shape[2:])
    if size is not None:
        out = [int(size)] * spatial if np.isscalar(size) else [int(s) for s in size]
        if len(out) != spatial:
            raise ValueError(f"interpolate: size {size} does not give one value per spatial dimension {in_sizes}")
        factors = [o / i for o, i in zip(out, in_sizes)]
    else:
        factors = [as_float(scale_factor, "interpolate", "scale_factor")] * spatial if np.isscalar(scale_factor) \
            else [as_float(f, "interpolate", "scale_factor") for f in scale_factor]
        if len(factors) != spatial or min(factors) <= 0:
            raise ValueError(f"interpolate: scale_factor {scale_factor} must give one positive factor per spatial "
                             f"dimension of {in_sizes}")
        out = [int(np.floor(i * f)) for i, f in zip(in_sizes, factors)]
    kind, coordinates, nearest = _TORCH_MODES[mode]
    if align_corners:
        coordinates = "align_corners"
    return resize(input, list(input.shape[:2]) + out, [1.0, 1.0] + factors, kind, coordinates,
                  nearest or "round_prefer_floor")
