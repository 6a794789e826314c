"""pycnn.Tensor: a C++ tensor (``_C.Tensor``) plus what autograd needs.

Data lives in C++ (float32, or int64 for class labels), on the CPU or a CUDA GPU. ``numpy()`` shares
the memory of a CPU tensor; ``pycnn.from_numpy`` shares a numpy array's memory; ``pycnn.tensor``
copies, like ``torch.tensor``. DLPack works both ways (``pycnn.from_dlpack``, ``Tensor.__dlpack__``).
"""
import numbers

import numpy as np

from . import _C, autograd
from ._arguments import as_device

class _HookHandle:
    """What register_*_hook returns: ``remove()`` unregisters the hook (twice is harmless)."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Tensor:
    """An n-d array on a device, with autograd. Create with :func:`pycnn.tensor`."""

    __slots__ = ("_data", "requires_grad", "grad", "_fn", "_grad_hooks", "__weakref__")

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data._data
        if not isinstance(data, _C.Tensor):
            raise TypeError(f"Tensor: expected a _C.Tensor, got {type(data).__name__}; "
                            "use pycnn.tensor(data) to make a tensor from Python or numpy data")
        self._data = data
        self.grad = None
        self._fn = None
        self._grad_hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, requires_grad=False):
        t = cls.__new__(cls)
        t._data = data
        t.requires_grad = requires_grad
        t.grad = None
        t._fn = None
        t._grad_hooks = None
        return t

    # ----- attributes -------------------------------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self._data.ndim

    @property
    def ndim(self):
        return self._data.ndim

    def numel(self):
        return self._data.numel()

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        return self._data.device

    @property
    def is_leaf(self):
        return self._fn is None

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype != "float32":
            raise TypeError(f"requires_grad: only float32 tensors can require gradients, got {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    # ----- conversion -------------------------------------------------------------------------
    def numpy(self):
        """A numpy array: shares memory on the CPU, a copy from a GPU."""
        return self._data.numpy()

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item: expected a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def to(self, device):
        """This tensor on ``device`` ('cpu' or 'cuda'); differentiable."""
        device = as_device(device)
        if device == self.device:
            return self
        return tensor_ops.to_device(self, device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def detach(self):
        """The same data, cut from the tape."""
        return Tensor._wrap(self._data)

    def clone(self):
        return Tensor._wrap(self._data.clone(), requires_grad=False)

    def __deepcopy__(self, memo):
        """A copy of the data and the requires_grad flag, cut from the tape (like torch's leaves)."""
        copy = type(self).__new__(type(self))
        Tensor.__init__(copy, self._data.clone(), requires_grad=self.requires_grad)
        memo[id(self)] = copy
        return copy

    @property
    def _version(self):
        """In-place writes to this tensor's storage so far (shared by its views), as torch's
        ``Tensor._version``; autograd compares it to refuse a saved tensor that was changed."""
        return self._data._version

    def _check_inplace(self, op):
        # An in-place write is not recorded on the tape, so on a tensor that needs a gradient it
        # would give a wrong one: refuse it outside no_grad (torch refuses it for a leaf; a non-leaf
        # torch would record, pycnn cannot).
        if self.requires_grad and autograd.is_grad_enabled():
            if self._fn is None:
                raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an "
                                   "in-place operation (wrap it in `with pycnn.no_grad():`, as "
                                   "torch requires)")
            raise RuntimeError(f"{op}: in-place operations on a tensor that is part of the autograd "
                               "tape are not supported (pycnn records no in-place op); use the "
                               "out-of-place form, or write under pycnn.no_grad() to a detach()ed "
                               "tensor")

    def zero_(self):
        """Fills this tensor with zeros in place (bumps its version)."""
        self._check_inplace("zero_")
        self._data.zero_()
        return self

    def copy_(self, other):
        """Copies ``other``'s values into this tensor in place (no gradient; bumps its version)."""
        self._check_inplace("copy_")
        other = other._data if isinstance(other, Tensor) else tensor(other, device=self.device)._data
        self._data.copy_(other)
        return self

    def __dlpack__(self, stream=None, **kwargs):
        return self._data.dlpack().__dlpack__(**({"stream": stream} if stream is not None else {}))

    def __dlpack_device__(self):
        return self._data.dlpack().__dlpack_device__()

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    # ----- autograd ---------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Back-propagates from this tensor, as torch's ``Tensor.backward``: ``gradient`` defaults to 1
        for a one-element tensor. The saved tensors of every op passed through are freed afterwards
        (a second backward through them raises RuntimeError) unless ``retain_graph=True``.
        ``create_graph=True`` (higher-order gradients) is not supported."""
        if create_graph:
            raise NotImplementedError("backward: create_graph=True (higher-order gradients) is not "
                                      "supported: pycnn's backward kernels are not themselves "
                                      "recorded on the tape")
        if retain_graph is None:
            retain_graph = create_graph
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no tape "
                               "(did an input have requires_grad=True? was it made under no_grad?)")
        if gradient is None:
            if self.numel() != 1:
                raise ValueError(f"backward: grad can be implied only for a one-element tensor, got "
                                 f"shape {self.shape}; pass gradient= of the same shape")
            g = _C.from_numpy(np.ones(self.shape, dtype=np.float32))
            g = g.to(self.device)
        else:
            g = gradient._data if isinstance(gradient, Tensor) else tensor(gradient)._data
            if g.shape != self.shape:
                raise ValueError(f"backward: expected gradient of shape {self.shape}, got {g.shape}")
            g = g.to(self.device)
        autograd.backward(self, g, retain_graph=bool(retain_graph))

    def register_post_accumulate_grad_hook(self, hook):
        """Calls ``hook(self)`` each time backward has accumulated this leaf's gradient for the pass
        into ``.grad`` (torch's name and contract). Returns a handle whose ``remove()`` drops it."""
        if self._fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors (parameters) "
                               "have an accumulated gradient; this tensor was made by an op")
        if not callable(hook):
            raise TypeError(f"register_post_accumulate_grad_hook: expected a callable, got {type(hook).__name__}")
        if self._grad_hooks is None:
            self._grad_hooks = {}
        key = object()
        self._grad_hooks[key] = hook
        return _HookHandle(self._grad_hooks, key)

    def _accumulate_grad(self, g, owned=False):
        """.grad += g, in place once .grad exists (as PyTorch does), so a training step allocates
        no second copy of every parameter's gradient; then the post-accumulate-grad hooks run.
        ``owned``: nothing else holds g (autograd's _owned), so a new .grad may be g itself."""
        self._add_to_grad(g, owned)
        if self._grad_hooks:
            for hook in list(self._grad_hooks.values()):
                hook(self)

    def _add_to_grad(self, g, owned=False):
        if self.grad is None:
            # A copy unless owned: g may share storage with another leaf's gradient (a + b hands
            # both one tensor) or the caller's grad argument, and .grad is updated in place later.
            self.grad = Tensor._wrap(g if owned else g.clone())
        elif tuple(self.grad.shape) == tuple(g.shape) and self.grad.device == g.device:
            _C.add_inplace(self.grad._data, g)
        else:
            self.grad = Tensor._wrap(_C.binary_forward(self.grad._data, g, 0))

    # ----- shape ------------------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return tensor_ops.reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        return tensor_ops.flatten(self, start_dim, end_dim)

    def split(self, split_size, dim=0):
        return tensor_ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return tensor_ops.chunk(self, chunks, dim)

    def sum(self, dim=None, keepdim=False):  # as torch.sum: every element, or over dim (int or tuple)
        return tensor_ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):  # as torch.mean
        return tensor_ops.mean(self, dim, keepdim)

    # ----- indexing, shapes, reductions (see pycnn.tensor_ops for what runs on the host) ------
    def __getitem__(self, key):
        """``self[key]`` with torch's rules for ints, slices (step > 0), None, Ellipsis and one int64
        tensor/array/list index or bool mask; a new tensor (a copy, not a view: writing to it leaves
        ``self`` unchanged), differentiable. On the host (a CUDA tensor makes one round trip)."""
        return tensor_ops.index(self, key)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest value (flattened when ``dim`` is None), as torch.argmax."""
        return tensor_ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the smallest value (flattened when ``dim`` is None), as torch.argmin."""
        return tensor_ops.argmin(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        """The largest value (0-d), or ``(values, indices)`` along ``dim``, as torch.max."""
        return tensor_ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest value (0-d), or ``(values, indices)`` along ``dim``, as torch.min."""
        return tensor_ops.min(self, dim, keepdim)

    def squeeze(self, dim=None):
        return tensor_ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return tensor_ops.unsqueeze(self, dim)

    def permute(self, *dims):
        """Dimensions reordered, as torch.permute (a copy; on the host)."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return tensor_ops.permute(self, dims)

    def transpose(self, dim0, dim1):
        """Two dimensions swapped, as torch.transpose (a copy; on the host)."""
        return tensor_ops.transpose(self, dim0, dim1)

    def t(self):
        """The transpose of a tensor of at most 2 dimensions, as torch.t."""
        if self.ndim > 2:
            raise ValueError(f"t: expected a tensor of at most 2 dimensions, got shape {self.shape} "
                             "(use transpose or permute)")
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def T(self):
        """The dimensions reversed (the transpose of a matrix), as torch's ``.T``."""
        return self.permute(tuple(reversed(range(self.ndim))))

    # ----- dtypes and Python numbers ----------------------------------------------------------
    def float(self):
        """This tensor as float32 (itself when already float32), as torch's ``.float()``."""
        return tensor_ops.cast(self, "float32")

    def long(self):
        """This tensor as int64 (float values truncated toward zero), as torch's ``.long()``."""
        return tensor_ops.cast(self, "int64")

    def int(self):
        """As :meth:`long`: pycnn's only integer dtype is int64 (torch's ``.int()`` gives int32)."""
        return self.long()

    def bool(self):
        """``self != 0`` as pycnn's bool stand-in, an int64 0/1 :class:`BoolTensor` (see
        :func:`pycnn.tensor_ops.compare`)."""
        return self != 0

    def _scalar_value(self, kind):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to {kind}")
        return self.item()

    def __float__(self):
        return float(self._scalar_value("Scalar"))

    def __int__(self):
        return int(self._scalar_value("Scalar"))

    def __index__(self):
        if self.dtype != "int64" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return self.item()

    def __bool__(self):
        if self.numel() != 1:
            which = "no values" if self.numel() == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {which} is ambiguous")
        return bool(self.item())

    # ----- comparisons (int64 0/1 results: see pycnn.tensor_ops.compare) ----------------------
    __hash__ = object.__hash__  # identity, as torch: tensors are dict keys (optimizer state)

    def _compare(self, other, op):
        if not isinstance(other, (Tensor, numbers.Number, np.ndarray, np.generic, list, tuple)):
            return NotImplemented  # t == None is False, as in torch
        return tensor_ops.compare(self, other, op)

    def __eq__(self, other):
        return self._compare(other, "eq")

    def __ne__(self, other):
        return self._compare(other, "ne")

    def __lt__(self, other):
        return self._compare(other, "lt")

    def __le__(self, other):
        return self._compare(other, "le")

    def __gt__(self, other):
        return self._compare(other, "gt")

    def __ge__(self, other):
        return self._compare(other, "ge")

    # ----- elementwise math and matrix products -----------------------------------------------
    def exp(self):
        return tensor_ops.exp(self)

    def log(self):
        return tensor_ops.log(self)

    def sqrt(self):
        return tensor_ops.sqrt(self)

    def abs(self):
        return tensor_ops.absolute(self)

    __abs__ = abs

    def pow(self, exponent):
        return tensor_ops.power(self, exponent)

    __pow__ = pow

    def __rpow__(self, base):
        return tensor_ops.rpow(self, base)

    def clamp(self, min=None, max=None):
        """min(max(self, min), max) elementwise, as torch.clamp (on the device)."""
        return tensor_ops.clip(self, min, max)

    clip = clamp

    def matmul(self, other):
        """The matrix product of 1-d or 2-d tensors, as torch.matmul (on the device)."""
        return tensor_ops.matmul(self, other)

    def __matmul__(self, other):
        return self.matmul(other)

    # ----- arithmetic with broadcasting -------------------------------------------------------
    def _binary(self, other, op, reverse=False):
        # torch's promotion: int64 with a float32 tensor or a Python float computes in float32;
        # int64 with a Python int stays int64, which pycnn's float32 kernels refuse with a TypeError;
        # true division of int64 always gives float32, as torch: (pred == y).sum() / len(y)
        keeps_int = isinstance(other, numbers.Integral) and self.dtype == "int64"
        if not isinstance(other, Tensor):
            if isinstance(other, numbers.Number):
                other = Tensor._wrap(tensor_ops.common.scalar(other, self._data))
            else:
                other = tensor(other, device=self.device)
        a, b = (other, self) if reverse else (self, other)
        if (op == "div" and "int64" in (a.dtype, b.dtype)) or (not keeps_int and a.dtype != b.dtype):
            a, b = tensor_ops.cast(a, "float32"), tensor_ops.cast(b, "float32")
        return tensor_ops.binary(a, b, op)

    def __add__(self, other):
        return self._binary(other, "add")

    def __radd__(self, other):
        return self._binary(other, "add", reverse=True)

    def __sub__(self, other):
        return self._binary(other, "sub")

    def __rsub__(self, other):
        return self._binary(other, "sub", reverse=True)

    def __mul__(self, other):
        return self._binary(other, "mul")

    def __rmul__(self, other):
        return self._binary(other, "mul", reverse=True)

    def __truediv__(self, other):
        return self._binary(other, "div")

    def __rtruediv__(self, other):
        return self._binary(other, "div", reverse=True)

    def __neg__(self):
        return self._binary(-1.0, "mul")

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        return f"tensor({np.array2string(self.numpy(), precision=4, separator=', ')}{dev}{grad})"


def as_tensor(value, op, name):
    """``value`` itself, when it is a pycnn.Tensor (the argument check every op starts with)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: expected {name} to be a pycnn.Tensor, got {describe_non_tensor(value)}")
    return value


def describe_non_tensor(value):
    """``ndarray of dtype uint8 (convert it with pycnn.tensor(x) ...)`` for an array, else the type's name."""
    dtype = getattr(value, "dtype", None)
    if isinstance(value, np.ndarray) or (dtype is not None and hasattr(value, "shape")):
        return (f"{type(value).__name__} of dtype {dtype} (Modules take pycnn Tensors: convert with "
                f"pycnn.tensor(x), which makes float data float32; InferenceSession and optimize_for_inference's "
                f"plan take numpy arrays)")
    return type(value).__name__


def as_float_tensor(value, op, name="input"):
    """``value`` itself, when it is a float32 pycnn.Tensor."""
    as_tensor(value, op, name)
    if value.dtype != "float32":
        raise TypeError(f"{op}: expected {name} to be float32, got {value.dtype}")
    return value


# Autograd wraps each op's result in this class; it cannot import this module, which imports it.
autograd.Tensor = Tensor

# The ops behind the methods above need Tensor defined first, so they are imported once, here.
# Importing tensor_ops.comparison also makes the value-moving methods above keep a BoolTensor a mask.
from . import tensor_ops  # noqa: E402
from .creation import from_dlpack, from_numpy, ones, randn, tensor, zeros  # noqa: E402,F401
from .tensor_ops.comparison import BoolTensor  # noqa: E402,F401
