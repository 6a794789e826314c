"""one_hot (torch.nn.functional.one_hot): int64 class indices (*) -> (*, num_classes) of 0/1 int64,
on the host (a CUDA tensor makes one round trip); no gradient, as torch's."""
import numpy as np

from ..._arguments import as_int
from ...tensor import Tensor, as_tensor
from ...tensor_ops.common import from_host


def one_hot(tensor, num_classes=-1):
    """A 1 at each index's class and 0 elsewhere, the classes a new last dimension of ``num_classes``
    (-1: the largest index + 1), as torch.nn.functional.one_hot. Indices must be int64 in [0,
    num_classes)."""
    as_tensor(tensor, "one_hot", "tensor")
    if tensor.dtype != "int64":
        raise TypeError(f"one_hot: expected an int64 tensor of class indices, got {tensor.dtype}")
    num_classes = as_int(num_classes, "one_hot", "num_classes")
    idx = tensor.numpy()
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {idx.min()}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer the number of classes from an empty tensor")
        num_classes = int(idx.max()) + 1
    elif num_classes < 0 or (idx.size and idx.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be smaller than num_classes={num_classes}, got "
                         f"{idx.max() if idx.size else num_classes}")
    out = np.zeros(idx.shape + (num_classes,), np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return Tensor._wrap(from_host(out, tensor.device, np.int64))
