"""dropout: inverted dropout with a Philox mask that CPU and CUDA draw alike (kernels
cpp/src/{cpu,cuda}/dropout.*), and the generator that seeds it (``pycnn.manual_seed``)."""
import numpy as np

from ... import _C
from ..._arguments import as_bool, as_float, as_int
from ...autograd import Function
from ...tensor import as_tensor


_DEFAULT_SEED = 67280421310721  # torch's default seed, so an unseeded run is reproducible too
_rng = np.random.default_rng(_DEFAULT_SEED)


def manual_seed(seed):
    """Seeds the generator that draws dropout's per-call seeds (``pycnn.manual_seed``)."""
    global _rng
    seed = as_int(seed, "manual_seed", "seed")
    if seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative seed, got {seed}")
    _rng = np.random.default_rng(seed)


def generator():
    """The generator dropout draws its per-call seeds from (checkpoints save and restore its state)."""
    return _rng


class DropoutFunction(Function):
    def forward(self, x, p, seed):
        y, self.mask = _C.dropout_forward(x, p, seed)
        return y

    def backward(self, grad):
        return _C.dropout_backward(grad, self.mask), None, None


def dropout(input, p=0.5, training=True, inplace=False, seed=None):
    """Inverted dropout: each element is zeroed with probability ``p`` and the kept ones are scaled
    by 1 / (1 - p). input (*) -> same shape. Identity when ``training`` is False.

    The mask comes from Philox4x32-10 keyed by ``seed`` (element i is kept iff its uniform draw is
    >= p), so CPU and CUDA give the same mask for the same seed; ``seed=None`` draws one from the
    generator that :func:`manual_seed` seeds. ``inplace`` is accepted for torch's signature; the
    result is always a new tensor (same values and gradients)."""
    as_tensor(input, "dropout", "input")
    as_bool(inplace, "dropout", "inplace")
    training = as_bool(training, "dropout", "training")
    p = as_float(p, "dropout", "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: expected p in [0, 1], got {p}")
    if not training:
        return input
    if seed is None:
        seed = int(_rng.integers(0, 2**63))
    else:
        seed = as_int(seed, "dropout", "seed")
        if not 0 <= seed < 2**64:
            raise ValueError(f"dropout: expected seed in [0, 2**64), got {seed}")
    return DropoutFunction.apply(input, p, seed)
