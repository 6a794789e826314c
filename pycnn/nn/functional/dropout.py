"""dropout: inverted dropout with a Philox mask that CPU and CUDA draw alike (kernels
cpp/src/{cpu,cuda}/dropout.*), and the generator that seeds it (``pycnn.manual_seed``); dropout1d and
dropout2d drop whole channels with a mask of that kernel's drawn per (sample, channel)."""
import numpy as np

from ... import _C
from ..._arguments import as_bool, as_float, as_int
from ...autograd import Function
from ...creation import ones
from ...tensor import Tensor, as_tensor
from ...tensor_ops import binary


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
    return DropoutFunction.apply(input, p, _seed(seed, "dropout"))


def _seed(seed, op):
    """``seed``, checked, or one drawn from the generator :func:`manual_seed` seeds."""
    if seed is None:
        return int(_rng.integers(0, 2**63))
    seed = as_int(seed, op, "seed")
    if not 0 <= seed < 2**64:
        raise ValueError(f"{op}: expected seed in [0, 2**64), got {seed}")
    return seed


def _channel_dropout(input, p, training, inplace, seed, op, ranks):
    """Zeroes whole channels: dimension 1 of (N, C, *) (dimension 0 of an unbatched input of the
    smaller rank in ``ranks``), each with probability p, the rest scaled by 1 / (1 - p): the dropout
    kernel's mask drawn on (N, C, 1, ...) ones, multiplied in (its gradient is the same mask)."""
    as_tensor(input, op, "input")
    as_bool(inplace, op, "inplace")
    training = as_bool(training, op, "training")
    p = as_float(p, op, "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: expected p in [0, 1], got {p}")
    if input.ndim not in ranks:
        raise ValueError(f"{op}: expected a {' or '.join(f'{r}-d' for r in ranks)} input ((N, C, *) or unbatched "
                         f"(C, *)), got shape {tuple(input.shape)}")
    if input.dtype != "float32":
        raise TypeError(f"{op}: expected a float32 input, got {input.dtype}")
    if not training:
        return input
    shape = list(input.shape)
    batched = input.ndim == max(ranks)
    mask_shape = shape[:2 if batched else 1] + [1] * (input.ndim - (2 if batched else 1))
    mask, _ = _C.dropout_forward(ones(*mask_shape, device=input.device)._data, p, _seed(seed, op))
    return binary(input, Tensor._wrap(mask), "mul")


def dropout1d(input, p=0.5, training=True, inplace=False, seed=None):
    """Channel-wise dropout of (N, C, L) or unbatched (C, L), as torch.nn.functional.dropout1d: each
    channel's whole row zeroed with probability ``p``, the kept ones scaled by 1 / (1 - p). ``seed`` and
    ``inplace`` as :func:`dropout`'s."""
    return _channel_dropout(input, p, training, inplace, seed, "dropout1d", (2, 3))


def dropout2d(input, p=0.5, training=True, inplace=False, seed=None):
    """Channel-wise dropout of (N, C, H, W) or unbatched (C, H, W), as torch.nn.functional.dropout2d
    (Tompson et al.: neighbouring pixels are correlated, so dropping single ones regularises little):
    each channel's whole plane zeroed with probability ``p``, the kept ones scaled by 1 / (1 - p).
    ``seed`` and ``inplace`` as :func:`dropout`'s. (torch reads a 3-d input as (N, C, L) with a
    deprecation warning; pycnn reads it as its future (C, H, W).)"""
    return _channel_dropout(input, p, training, inplace, seed, "dropout2d", (3, 4))
