"""pycnn: a small, readable CNN engine. C++ and CUDA kernels with forward and backward passes,
driven from Python with PyTorch's names and semantics."""
from . import _threads  # loads _C (see _threads.py: its OpenMP threads and the thread governor)
from . import _C, _arguments, cuda, tensor_ops
from .autograd import enable_grad, is_grad_enabled, no_grad
from .files import load, save
from .tensor import Tensor, from_dlpack, from_numpy, ones, randn, tensor, zeros
from . import nn
from . import optim
from .summary import summary
from ._threads import openmp_wait_policy

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


split = tensor_ops.split  # torch.split and torch.chunk, differentiable (pycnn/tensor_ops/shape.py)
chunk = tensor_ops.chunk


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


def use_deterministic_algorithms(mode, *, warn_only=False):
    """As torch.use_deterministic_algorithms: with ``mode`` True, the CPU kernels give results bitwise
    independent of the thread count (and so of the machine's core count), so a seeded training run
    repeats exactly on any machine with the same instruction set (pycnn.set_num_threads, PYCNN_GEMM_ISA).

    By default, conv2d's weight and bias gradients are summed per thread and then across threads, so
    the last bits, and after a few hundred steps the trained weights, change with the thread count;
    every other CPU kernel is deterministic anyway. The thread governor (PYCNN_THREAD_GOVERNOR, see
    the README's "Threads and determinism") runs ops on one thread while other processes keep the
    cores busy, so without this mode a repeated run may differ even at the same set_num_threads.
    Deterministic mode sums those gradients over fixed groups of the batch instead: LeNet-5 trained
    0-4% slower on 1 and 2 threads (tools/bench.py contention). It does not change the CUDA kernels.
    ``warn_only`` is accepted for torch's signature; pycnn has no op that would have to raise.
    """
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms: expected mode to be a bool, got {type(mode).__name__}")
    _C.set_deterministic(mode)


def are_deterministic_algorithms_enabled():
    """Whether :func:`use_deterministic_algorithms` is on (torch's name)."""
    return _C.get_deterministic()
