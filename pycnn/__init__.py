"""pycnn: a small, readable CNN engine. C++ and CUDA kernels with forward and backward passes,
driven from Python with PyTorch's names and semantics."""
from . import _C, _arguments, cuda, tensor_ops
from .autograd import enable_grad, is_grad_enabled, no_grad
from .files import load, save
from .tensor import Tensor, from_dlpack, from_numpy, ones, randn, tensor, zeros
from . import nn
from . import optim
from .summary import summary

__version__ = "0.1.0"

# Submodules loaded on first use (pycnn.onnx needs the optional onnx package; the others cost
# import time that a user of the core never pays).
_LAZY = ("data", "inference", "models", "onnx", "train", "transfer", "viz", "cli")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name == "optimize_for_inference":  # pycnn.inference.optimize_for_inference, loaded on first use
        import importlib

        return importlib.import_module(f"{__name__}.inference").optimize_for_inference
    raise AttributeError(f"module 'pycnn' has no attribute {name!r}")


def cat(tensors, dim=0):
    """Concatenates tensors along ``dim`` (differentiable), like torch.cat."""
    return tensor_ops.cat(tensors, dim)


def stack(tensors, dim=0):
    """Joins same-shaped tensors along a new dimension ``dim`` (differentiable), like torch.stack."""
    return tensor_ops.stack(tensors, dim)


def manual_seed(seed):
    """Seeds pycnn's random generators: parameter initialisation and dropout masks."""
    nn.init.manual_seed(seed)
    nn.functional.manual_seed(seed)


def get_num_threads():
    return _C.get_num_threads()


def set_num_threads(n):
    """Threads the CPU kernels use (OpenMP)."""
    n = _arguments.as_int(n, "set_num_threads", "n")
    if not 0 < n < 2**31:
        raise ValueError(f"set_num_threads: expected a positive count below 2**31, got {n}")
    _C.set_num_threads(n)
