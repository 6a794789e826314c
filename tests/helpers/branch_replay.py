"""A float64 reference gradient on the branch a float32 engine took.

A deep ReLU network's gradient is discontinuous wherever a pre-activation crosses a kink (ReLU at 0,
ReLU6 at 0 and 6, hardswish at +-3) or two max-pool candidates tie. At random weights a few units sit
within float32 rounding of a kink (a depthwise window of two products that cancel to 6e-14), so any
float32 engine takes the other branch there by chance, and that one unit's changed gradient reaches
thousands of input pixels: torch itself moves squeezenet1_1's error from 5e-8 to 4e-4 by running on
one thread instead of two. So each engine is compared with float64 evaluated on its own branch: the
float64 forward computes the true values, and at every kink the derivative (which side of the kink,
which max-pool element) is the one the engine's own float32 pre-activations chose.

    with Replay(decisions) as mode: model64(x).backward(w)     # decisions: the engine's kink inputs
    with Replay() as mode: model32(x);  mode.recorded           # torch float32's own kink inputs

Kink ops are matched by call order, which is the order torch.onnx.export writes their ONNX nodes in.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# ONNX ops whose gradient has a kink, in the order the torch calls below produce them.
ONNX_KINKS = ("Relu", "Clip", "HardSigmoid", "HardSwish", "MaxPool")

_RELU = {F.relu, F.relu_, torch.relu, torch.relu_}
_HARDTANH = {F.hardtanh, F.hardtanh_, F.relu6}
_MAX_POOL = {F.max_pool2d, torch.max_pool2d, getattr(F, "_max_pool2d", None), F.max_pool2d_with_indices}


def _kind(func):
    if func in _RELU:
        return "relu"
    if func in _HARDTANH:
        return "hardtanh"
    if func is F.hardsigmoid:
        return "hardsigmoid"
    if func is F.hardswish:
        return "hardswish"
    if func in _MAX_POOL:
        return "max_pool"
    return None


def _argument(args, kwargs, index, name, default):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _slope(kind, func, args, kwargs, x, p):
    """The derivative of the kink op at ``x`` (float64) on the side of each kink that ``p`` chose,
    with torch's conventions at the kink itself."""
    if kind == "relu":
        return (p > 0).to(x.dtype)
    if kind == "hardtanh":
        lo, hi = (0.0, 6.0) if func is F.relu6 else (_argument(args, kwargs, 1, "min_val", -1.0),
                                                      _argument(args, kwargs, 2, "max_val", 1.0))
        return ((p > lo) & (p < hi)).to(x.dtype)
    if kind == "hardsigmoid":
        return ((p > -3) & (p < 3)).to(x.dtype) / 6
    middle = ((p >= -3) & (p <= 3)).to(x.dtype)  # hardswish
    return middle * (x / 3 + 0.5) + (p > 3).to(x.dtype)


class Replay(TorchFunctionMode):
    """Records the input of every kink op (``decisions`` None) or replays ``decisions`` (arrays, one a
    kink op in call order) as the branch taken."""

    def __init__(self, decisions=None):
        super().__init__()
        self.decisions = decisions
        self.recorded = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _kind(func)
        if kind is None:
            return func(*args, **kwargs)
        x = args[0]
        if self.decisions is None:
            self.recorded.append(x.detach().numpy().copy())
            return func(*args, **kwargs)
        index = len(self.recorded)
        assert index < len(self.decisions), f"more kink ops than the engine's {len(self.decisions)}"
        p = torch.from_numpy(np.asarray(self.decisions[index]))
        assert tuple(p.shape) == tuple(x.shape), f"kink op {index} ({kind}): {tuple(x.shape)} != {tuple(p.shape)}"
        self.recorded.append(None)
        if kind == "max_pool":
            pool_args = [_argument(args, kwargs, i, n, d) for i, n, d in (
                (1, "kernel_size", None), (2, "stride", None), (3, "padding", 0), (4, "dilation", 1),
                (5, "ceil_mode", False))]
            _, chosen = F.max_pool2d(p.to(torch.float32), *pool_args, return_indices=True)
            n, c = chosen.shape[:2]
            return x.reshape(n, c, -1).gather(2, chosen.reshape(n, c, -1)).reshape(chosen.shape)
        kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
        args = args[:3] if kind == "hardtanh" and func is not F.relu6 else args[:1]
        value = func(*args, **kwargs).detach()
        return value + (x - x.detach()) * _slope(kind, func, args, kwargs, x, p.to(x.dtype)).detach()
