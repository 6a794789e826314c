"""Shape ops: reshape, flatten, squeeze, unsqueeze, permute, transpose, cat, stack, split, chunk, and
moving a tensor between devices. All are differentiable; reshapes are views, permutes are copies (pycnn
tensors are contiguous) computed on the host.
"""
import math

import numpy as np

from .. import _C
from .._arguments import as_int
from ..autograd import Function
from ..tensor import Tensor, as_tensor
from .common import dim_index, from_host


class ReshapeFunction(Function):
    def forward(self, x, shape):
        self.in_shape = list(x.shape)
        return x.view(list(shape))

    def backward(self, grad):
        return grad.view(self.in_shape), None


def reshape(input, shape):
    """The same data viewed with a new shape; one dimension may be -1."""
    as_tensor(input, "reshape", "input")
    shape = [as_int(d, "reshape", "shape") for d in shape]
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: at most one dimension may be -1, got {tuple(shape)}")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or input.numel() % known:
            raise ValueError(f"reshape: cannot view shape {input.shape} as {tuple(shape)}")
        shape[shape.index(-1)] = input.numel() // known
    return ReshapeFunction.apply(input, tuple(shape))


def flatten(input, start_dim=1, end_dim=-1):
    """Merges dimensions start_dim..end_dim (torch.flatten; note F.flatten here defaults to
    start_dim=1 like nn.Flatten, Tensor.flatten to 0 like torch.flatten)."""
    as_tensor(input, "flatten", "input")
    shape = list(input.shape)
    n = len(shape)
    if n == 0:
        return reshape(input, (1,))
    s = start_dim + n if start_dim < 0 else start_dim
    e = end_dim + n if end_dim < 0 else end_dim
    if not 0 <= s <= e < n:
        raise ValueError(f"flatten: dims ({start_dim}, {end_dim}) out of range for shape {tuple(shape)}")
    merged = math.prod(shape[s:e + 1])
    return reshape(input, tuple(shape[:s] + [merged] + shape[e + 1:]))


def squeeze(input, dim=None):
    """``input`` without dimensions of size 1: all of them, or those of ``dim`` (an int or a tuple;
    a listed dimension whose size is not 1 is kept), as torch.squeeze. A view (differentiable)."""
    as_tensor(input, "squeeze", "input")
    shape = tuple(input.shape)
    if dim is None:
        dims = set(range(len(shape)))
    else:
        listed = [dim_index(d, len(shape), "squeeze") for d in (dim if isinstance(dim, (tuple, list))
                                                                 else (dim,))]
        dims = set(listed)
        if len(dims) != len(listed):
            raise ValueError(f"squeeze: a dim appears multiple times in the list of dims {tuple(dim)}")
    return reshape(input, tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1)))


def unsqueeze(input, dim):
    """``input`` with a dimension of size 1 inserted at ``dim`` (in [-ndim-1, ndim]), as
    torch.unsqueeze. A view (differentiable)."""
    as_tensor(input, "unsqueeze", "input")
    shape = tuple(input.shape)
    dim = dim_index(dim, len(shape) + 1, "unsqueeze")
    return reshape(input, shape[:dim] + (1,) + shape[dim:])


class PermuteFunction(Function):
    def forward(self, x, dims):
        self.dims = dims
        return from_host(np.transpose(x.numpy(), dims), x.device)

    def backward(self, grad):
        return from_host(np.transpose(grad.numpy(), np.argsort(self.dims)), grad.device), None


def permute(input, dims):
    """``input`` with its dimensions reordered: output dimension i is input dimension dims[i], as
    torch.permute. A copy (pycnn tensors are contiguous), computed on the host (a CUDA tensor makes
    one round trip); differentiable."""
    as_tensor(input, "permute", "input")
    n = input.ndim
    dims = tuple(dim_index(d, n, "permute") for d in dims)
    if sorted(dims) != list(range(n)):
        raise ValueError(f"permute: expected a permutation of the {n} dimensions of shape "
                         f"{tuple(input.shape)}, got {dims}")
    if dims == tuple(range(n)):
        return input
    return PermuteFunction.apply(input, dims)


def transpose(input, dim0, dim1):
    """``input`` with dimensions ``dim0`` and ``dim1`` swapped, as torch.transpose (a copy; see
    :func:`permute`)."""
    as_tensor(input, "transpose", "input")
    dims = list(range(input.ndim))
    a, b = dim_index(dim0, input.ndim, "transpose"), dim_index(dim1, input.ndim, "transpose")
    if input.ndim:
        dims[a], dims[b] = dims[b], dims[a]
    return permute(input, dims)


class CatFunction(Function):
    def forward(self, *xs, dim):
        self.inputs_raw, self.dim = xs, dim
        return _C.cat_forward(list(xs), dim)

    def backward(self, grad):
        return tuple(_C.cat_backward(grad, list(self.inputs_raw), self.dim,
                                     list(self.needs_input_grad)))


