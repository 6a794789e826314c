"""ONNX graphs built by hand for the ONNX tests, and onnxruntime, the reference they are compared against.

    make_model(nodes, initializers, {"x": shape}, opset)     -> onnx.ModelProto
    make_typed_model(nodes, {"x": (elem, shape)}, outputs)   -> the bytes of a model with typed inputs/outputs
    make_node(op, inputs, outputs, name=None, **attributes)  -> a NodeProto that pycnn's errors can name
    make_initializer(name, array)                             -> a TensorProto
    make_external_initializer(name, dims, location, length)   -> a TensorProto stored in another file
    run_onnxruntime(model, feeds)                             -> onnxruntime's outputs, a list

A test file imports this module after ``pytest.importorskip("onnx")``, so it skips without onnx.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_initializer(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def make_external_initializer(name, dims, location, length, offset="0"):
    """A float32 initializer whose bytes live in the file ``location`` beside the model (ONNX external data).
    location, offset and length are written as given (strings), so a test can write wrong ones."""
    tensor = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def make_node(op, inputs, outputs, name=None, **attributes):
    """helper.make_node, named '<op>_<first output>' unless ``name`` is given (pycnn's errors name the node)."""
    return helper.make_node(op, inputs, outputs, name=name or f"{op.lower()}_{outputs[0]}", **attributes)


def exporters_ir_version(opset):
    """The IR version exporters wrote beside ``opset``: 3 before opset 8, 4 before 10, then 7."""
    return 3 if opset < 8 else 4 if opset < 10 else 7


def make_model(nodes, initializers, inputs, opset, outputs=("y",), ir_version=None, initializers_as_inputs=None,
               name="g", elem_type=TensorProto.FLOAT):
    """A one-graph model at ``opset`` of the default domain.

    inputs: {name: shape} (shape None: undeclared). outputs: names with no declared shape, as many exporters
    leave them, or {name: shape}. Inputs and outputs are ``elem_type`` (float32).
    ir_version: default exporters_ir_version(opset); pass onnx.IR_VERSION for onnx's current one.
    initializers_as_inputs: list every initializer as a graph input too, as IR 3 requires and some exporters
    do at any IR; default: when ir_version < 4.
    """
    ir_version = ir_version or exporters_ir_version(opset)
    graph_inputs = [helper.make_tensor_value_info(n, elem_type, s) for n, s in inputs.items()]
    if initializers_as_inputs or (initializers_as_inputs is None and ir_version < 4):
        graph_inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in initializers]
    output_shapes = outputs if isinstance(outputs, dict) else dict.fromkeys(outputs)
    # A name listed twice in ``outputs`` is two graph outputs (a dict would keep one).
    graph_outputs = [helper.make_tensor_value_info(n, elem_type, output_shapes[n]) for n in outputs]
    graph = helper.make_graph(nodes, name, graph_inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def make_typed_model(nodes, inputs, outputs, initializers=(), opset=13):
    """The bytes of a model (IR 7) whose inputs and outputs are {name: (ONNX element type, shape)}."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
                              [helper.make_tensor_value_info(n, t, s) for n, (t, s) in outputs.items()],
                              list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model.SerializeToString()


def run_onnxruntime(model, feeds):
    """onnxruntime's outputs (a list, in graph order) on the CPU. model: a ModelProto, its bytes or a file path;
    feeds: {input name: array}, or one array for the model's first input."""
    # Imported here, not above: the tests that only build models (test_onnx_hostile.py) run without onnxruntime.
    import onnxruntime

    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    session = onnxruntime.InferenceSession(model if isinstance(model, bytes) else str(model),
                                           providers=["CPUExecutionProvider"])
    if not isinstance(feeds, dict):
        feeds = {session.get_inputs()[0].name: feeds}
    return session.run(None, feeds)
