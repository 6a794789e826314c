"""The ONNX files of the ``pycnn`` command: loading one as a model, fitting images to its declared input,
and the input normalisation ``pycnn finetune`` embeds in the graph it writes (and ``pycnn eval`` reads)."""
import os

import numpy as np

from .cli_errors import UsageError
from .files import atomic_write


def is_onnx(path):
    """Whether a command's file argument names an ONNX file (by its extension)."""
    return str(path).lower().endswith(".onnx")


NORMALIZATION_KEY = "pycnn.input_normalization"  # metadata of a graph that normalises its own input


def embedded_normalization(path):
    """The (mean, std) an ONNX file written by ``pycnn finetune`` applies inside its graph, or None."""
    import json

    from .onnx.parse import require_onnx

    model = require_onnx().load(path, load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == NORMALIZATION_KEY:
            value = json.loads(entry.value)
            return value["mean"], value["std"]
    return None


def load_onnx_model(path, option):
    """(pycnn.onnx.load's model, its first input's declared dims) for the file named by ``option``."""
    from . import onnx

    if not os.path.isfile(path):
        raise UsageError(f"{option}: no file at {path}")
    model = onnx.load(path)
    dims = model._input_dims.get(model.input_names[0]) or []
    return model, dims


def fit_to_model(images, dims):
    """Images (N, C, H, W) converted to the model's declared channels and size."""
    from .data.transforms import resize

    if len(dims) != 4 or any(d is None for d in dims[1:]):
        return images
    channels, height, width = dims[1:]
    if images.shape[1] != channels:
        if channels == 1:
            images = images.mean(axis=1, keepdims=True)
        elif images.shape[1] == 1:
            images = np.repeat(images, channels, axis=1)
        else:
            raise UsageError(f"the model expects {channels}-channel images, the data has {images.shape[1]}")
    if images.shape[2:] != (height, width):
        images = resize(images, (height, width))
    return np.ascontiguousarray(images, dtype=np.float32)


def embed_normalization(path, mean, std):
    """Rewrites the ONNX file at ``path`` so that its graph normalises its own input: a Sub of the
    per-channel mean and a Div by the std in front of every node that read the input, and the values
    recorded in the model's metadata (``pycnn.input_normalization``) so that ``pycnn eval`` does not
    normalise twice."""
    import json

    from .onnx.parse import require_onnx

    onnx = require_onnx()
    model = onnx.load(path)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    name = next(i.name for i in graph.input if i.name not in initializers)
    used = {v for node in graph.node for v in list(node.input) + list(node.output)} | initializers
    fresh = {}
    for suffix in ("mean", "std", "centered", "normalized"):
        candidate = f"{name}_{suffix}"
        while candidate in used:
            candidate += "_"
        fresh[suffix] = candidate
    for node in graph.node:
        node.input[:] = [fresh["normalized"] if value == name else value for value in node.input]
    shape = (1, len(mean), 1, 1)
    graph.initializer.extend([
        onnx.numpy_helper.from_array(np.asarray(mean, np.float32).reshape(shape), fresh["mean"]),
        onnx.numpy_helper.from_array(np.asarray(std, np.float32).reshape(shape), fresh["std"])])
    nodes = [onnx.helper.make_node("Sub", [name, fresh["mean"]], [fresh["centered"]], name="normalize_sub"),
             onnx.helper.make_node("Div", [fresh["centered"], fresh["std"]], [fresh["normalized"]],
                                   name="normalize_div")] + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    entry = model.metadata_props.add()
    entry.key = NORMALIZATION_KEY
    entry.value = json.dumps({"mean": [float(m) for m in mean], "std": [float(s) for s in std]})
    onnx.checker.check_model(model, full_check=True)
    atomic_write(path, lambda f: f.write(model.SerializeToString()))
