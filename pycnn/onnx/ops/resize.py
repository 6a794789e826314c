"""ONNX Resize (opsets 10-19) and Upsample (7-9) <-> pycnn's resize (pycnn.nn.functional.interpolate):
nearest, linear and (Resize 11+) cubic with cubic_coeff_a and exclude_outside, over any axes, every
coordinate transformation but tf_crop_and_resize, sizes or scales, axes and keep_aspect_ratio_policy
(18+). Refused with the reason: antialias, tf_crop_and_resize, tf_half_pixel_for_nn."""
import numpy as np

from ...nn.functional.interpolate import COORDINATE_MODES, ResizeFunction, resize
from ..errors import OnnxExportError
from .common import axis_index, ints, shape_of
from .registry import exporter, importer

_RESIZE_ATTRIBUTES = ("mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
                      "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy")


def _resize_problems(node, used):
    problems = []
    mode = node.attr("mode", "nearest")
    cubic = node.op == "Resize" and node.opset >= 11
    if mode not in ("nearest", "linear", "bilinear") + (("cubic",) if cubic else ()):
        problems.append(f"mode {mode!r} is not supported (nearest, linear{' and cubic' if cubic else ''} are)")
    if node.op == "Resize" and node.opset >= 11:
        ctm = node.attr("coordinate_transformation_mode", "half_pixel")
        if ctm not in COORDINATE_MODES:
            problems.append(f"coordinate_transformation_mode {ctm!r} is not supported")
    if node.attr("antialias", 0):
        problems.append("antialias=1 is not supported")
    if node.attr("keep_aspect_ratio_policy", "stretch") not in ("stretch", "not_larger", "not_smaller"):
        problems.append(f"keep_aspect_ratio_policy {node.attr('keep_aspect_ratio_policy')!r} is not an ONNX value")
    return problems


def _present(inputs, index):
    value = inputs[index] if len(inputs) > index else None
    return None if value is None or np.asarray(value).size == 0 else np.asarray(value)


def _sizes_and_scales(node, inputs, in_shape):
    """(output sizes, scales for the coordinates) over every dimension."""
    rank = len(in_shape)
    if node.op == "Upsample":
        scales = node.attr("scales") if node.opset < 9 else _present(inputs, 1)
        sizes = None
    elif node.opset < 11:
        scales, sizes = _present(inputs, 1), None
    else:
        scales, sizes = _present(inputs, 2), _present(inputs, 3)
    axes = [axis_index(a, rank, node) for a in node.attr("axes", range(rank))]
    if (scales is None) == (sizes is None):
        raise ValueError(f"{node.op} {node.name!r}: exactly one of scales and sizes must be given")
    full_sizes, full_scales = list(in_shape), [1.0] * rank
    if scales is not None:
        scales = [float(s) for s in np.asarray(scales, dtype=np.float64).reshape(-1)]
        if len(scales) != len(axes) or min(scales, default=1) <= 0:
            raise ValueError(f"{node.op} {node.name!r}: scales {scales} must be positive, one per axis {axes}")
        for a, s in zip(axes, scales):
            full_scales[a], full_sizes[a] = s, int(np.floor(in_shape[a] * s))
        return full_sizes, full_scales
    sizes = ints(sizes)
    if len(sizes) != len(axes):
        raise ValueError(f"{node.op} {node.name!r}: sizes {sizes} must give one value per axis {axes}")
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    ratios = [s / in_shape[a] for a, s in zip(axes, sizes)]
    if policy != "stretch":
        ratio = min(ratios) if policy == "not_larger" else max(ratios)
        ratios = [ratio] * len(axes)
        sizes = [int(np.round(ratio * in_shape[a])) for a in axes]
    for a, s, r in zip(axes, sizes, ratios):
        full_sizes[a], full_scales[a] = s, r
    return full_sizes, full_scales


@importer("Resize", "Upsample", check=_resize_problems, static=(1, 2, 3), inputs=(1, 4), attrs=_RESIZE_ATTRIBUTES
          + ("scales",), attr_kinds={"cubic_coeff_a": "float", "extrapolation_value": "float", "scales": "floats",
                                     "exclude_outside": "int", "antialias": "int"}, runs_on_host=True)
def import_resize(node, inputs, training):
    x = inputs[0]
    sizes, scales = _sizes_and_scales(node, inputs, shape_of(x))
    mode = node.attr("mode", "nearest")
    mode = "linear" if mode == "bilinear" else mode
    if node.op == "Upsample" or node.opset < 11:  # onnxruntime's original rule, before the attributes
        return (resize(x, sizes, scales, mode, "asymmetric", "simple"),)
    return (resize(x, sizes, scales, mode, node.attr("coordinate_transformation_mode", "half_pixel"),
                   node.attr("nearest_mode", "round_prefer_floor"), node.attr("cubic_coeff_a", -0.75),
                   node.attr("exclude_outside", 0)),)


@exporter(ResizeFunction)
def export_resize(trace, out, x, matrices, spec):
    sizes, scales, mode, coordinate_mode, nearest_mode, cubic_coeff_a, exclude_outside = spec
    if trace.opset < 11:
        raise OnnxExportError(f"resize needs Resize of opset 11 or later, exporting opset {trace.opset}")
    if nearest_mode == "simple":
        enlarging = {s >= 1 for s in scales if s != 1}
        if len(enlarging) > 1:
            raise OnnxExportError("nearest resize that enlarges some axes and shrinks others has no ONNX nearest_mode")
        nearest_mode = "floor" if enlarging == {True} else "ceil"
    # the scales as the file holds them (float32), multiplied in float32 (onnxruntime) and in double
    # (onnx's shape inference): sizes unless both give the output
    by_scales = all(int(np.floor(np.float32(d) * np.float32(s))) == o == int(np.floor(d * float(np.float32(s))))
                    for d, s, o in zip(x.shape, scales, sizes))
    roi = trace.const(np.zeros(0, np.float32), "roi")
    if by_scales:
        inputs = [trace.name_of(x), roi, trace.const(np.asarray(scales, np.float32), "scales")]
    else:  # the resized sizes after the input's own leading (batch) dimensions, so that any batch works
        kept = next(i for i, (d, o) in enumerate(zip(x.shape, sizes)) if d != o or scales[i] != 1.0)
        tail = trace.const(np.asarray(sizes[kept:], np.int64), "sizes")
        if kept:
            lead = trace.node("Slice", [trace.node("Shape", [trace.name_of(x)]),
                                        trace.const(np.asarray([0], np.int64), "start"),
                                        trace.const(np.asarray([kept], np.int64), "end")])
            tail = trace.node("Concat", [lead, tail], axis=0)
        inputs = [trace.name_of(x), roi, "", tail]
    cubic = {"cubic_coeff_a": cubic_coeff_a, "exclude_outside": exclude_outside} if mode == "cubic" else {}
    trace.node("Resize", inputs, out, mode=mode, coordinate_transformation_mode=coordinate_mode,
               nearest_mode=nearest_mode, **cubic)
