"""Upsample (torch.nn.modules.upsampling); pycnn.nn.functional.interpolate computes."""
from .. import functional as F
from ..module import Module


class Upsample(Module):
    """torch.nn.Upsample: (N, C, *spatial) resized to ``size`` or by ``scale_factor`` with ``mode``
    'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic' (4-d input) or 'trilinear'
    (``align_corners`` for all but the nearest ones)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: either size or scale_factor should be defined, not both")
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
