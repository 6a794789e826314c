"""ONNX Constant, ConstantOfShape, Cast and CastLike: computed at import (or on shapes at run time),
never in the network, which computes in float32."""
import numpy as np

from .common import ints
from .registry import importer

_CONSTANT_VALUES = ("value", "value_float", "value_floats", "value_int", "value_ints")


def _constant_problems(node, used):
    keys = [k for k in _CONSTANT_VALUES if k in node.attrs]
    return [] if len(keys) == 1 else ["expected exactly one of value, value_float(s), value_int(s)"]


@importer("Constant", arrays_only=True, check=_constant_problems, inputs=(0, 0), attrs=_CONSTANT_VALUES)
def import_constant(node, inputs):
    for key in _CONSTANT_VALUES:
        if key in node.attrs:
            value = node.attrs[key]
            if key in ("value_float", "value_floats"):
                return (np.asarray(value, dtype=np.float32),)
            if key in ("value_int", "value_ints"):
                return (np.asarray(value, dtype=np.int64),)
            return (value,)
    raise ValueError(f"Constant {node.name!r}: no value attribute")


@importer("ConstantOfShape", arrays_only=True, attrs=("value",))
def import_constant_of_shape(node, inputs):
    shape = ints(inputs[0])
    if min(shape, default=0) < 0 or int(np.prod(shape, dtype=np.float64)) > 1 << 28:
        raise ValueError(f"ConstantOfShape {node.name!r}: shape {shape} is negative or too large")
    value = node.attr("value", np.zeros(1, dtype=np.float32))
    return (np.full(shape, np.asarray(value).reshape(-1)[0], dtype=np.asarray(value).dtype),)


@importer("Cast", arrays_only=True, attrs=("to", "saturate"))
def import_cast(node, inputs):
    to = node.attr("to", 1)  # ONNX data types: float16 and double become float32, bool stays, the rest int64
    dtype = {1: np.float32, 10: np.float32, 11: np.float32, 9: np.bool_}.get(to, np.int64)
    return (np.asarray(inputs[0]).astype(dtype),)


@importer("CastLike", arrays_only=True, type_only_inputs=(1,), inputs=(2, 2), attrs=("saturate",))
def import_cast_like(node, inputs):
    """CastLike(value, like): only ``like``'s type matters; a network value is float32."""
    like = inputs[1]
    dtype = np.asarray(like).dtype if isinstance(like, np.ndarray) else np.float32
    return (np.asarray(inputs[0]).astype(dtype),)
