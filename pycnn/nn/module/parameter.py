"""Parameter: the tensor a Module trains, as torch.nn.Parameter."""
import numpy as np

from ... import _C
from ...tensor import Tensor, tensor


class Parameter(Tensor):
    """A leaf float32 tensor that a Module registers as trainable (``requires_grad=True`` by default).

    ``data`` may be a pycnn.Tensor (its memory is shared, like torch.nn.Parameter), a numpy array or
    nested lists (copied, converted to float32), or a raw ``_C.Tensor``."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C.from_numpy(np.empty((0,), dtype=np.float32))
        elif isinstance(data, Tensor):
            data = data._data
        elif not isinstance(data, _C.Tensor):
            array = np.asarray(data)
            if array.dtype.kind != "f":
                raise TypeError(f"Parameter: expected floating-point data, got numpy dtype {array.dtype}")
            data = tensor(array, dtype="float32")._data
        if data.dtype != "float32":
            raise TypeError(f"Parameter: expected float32 data, got {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
