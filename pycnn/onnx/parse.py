"""Parsing ONNX files as untrusted input: the protobuf, its tensors (inline or external data), node
attributes, and :class:`ParsedModel`: the nodes, initializers, inputs and outputs, validated.

Everything here raises :class:`OnnxImportError` for a bad file, never lets a protobuf or numpy error
through, and never allocates more than the file actually holds: a tensor's element count is checked
against its data before an array is made, and external data is read only from files inside the
model's own folder.
"""
import os

import numpy as np

from ..graph import GraphIR, Node, problem
from .errors import OnnxImportError
from .ops import IMPORTERS

MAX_ELEMENTS = 1 << 31  # one tensor; 8 GiB of float32 is beyond any model pycnn trains
MAX_FILE_BYTES = 1 << 31  # protobuf itself cannot hold more than 2 GiB in one message

# ONNX TensorProto.DataType -> (numpy dtype of the stored data, typed field holding it)
_DTYPES = {
    1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
    4: (np.uint16, "int32_data"), 5: (np.int16, "int32_data"), 6: (np.int32, "int32_data"),
    7: (np.int64, "int64_data"), 9: (np.bool_, "int32_data"), 10: (np.float16, "int32_data"),
    11: (np.float64, "double_data"), 12: (np.uint32, "uint64_data"), 13: (np.uint64, "uint64_data"),
}
DTYPE_NAMES = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
               8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64",
               16: "bfloat16"}
# Graph input types: the float ones enter the network as float32 Tensors; the integer and bool ones are
# computed on the host as numpy arrays of their own type (an embedding's indices, a length).
FLOAT_INPUTS = (1, 10, 11)
NUMPY_DTYPES = {elem: np.dtype(stored) for elem, (stored, _) in _DTYPES.items()}  # ONNX element type -> numpy
HOST_INPUTS = {elem: _DTYPES[elem][0] for elem in (2, 3, 4, 5, 6, 7, 9, 12, 13)}


def require_onnx():
    """The onnx package, or an ImportError naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise ImportError('pycnn.onnx needs the onnx package: pip install "pycnn[onnx]"') from None
    return onnx


def parse_model(source):
    """(onnx.ModelProto, folder of the file or None) from a path or the bytes of a file."""
    onnx = require_onnx()

    base_dir = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"onnx.load: no file at {path!r}")
        if os.path.getsize(path) > MAX_FILE_BYTES:
            raise OnnxImportError(f"onnx.load: {path!r} is larger than 2 GiB, the protobuf limit; "
                                  "keep the weights as external data")
        with open(path, "rb") as f:
            data = f.read()
        base_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise TypeError(f"onnx.load: expected a path or bytes, got {type(source).__name__}")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as error:  # protobuf raises DecodeError, RuntimeError or ValueError by backend
        raise OnnxImportError(f"onnx.load: not an ONNX model (the protobuf does not parse: {error})") from None
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise OnnxImportError("onnx.load: not an ONNX model (no graph, or a graph without nodes)")
    return model, base_dir


def default_opset(model):
    """The opset of the default ('' or 'ai.onnx') domain; ONNX says 1 when it is absent."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return int(versions[0]) if versions else 1


def _external_path(tensor, base_dir):
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    if base_dir is None:
        raise OnnxImportError(f"tensor {tensor.name!r}: its data is external ({location!r}) but the model "
                              "was given as bytes; load it from its file so the data can be found")
    if not location or os.path.isabs(location) or ".." in location.replace("\\", "/").split("/"):
        raise OnnxImportError(f"tensor {tensor.name!r}: external data location {location!r} is not a "
                              "relative path inside the model's folder; refused")
    path = os.path.realpath(os.path.join(base_dir, location))
    root = os.path.realpath(base_dir)
    if os.path.commonpath([path, root]) != root:
        raise OnnxImportError(f"tensor {tensor.name!r}: external data {location!r} resolves outside the "
                              "model's folder (a link?); refused")
    if not os.path.isfile(path):
        raise OnnxImportError(f"tensor {tensor.name!r}: external data file {location!r} is missing")
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise OnnxImportError(f"tensor {tensor.name!r}: external data offset/length are not integers") from None
    return path, offset, length