def _tensor_list(tensors, op):
    """Checks that ``tensors`` is a non-empty list or tuple of pycnn Tensors."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of pycnn.Tensor, got {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        as_tensor(t, op, f"tensors[{i}]")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors, got an empty one")


def cat(tensors, dim=0):
    """Concatenates float32 tensors along ``dim`` (negative counts from the end), like torch.cat:
    all shapes must match except along ``dim``. The gradient is split back to each input."""
    _tensor_list(tensors, "cat")
    dim = as_int(dim, "cat", "dim")
    return CatFunction.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """Joins same-shaped tensors along a new dimension ``dim`` (in [-ndim-1, ndim]), like
    torch.stack: each gains a dimension of size 1 there and they are concatenated."""
    _tensor_list(tensors, "stack")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise ValueError(f"stack: expected every tensor of shape {shape} (that of tensors[0]), got "
                             f"tensors[{i}] of shape {tuple(t.shape)}")
    dim = as_int(dim, "stack", "dim")
    n = len(shape) + 1
    if not -n <= dim < n:
        raise ValueError(f"stack: expected dim in [{-n}, {n - 1}] for {n - 1}-d tensors, got {dim}")
    dim %= n
    new_shape = shape[:dim] + (1,) + shape[dim:]
    return cat([reshape(t, new_shape) for t in tensors], dim)


class SplitFunction(Function):
    """split's node on the tape. forward cuts ``x`` along ``dim`` into every part at once (one C++
    pass: cat's backward is split's forward) and hands them out in ``parts_out``; backward
    concatenates the parts' gradients, zeros for a part without one, into the input's gradient in one
    pass (cat's forward), where one full-size gradient per part, added up, took k passes.

    pycnn's tape gives a Function one output, so this node's output is an empty tensor and each part is
    the output of a :class:`SplitPartFunction` that reads it: a part's backward files its gradient in
    ``gradients`` and passes an empty one on, and the tape runs this node after every part that got a
    gradient (reverse topological order). Nothing is saved: the parts may be written in place."""

    def forward(self, x, shapes, dim, parts_out):
        self.shapes, self.dim, self.device = shapes, dim, x.device
        self.gradients = [None] * len(shapes)  # filled by the parts' backward, emptied by this one
        if x.dtype == "float32":
            shape_donors = [_C.empty(shape, "float32", x.device) for shape in shapes]
            parts_out.extend(_C.cat_backward(x, shape_donors, dim, [True] * len(shapes)))
        else:  # integer data (no gradient): cat's kernels take float32 alone
            ends = np.cumsum([shape[dim] for shape in shapes])[:-1]
            parts_out.extend(from_host(part, x.device) for part in np.split(x.numpy(), ends, axis=dim))
        return _C.empty([0], "float32", x.device)

    def backward(self, grad):
        gradients, self.gradients = self.gradients, [None] * len(self.shapes)
        parts = [g if g is not None else _C.zeros(shape, "float32", self.device)
                 for g, shape in zip(gradients, self.shapes)]
        return _C.cat_forward(parts, self.dim), None, None, None


class SplitPartFunction(Function):
    """One part of a split: forward returns the part SplitFunction cut; backward gives the part's
    gradient to that SplitFunction (``split``, None where no gradient is recorded) and an empty
    gradient to its empty output."""

    def forward(self, handle, split, index, part):
        self.split, self.index = split, index
        return part

    def backward(self, grad):
        self.split.gradients[self.index] = grad
        return _C.empty([0], "float32", grad.device), None, None, None


def _parts(input, sizes, dim):
    """``input`` cut along ``dim`` into consecutive parts of ``sizes`` (see :class:`SplitFunction`)."""
    shapes = [tuple(input.shape[:dim]) + (size,) + tuple(input.shape[dim + 1:]) for size in sizes]
    parts = []
    handle = SplitFunction.apply(input, shapes, dim, parts)
    return tuple(SplitPartFunction.apply(handle, handle._fn, i, part) for i, part in enumerate(parts))


def _even_sizes(n, size):
    """Parts of ``size`` covering a dimension of ``n``, the last smaller if it must be (one empty part
    for an empty dimension)."""
    return [min(size, n - begin) for begin in range(0, n, size)] if n else [0]


def split(tensor, split_size_or_sections, dim=0):
    """torch.split: ``tensor`` cut along ``dim`` into parts of ``split_size_or_sections`` elements (an
    int: every part that size, the last one smaller if it must be) or of the sizes listed (which must
    add up to the dimension). A tuple of tensors, each differentiable."""
    as_tensor(tensor, "split", "tensor")
    dim = dim_index(dim, tensor.ndim, "split")
    n = tensor.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [as_int(s, "split", "split_size_or_sections") for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: expected sizes that add up to {n} (dimension {dim} of a tensor of shape "
                             f"{tuple(tensor.shape)}), got {sizes}")
    else:
        size = as_int(split_size_or_sections, "split", "split_size_or_sections")
        if size < 0 or (size == 0 and n):
            raise ValueError(f"split: expected a positive split size (0 only for an empty dimension), got {size}")
        sizes = _even_sizes(n, size)
    return _parts(tensor, sizes, dim)


def chunk(input, chunks, dim=0):
    """torch.chunk: ``input`` cut along ``dim`` into at most ``chunks`` parts of ceil(size / chunks)
    elements (fewer parts when they run out, the last smaller)."""
    as_tensor(input, "chunk", "input")
    chunks = as_int(chunks, "chunk", "chunks")
    if chunks < 1:
        raise ValueError(f"chunk: expected chunks greater than 0, got {chunks}")
    dim = dim_index(dim, input.ndim, "chunk")
    n = input.shape[dim]
    return _parts(input, _even_sizes(n, max(1, -(-n // chunks))), dim)


class ToDeviceFunction(Function):
    def forward(self, x, device):
        self.source = x.device
        return x.to(device)

    def backward(self, grad):
        return grad.to(self.source), None


def to_device(input, device):
    """``input`` copied to ``device`` ('cpu' or 'cuda'; Tensor.to checks the name); the gradient goes
    back to the source device."""
    return ToDeviceFunction.apply(input, device)
