"""pycnn.nn.functional: every layer's op as an autograd Function pairing its C++ forward and backward
kernels, with torch.nn.functional's names, arguments and defaults.

One file per family, as torch.nn.functional's sections and pycnn.nn.layers:

    conv.py           conv2d
    conv_transpose.py conv_transpose2d
    linear.py         linear
    pooling.py        max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d
    normalization.py  batch_norm, local_response_norm
    layer_norm.py     layer_norm, group_norm, instance_norm (one row normalisation)
    normalize.py      normalize (rows divided by their p-norm), cosine_similarity
    pixel_shuffle.py  pixel_shuffle, pixel_unshuffle
    padding.py        pad (and the Pad Function ONNX's Pad import shares)
    interpolate.py    interpolate (and the resize ONNX Resize/Upsample import to)
    one_dimensional.py conv1d, max_pool1d, avg_pool1d (the 2-d kernels on (N, C, 1, L))
    dropout.py        dropout, dropout1d, dropout2d (and manual_seed for their masks)
    activation.py     relu, leaky_relu, elu, gelu, silu, softplus, sigmoid, tanh, hardtanh, relu6,
                      hardsigmoid, hardswish, prelu, softmax, log_softmax; composed of those: selu,
                      celu, mish, logsigmoid, softsign, tanhshrink, softmin, glu
    loss.py           cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss,
                      binary_cross_entropy, binary_cross_entropy_with_logits, kl_div
    one_hot.py        one_hot

Each op checks the Python-level arguments (types, pairs) and leaves shape checks to its C++ binding
(cpp/bindings/<op>.cpp), which names the op, what was expected and what came. The tensor-level ops
(reshape, cat, clip, indexing, reductions, ...) live in pycnn.tensor_ops; ``flatten``, ``reshape``,
``cat``, ``stack`` and ``clip`` are re-exported here, where pycnn's API has always offered them; the
other names the single functional.py module held (the tensor-level ops such as ``binary`` and
``max_reduce``, every op's Function class) still resolve here, with a DeprecationWarning naming
their new home.

Files that share their name with their op (linear.py, dropout.py, layer_norm.py, normalize.py,
one_hot.py): ``F.linear`` is the function; the module is reached by import,
``from pycnn.nn.functional.linear import LinearFunction``.
"""
import warnings

from ... import tensor_ops as _tensor_ops
from ...autograd import Function as _Function
from ...tensor import Tensor as _Tensor
from ...tensor_ops import arithmetic as _arithmetic
from ...tensor_ops import cat, clip, flatten, reshape, stack
from ...tensor_ops import comparison as _comparison
from ...tensor_ops import indexing as _indexing
from ...tensor_ops import reduction as _reduction
from ...tensor_ops import shape as _shape
from . import activation as _activation
from . import conv as _conv
from . import loss as _loss
from . import normalization as _normalization
from . import pooling as _pooling
from .activation import (celu, elu, gelu, glu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax,
                         logsigmoid, mish, prelu, relu, relu6, selu, sigmoid, silu, softmax, softmin, softplus,
                         softsign, tanh, tanhshrink)
from .conv import conv2d
from .conv_transpose import conv_transpose2d
from .dropout import dropout, dropout1d, dropout2d, manual_seed
from .linear import linear
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div,
                   l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from .normalization import batch_norm, local_response_norm
from .layer_norm import group_norm, instance_norm, layer_norm
from .normalize import cosine_similarity, normalize
from .interpolate import interpolate
from .one_dimensional import avg_pool1d, conv1d, max_pool1d
from .one_hot import one_hot
from .padding import pad
from .pixel_shuffle import pixel_shuffle, pixel_unshuffle
from .pooling import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from .dropout import DropoutFunction as _DropoutFunction
from .linear import LinearFunction as _LinearFunction

__all__ = ["adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool1d", "avg_pool2d", "batch_norm",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cat", "celu", "clip", "conv1d", "conv2d",
           "conv_transpose2d", "cosine_similarity", "cross_entropy", "dropout", "dropout1d", "dropout2d", "elu",
           "flatten", "gelu", "glu", "group_norm", "hardsigmoid", "hardswish", "hardtanh", "huber_loss",
           "instance_norm", "interpolate", "kl_div", "l1_loss", "layer_norm", "leaky_relu", "linear",
           "local_response_norm", "log_softmax", "logsigmoid", "manual_seed", "max_pool1d", "max_pool2d", "mish",
           "mse_loss", "nll_loss", "normalize", "one_hot", "pad", "pixel_shuffle", "pixel_unshuffle", "prelu",
           "relu", "relu6", "reshape", "selu", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softmin", "softplus",
           "softsign", "stack", "tanh", "tanhshrink"]


def _moved_names():
    """What the single functional.py module offered before the split that lives elsewhere now: the
    tensor-level ops (pycnn.tensor_ops), every op's autograd Function, Function and Tensor."""
    moved = {name: getattr(_tensor_ops, name) for name in _tensor_ops.__all__}
    moved.update(max_reduce=_tensor_ops.max, min_reduce=_tensor_ops.min, Function=_Function,
                 Tensor=_Tensor, DropoutFunction=_DropoutFunction, LinearFunction=_LinearFunction)
    for module in (_activation, _conv, _loss, _normalization, _pooling, _arithmetic, _comparison,
                   _indexing, _reduction, _shape):
        moved.update({name: value for name, value in vars(module).items() if name.endswith("Function")})
    return moved


_MOVED = _moved_names()


def __getattr__(name):
    """Old names keep working, with a DeprecationWarning that says where each lives now."""
    if name in _MOVED:
        value = _MOVED[name]
        home = getattr(value, "__module__", None) or "pycnn.tensor_ops"
        warnings.warn(f"pycnn.nn.functional.{name} moved to {home}.{getattr(value, '__name__', name)}",
                      DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module 'pycnn.nn.functional' has no attribute {name!r}")