def tensor_to_numpy(tensor, base_dir):
    """A TensorProto as a numpy array of its own type (float16/32/64, the integer types, bool)."""
    name = tensor.name
    if tensor.data_type not in _DTYPES:
        kind = DTYPE_NAMES.get(tensor.data_type, str(tensor.data_type))
        raise OnnxImportError(f"tensor {name!r}: data type {kind} is not supported")
    dtype, field = _DTYPES[tensor.data_type]
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise OnnxImportError(f"tensor {name!r}: negative dimension in shape {dims}")
    count = 1
    for d in dims:
        count *= d
        if count > MAX_ELEMENTS:
            raise OnnxImportError(f"tensor {name!r}: shape {dims} has more than 2^31 elements")
    if tensor.HasField("segment"):
        raise OnnxImportError(f"tensor {name!r}: segmented tensors are not supported")
    itemsize = np.dtype(dtype).itemsize
    if tensor.data_location == 1:  # EXTERNAL
        path, offset, length = _external_path(tensor, base_dir)
        size = os.path.getsize(path)
        want = count * itemsize
        if length is not None and length != want:
            raise OnnxImportError(f"tensor {name!r}: external length {length} bytes does not match shape "
                                  f"{dims} ({want} bytes)")
        if offset < 0 or offset + want > size:
            raise OnnxImportError(f"tensor {name!r}: external data {offset}+{want} bytes is past the end of "
                                  f"its file ({size} bytes)")
        with open(path, "rb") as f:
            f.seek(offset)
            raw = f.read(want)
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    elif tensor.HasField("raw_data"):
        if len(tensor.raw_data) != count * itemsize:
            raise OnnxImportError(f"tensor {name!r}: raw data has {len(tensor.raw_data)} bytes, shape {dims} "
                                  f"needs {count * itemsize}")
        array = np.frombuffer(tensor.raw_data, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    else:
        values = getattr(tensor, field)
        if len(values) != count:
            raise OnnxImportError(f"tensor {name!r}: {len(values)} values stored, shape {dims} needs {count}")
        if dtype == np.float16:  # float16 bits are stored in int32_data
            array = np.asarray(values, dtype=np.uint16).view(np.float16)
        else:
            array = np.asarray(values).astype(dtype)
    # np.array, not np.ascontiguousarray, which turns a scalar into (1,). The stored type is kept: a
    # float16 or double weight feeding the network is an error the graph reports with the node, and
    # a Cast folds it exactly as ONNX would.
    return np.array(array.reshape(dims), order="C")


MAX_SUBGRAPH_DEPTH = 8  # If inside If ...: deeper nesting is refused (a hostile file could recurse)


class Subgraph:
    """A graph-valued attribute (If's then_branch and else_branch): ``nodes`` in the file's order (ONNX
    requires it topological), ``outputs``, ``initializers`` {name: array} and ``outer``: the values of the
    enclosing graphs it reads, in first-use order."""

    def __init__(self, nodes, outputs, initializers, outer):
        self.nodes, self.outputs, self.initializers, self.outer = nodes, outputs, initializers, outer

    def __repr__(self):
        return f"Subgraph({len(self.nodes)} nodes -> {self.outputs})"


def _read_subgraph(g, base_dir, opset, depth):
    if depth >= MAX_SUBGRAPH_DEPTH:
        raise OnnxImportError(f"subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep are not supported")
    initializers = {t.name: tensor_to_numpy(t, base_dir) for t in g.initializer}
    known = set(initializers) | {i.name for i in g.input} | {""}
    nodes, outer = [], []
    for index, proto in enumerate(g.node):
        attrs = read_attributes(proto, base_dir, opset, depth + 1)
        node = Node(proto.name or f"{g.name or 'subgraph'}/{proto.op_type}_{index}", proto.op_type, opset, attrs,
                    list(proto.input), list(proto.output))
        reads = list(node.inputs) + [name for sub in attrs.values() if isinstance(sub, Subgraph) for name in sub.outer]
        outer += [name for name in reads if name not in known and name not in outer]
        known.update(node.outputs)
        nodes.append(node)
    missing = [o.name for o in g.output if o.name not in known and o.name not in outer]
    outer += missing  # an output that is an outer value, passed through
    return Subgraph(nodes, [o.name for o in g.output], initializers, outer)


def read_attributes(node, base_dir, opset=None, depth=0):
    """The node's attributes as Python values (a graph as a :class:`Subgraph`); tensors-, sparse- and
    type-valued attributes raise OnnxImportError."""
    out = {}
    for a in node.attribute:
        kind = a.type
        if kind == 0:  # files from old tools leave the type unset: infer it from the field present
            kind = 7 if a.ints else 6 if a.floats else 4 if a.HasField("t") else 3 if a.s else \
                1 if a.HasField("f") else 2
        if kind == 1:
            out[a.name] = float(a.f)
        elif kind == 2:
            out[a.name] = int(a.i)
        elif kind == 3:
            out[a.name] = a.s.decode("utf-8", "replace")
        elif kind == 4:
            out[a.name] = tensor_to_numpy(a.t, base_dir)
        elif kind == 6:
            out[a.name] = [float(v) for v in a.floats]
        elif kind == 7:
            out[a.name] = [int(v) for v in a.ints]
        elif kind == 8:
            out[a.name] = [s.decode("utf-8", "replace") for s in a.strings]
        elif kind == 5:
            out[a.name] = _read_subgraph(a.g, base_dir, opset, depth)
        else:
            raise OnnxImportError(f"attribute {a.name!r} holds graphs, tensors or a sparse tensor, which "
                                  "pycnn does not support")
    return out


# Opsets 22 to 28 changed only the types the imported ops accept (bfloat16, float8, int4...), added
# attributes pycnn refuses as unknown (Cast's round_mode, Range's stash_type) or reads (SpaceToDepth's
# mode, opset 28), so their files import with the same semantics; tests/test_onnx_backend_suite.py
# checks that no imported op has a newer version than MAX_OPSET that pycnn has not read.
# Opsets 1 to 6 (Caffe2 and the first PyTorch exporters) are read with their own attributes: the
# ``broadcast``/``axis`` of the arithmetic ops, ``consumed_inputs``, BatchNormalization's ``is_test``
# and ``spatial``, Reshape's ``shape`` and Concat's default axis 1 (opsets 1-3), Cast's ``to`` as a
# type name (opsets 1-5).
MIN_OPSET, MAX_OPSET = 1, 28


def _declared_shapes(g):
    """{value name: dims (None where symbolic)} of the graph inputs and value_info entries whose shape
    the file declares: what the ops' rank checks can see before anything runs."""
    shapes = {}
    for info in list(g.input) + list(g.value_info):
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                      for d in info.type.tensor_type.shape.dim)
    return shapes


