"""pycnn.nn.functional: every layer's op as an autograd Function pairing its C++ forward and backward
kernels, with torch.nn.functional's names, arguments and defaults.

One file per family, as torch.nn.functional's sections and pycnn.nn.layers:

    conv.py           conv2d
    linear.py         linear
    pooling.py        max_pool2d, avg_pool2d, adaptive_avg_pool2d
    normalization.py  batch_norm, local_response_norm
    dropout.py        dropout (and manual_seed for its masks)
    activation.py     relu, leaky_relu, elu, gelu, silu, softplus, sigmoid, tanh, hardtanh, relu6,
                      hardsigmoid, hardswish, prelu, softmax, log_softmax
    loss.py           cross_entropy, nll_loss, mse_loss

Each op checks the Python-level arguments (types, pairs) and leaves shape checks to its C++ binding
(cpp/bindings/<op>.cpp), which names the op, what was expected and what came. The tensor-level ops
(reshape, cat, clip, indexing, reductions, ...) live in pycnn.tensor_ops; ``flatten``, ``reshape``,
``cat``, ``stack`` and ``clip`` are re-exported here, where pycnn's API has always offered them.

Two files share their name with their op (linear.py, dropout.py): ``F.linear`` is the function; the
module is reached by import, ``from pycnn.nn.functional.linear import LinearFunction``.
"""
from ...tensor_ops import cat, clip, flatten, reshape, stack
from .activation import (elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax,
                         prelu, relu, relu6, sigmoid, silu, softmax, softplus, tanh)
from .conv import conv2d
from .dropout import dropout, manual_seed
from .linear import linear
from .loss import cross_entropy, mse_loss, nll_loss
from .normalization import batch_norm, local_response_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "cat", "clip", "conv2d", "cross_entropy",
           "dropout", "elu", "flatten", "gelu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu",
           "linear", "local_response_norm", "log_softmax", "manual_seed", "max_pool2d", "mse_loss",
           "nll_loss", "prelu", "relu", "relu6", "reshape", "sigmoid", "silu", "softmax", "softplus",
           "stack", "tanh"]
