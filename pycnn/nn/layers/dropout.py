"""Dropout, as torch.nn.modules.dropout: the Module holds p and follows the training mode;
pycnn.nn.functional.dropout draws the mask."""
import numbers

from .. import functional as F
from ..module import Module


class Dropout(Module):
    """Zeroes each element with probability p while training and scales the rest by 1/(1-p);
    the identity in eval mode. (*) -> same. ``inplace`` is accepted for torch's signature (pycnn
    always returns a new tensor, with the same values and gradients)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: expected p to be a probability between 0 and 1, got {p!r}")
        self.p, self.inplace = float(p), inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Zeroes each channel of (N, C, L) or (C, L) whole with probability p while training, scaling the
    rest by 1/(1-p); the identity in eval mode."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(Dropout):
    """Zeroes each channel of (N, C, H, W) or (C, H, W) whole with probability p while training,
    scaling the rest by 1/(1-p); the identity in eval mode."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)