class ParsedModel:
    """A model file read and validated, every problem collected so that one error lists them all:
    the opset, initializers (bad tensor data), graph inputs (float32 only) and outputs, every node's
    op (registered in pycnn.onnx.ops), attributes and input and output counts, and the graph's
    topological order (values nobody produces, cycles).

    ``ir``: the :class:`pycnn.graph.GraphIR` in topological order; ``nodes``: every node in that order
    (the passes replace ``ir.nodes``, not this list); ``input_dims``: {input name: declared dims, None
    where symbolic}."""

    def __init__(self, model, base_dir):
        self.opset = default_opset(model)
        self.problems = []
        g = model.graph
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            self.problems.append(problem(None, f"opset {self.opset} is not supported (pycnn imports opsets "
                                               f"{MIN_OPSET} to {MAX_OPSET})"))
        initializers = self._read_initializers(g, base_dir)
        inputs = [i for i in g.input if i.name not in initializers]
        self._check_inputs(inputs)
        self.input_dims = {i.name: [d.dim_value if d.HasField("dim_value") else None
                                    for d in i.type.tensor_type.shape.dim] for i in inputs}
        outputs = [o.name for o in g.output]
        if not inputs:
            self.problems.append(problem(None, "the graph has no input"))
        if not outputs:
            self.problems.append(problem(None, "the graph has no output"))
        self.ir = GraphIR(self._read_nodes(g, base_dir), [i.name for i in inputs], outputs, initializers,
                          host_inputs={name: HOST_INPUTS[elem] for name, elem in self.input_types.items()
                                       if elem in HOST_INPUTS})
        self.ir.network_floats |= {np.dtype(_DTYPES[elem][0]).name for elem in self.input_types.values()
                                   if elem in FLOAT_INPUTS}
        self.problems += self.ir.sort()
        self.nodes = self.ir.nodes
        used = set(outputs)
        for node in self.ir.nodes:
            used.update(node.inputs)
        declared = _declared_shapes(g)
        for node in self.ir.nodes:
            op = IMPORTERS.get(node.op)
            if op is not None:
                outputs_used = [o in used for o in node.outputs]
                self.problems += [problem(node, message) for message in op.problems(node, outputs_used)]
                ranks = (op.rank_problem(node, i, declared[name]) for i, name in enumerate(node.inputs)
                         if name in declared)
                self.problems += [problem(node, message) for message in ranks if message]

    def _read_initializers(self, g, base_dir):
        initializers = {}
        for t in g.initializer:
            if t.name in initializers:
                self.problems.append(problem(None, f"initializer {t.name!r} is given twice"))
                continue
            try:
                initializers[t.name] = tensor_to_numpy(t, base_dir)
            except OnnxImportError as error:
                self.problems.append(problem(None, str(error)))
        if len(g.sparse_initializer):
            self.problems.append(problem(None, "sparse initializers are not supported"))
        return initializers

    def _check_inputs(self, inputs):
        """Problems of the graph inputs, and ``input_types``: {name: ONNX element type}. float, double and
        float16 inputs enter the network (computed in float32, pycnn's one float type); integer and bool
        inputs (indices, lengths) are computed on the host, as shapes are (``host_inputs``)."""
        names = [i.name for i in inputs]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.problems.append(problem(None, f"graph input {name!r} is declared twice"))
        self.input_types = {}
        for i in inputs:
            elem = i.type.tensor_type.elem_type if i.type.HasField("tensor_type") else None
            if elem is None and i.type.WhichOneof("value") is not None:
                self.problems.append(problem(None, f"graph input {i.name!r} is a {i.type.WhichOneof('value')}, "
                                                   "not a tensor"))
            elif elem not in (None, 0) and elem not in FLOAT_INPUTS and elem not in HOST_INPUTS:
                self.problems.append(problem(None, f"graph input {i.name!r} is {DTYPE_NAMES.get(elem, elem)}; pycnn "
                                                   "takes float, double, float16, integer and bool inputs"))
            else:
                self.input_types[i.name] = elem or 1

    def _read_nodes(self, g, base_dir):
        nodes = []
        names = set()
        for index, proto in enumerate(g.node):
            name = proto.name or f"{proto.op_type}_{index}"
            while name in names:
                name = f"{name}_{index}"
            names.add(name)
            try:
                attrs = read_attributes(proto, base_dir, self.opset)
            except OnnxImportError as error:
                attrs = {}
                self.problems.append(problem(Node(name, proto.op_type, self.opset, {}, [], []), str(error)))
            node = Node(name, proto.op_type, self.opset, attrs, list(proto.input), list(proto.output))
            # the outer values a subgraph reads become inputs of its node: the graph's order and memory
            # plan see them, and the op receives them
            node.inputs += [name for sub in attrs.values() if isinstance(sub, Subgraph) for name in sub.outer
                            if name not in node.inputs]
            nodes.append(node)
            if proto.domain not in ("", "ai.onnx"):
                self.problems.append(problem(node, f"domain {proto.domain!r} is not supported (only the "
                                                   "default ONNX domain)"))
            elif proto.op_type not in IMPORTERS:
                self.problems.append(problem(node, f"op {proto.op_type} is not supported"))
        return nodes
