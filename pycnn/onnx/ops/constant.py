"""ONNX Constant, ConstantOfShape, Cast and CastLike: computed at import (or on shapes at run time);
Cast also in the network, which computes in float32 (a cast to float is the value itself)."""
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


_FLOAT_TYPES = (1, 10, 11, 16)  # float, float16, double, bfloat16: float32 in pycnn


# Opsets 1-5 name the type: Cast's ``to`` is a string there.
_TYPE_NAMES = {"FLOAT": 1, "UINT8": 2, "INT8": 3, "UINT16": 4, "INT16": 5, "INT32": 6, "INT64": 7, "BOOL": 9,
               "FLOAT16": 10, "DOUBLE": 11, "UINT32": 12, "UINT64": 13, "BFLOAT16": 16}


def _cast_to(node):
    to = node.attr("to", 1)
    return _TYPE_NAMES.get(to.upper(), -1) if isinstance(to, str) else to


def _cast_problems(node, used):
    to = _cast_to(node)
    return [] if to in _TYPE_NAMES.values() else [f"to={node.attr('to')!r} is not a type pycnn casts to"]


def _cast_on_arrays(node, inputs):
    to = _cast_to(node)  # ONNX data types: the float types become float32, bool stays, the rest int64
    dtype = np.float32 if to in _FLOAT_TYPES else np.bool_ if to == 9 else np.int64
    x = np.asarray(inputs[0])
    if dtype == np.int64 and x.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return (np.trunc(x).astype(np.int64),)
    return (x.astype(dtype),)


@importer("Cast", on_arrays=_cast_on_arrays, check=_cast_problems, attrs=("to", "saturate"),
          attr_kinds={"to": "int_or_str"})
def import_cast(node, inputs, training):
    """In the network (float32 values): to a float type, the value itself; to an integer type, its
    integer part, to bool, 0/1, as float32 values without a gradient."""
    from .math import _mask
    x = inputs[0]
    if _cast_to(node) in _FLOAT_TYPES:
        return (x,)
    return (_mask(node, inputs, lambda node, arrays: _cast_on_arrays(node, arrays)[0]),)


@importer("CastLike", arrays_only=True, type_only_inputs=(1,), inputs=(2, 2), attrs=("saturate",))
def import_cast_like(node, inputs):
    """CastLike(value, like): only ``like``'s type matters; a network value is float32."""
    like = inputs[1]
    dtype = np.asarray(like).dtype if isinstance(like, np.ndarray) else np.float32
    return (np.asarray(inputs[0]).astype(dtype),)
