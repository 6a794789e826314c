"""Padding layers, as torch.nn's: ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d and
their 1-d forms, each ``padding`` an int (every side) or a tuple (left, right[, top, bottom]),
calling pycnn.nn.functional.pad."""
from ..._arguments import as_float
from .. import functional as F
from ..module import Module


class _PadNd(Module):
    sides = 4  # (left, right, top, bottom); 2 for the 1-d layers
    mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        name = type(self).__name__
        if isinstance(padding, int) and not isinstance(padding, bool):
            padding = (padding,) * self.sides
        if (not isinstance(padding, (tuple, list)) or len(padding) != self.sides
                or not all(isinstance(p, int) and not isinstance(p, bool) for p in padding)):
            raise ValueError(f"{name}: expected padding to be an int or a tuple of {self.sides} ints, got {padding!r}")
        self.padding = tuple(padding)
        self.value = as_float(value, name, "value")

    def forward(self, input):
        return F.pad(input, self.padding, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self):  # torch's: ZeroPad2d((2, 2, 2, 2)), ConstantPad2d(padding=(...), value=-1.0)
        if isinstance(self, ConstantPad2d) and not isinstance(self, ZeroPad2d):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ConstantPad2d(_PadNd):
    """Pads the last two dimensions with ``value``: padding (left, right, top, bottom) or an int."""

    def __init__(self, padding, value):
        super().__init__(padding, value)


class ZeroPad2d(ConstantPad2d):
    """ConstantPad2d with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)  # ConstantPad2d's


class ReflectionPad2d(_PadNd):
    """Pads the last two dimensions with their mirror image (the edge not repeated)."""
    mode = "reflect"


class ReplicationPad2d(_PadNd):
    """Pads the last two dimensions with copies of the edge."""
    mode = "replicate"


class ConstantPad1d(ConstantPad2d):
    """Pads the last dimension with ``value``: padding (left, right) or an int."""
    sides = 2


class ZeroPad1d(ZeroPad2d):
    sides = 2


class ReflectionPad1d(ReflectionPad2d):
    sides = 2


class ReplicationPad1d(ReplicationPad2d):
    sides = 2
