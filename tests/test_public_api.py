"""DESIGN.md's "Public API contract", name by name: every name it lists imports from where it says and is
what it says (a callable, a class, a context manager, a ValueError); where DESIGN spells out a signature
the parameters and defaults are those; and a name that matches PyTorch takes PyTorch's arguments: every
parameter PyTorch requires is there, the positional ones in PyTorch's order, every shared one with
PyTorch's default (checked against the installed torch; pycnn may leave out PyTorch's optional extras)."""
import inspect

import numpy as np
import pytest

import pycnn
import pycnn.models
import pycnn.transfer
from pycnn import Tensor, cat, cuda, from_dlpack, no_grad, summary, tensor
from pycnn.nn import Module, Parameter, Sequential
from pycnn.nn.functional import (adaptive_avg_pool2d, avg_pool2d, batch_norm, conv2d, cross_entropy, dropout,
                                 flatten, linear, local_response_norm, log_softmax, max_pool2d, mse_loss, relu,
                                 sigmoid, softmax, tanh)
from pycnn.optim import SGD, Adam, Optimizer, RMSprop, lr_scheduler

FUNCTIONAL = dict(conv2d=conv2d, max_pool2d=max_pool2d, avg_pool2d=avg_pool2d, adaptive_avg_pool2d=adaptive_avg_pool2d,
                  linear=linear, relu=relu, sigmoid=sigmoid, tanh=tanh, softmax=softmax, log_softmax=log_softmax,
                  cross_entropy=cross_entropy, mse_loss=mse_loss, dropout=dropout, batch_norm=batch_norm,
                  local_response_norm=local_response_norm, flatten=flatten)

# "pycnn.nn: ... the layer of each op", named as torch.nn names it.
LAYER_OF_OP = {"conv2d": "Conv2d", "max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d",
               "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "linear": "Linear", "relu": "ReLU", "sigmoid": "Sigmoid",
               "tanh": "Tanh", "softmax": "Softmax", "log_softmax": "LogSoftmax", "cross_entropy": "CrossEntropyLoss",
               "mse_loss": "MSELoss", "dropout": "Dropout", "batch_norm": "BatchNorm2d",
               "local_response_norm": "LocalResponseNorm", "flatten": "Flatten"}

MODULE_METHODS = ["parameters", "named_parameters", "modules", "children", "train", "eval", "to", "state_dict",
                  "load_state_dict", "__call__"]

# The builders whose dataset has 10 classes (MNIST, CIFAR-10); every other model defaults to ImageNet's 1000.
TEN_CLASS_MODELS = {"lenet5", "resnet20", "resnet56"}


def _signature(fn):
    """inspect.signature; for a PyTorch builtin (none) or dispatcher (only *args, **kwargs) the signature its
    docstring opens with, as in 'conv2d(input, weight, bias=None, ...) -> Tensor', where it has one."""
    try:
        signature = inspect.signature(fn)
        if _named(signature) or not _opaque(signature):
            return signature
    except ValueError:
        signature = None
    first = (fn.__doc__ or " ").strip().splitlines()[0]
    if not first.startswith(f"{fn.__name__}("):
        assert signature is not None, f"{fn.__qualname__} has no signature, nor one in its docstring"
        return signature
    namespace = {}
    exec(f"def documented({first[first.index('(') + 1:first.rindex(')')]}): pass", namespace)
    return inspect.signature(namespace["documented"])


def _opaque(signature):
    """Takes *args or **kwargs."""
    return any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values())


def _named(signature):
    """Parameters by name, without self and without *args/**kwargs."""
    return {name: p for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _positional(signature):
    return [name for name, p in _named(signature).items() if p.kind == p.POSITIONAL_OR_KEYWORD]


def assert_takes_torch_arguments(ours, theirs):
    """A call written for ``theirs`` (PyTorch) with the arguments pycnn supports means the same to ``ours``."""
    mine, torchs = _signature(ours), _signature(theirs)
    ours_named, torch_named = _named(mine), _named(torchs)
    if not torch_named:  # torch takes nothing, or only *args, **kwargs (nn.Sigmoid): neither may pycnn require
        assert all(p.default is not p.empty for p in ours_named.values()), f"{mine} requires what torch does not"
    required = [n for n, p in torch_named.items() if p.default is p.empty]
    assert all(n in ours_named for n in required), f"{mine} lacks a parameter {theirs} requires: {required}"
    ours_positional, torch_positional = _positional(mine), _positional(torchs)
    common = min(len(ours_positional), len(torch_positional))
    assert ours_positional[:common] == torch_positional[:common], f"positional order {mine} != torch's {torchs}"
    for name in ours_named.keys() & torch_named.keys():
        assert ours_named[name].default == torch_named[name].default, \
            f"default of {name}: {ours_named[name].default!r} != torch's {torch_named[name].default!r}"


def assert_parameters(fn, expected):
    """``fn``'s named parameters start with ``expected`` ({name: default}, inspect.Parameter.empty: required)."""
    named = _named(inspect.signature(fn))
    assert list(named)[:len(expected)] == list(expected), f"{fn.__qualname__}{inspect.signature(fn)}"
    for name, default in expected.items():
        assert named[name].default == default, f"{fn.__qualname__}: default of {name} is {named[name].default!r}"


REQUIRED = inspect.Parameter.empty


# ----- pycnn: tensor, Tensor, cat, no_grad, DLPack, cuda ----------------------------------------------------
def test_tensor_factory_signature_and_dtypes():
    """pycnn.tensor(data, device="cpu", requires_grad=False): float data -> float32, integer -> int64."""
    assert_parameters(tensor, {"data": REQUIRED})
    named = _named(inspect.signature(tensor))
    assert named["device"].default == "cpu" and named["requires_grad"].default is False
    x = tensor([[1.5, 2.0]])
    assert isinstance(x, Tensor) and x.dtype == "float32" and x.device == "cpu" and not x.requires_grad
    assert tensor([1, 2]).dtype == "int64"
    assert tensor([1.0], requires_grad=True).requires_grad


def test_tensor_attributes_and_methods():
    x = tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert tuple(x.shape) == (2, 3) and x.grad is None
    assert np.array_equal(x.numpy(), np.arange(6).reshape(2, 3))
    assert x.to("cpu").device == "cpu"
    assert tuple(x.reshape(3, 2).shape) == (3, 2) and tuple(x.flatten().shape) == (6,)
    assert not x.detach().requires_grad
    assert tensor([2.5]).item() == 2.5
    broadcast = x + tensor([[10.0], [20.0]])  # (2, 3) + (2, 1)
    np.testing.assert_array_equal(broadcast.numpy(), [[10, 11, 12], [23, 24, 25]])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.arange(6).reshape(2, 3))
    assert_parameters(Tensor.backward, {"gradient": None})


def test_tensor_methods_and_cat_take_torch_arguments():
    torch = pytest.importorskip("torch")
    for name in ("backward", "flatten"):
        assert_takes_torch_arguments(getattr(Tensor, name), getattr(torch.Tensor, name))
    assert_takes_torch_arguments(cat, torch.cat)
    assert_takes_torch_arguments(pycnn.split, torch.split)


def test_cat_no_grad_dlpack_and_cuda():
    assert tuple(cat([tensor([[1.0]]), tensor([[2.0], [3.0]])]).shape) == (3, 1)
    x = tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    shared = np.arange(4, dtype=np.float32)
    ours = from_dlpack(shared)
    assert isinstance(ours, Tensor) and np.array_equal(np.from_dlpack(ours), shared)  # Tensor.__dlpack__
    assert isinstance(cuda.is_available(), bool)


# ----- pycnn.nn.functional ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_op_is_callable(name):
    assert callable(FUNCTIONAL[name])


@pytest.mark.parametrize("name", sorted(set(FUNCTIONAL) - {"flatten"}))  # torch.nn.functional has no flatten
def test_functional_op_takes_torch_arguments(name):
    torch = pytest.importorskip("torch")
    assert_takes_torch_arguments(FUNCTIONAL[name], getattr(torch.nn.functional, name))


# ----- pycnn.nn: Module, Parameter, Sequential, the layer of each op ------------------------------------------
@pytest.mark.parametrize("op", sorted(LAYER_OF_OP))
def test_each_op_has_its_layer(op):
    layer = getattr(pycnn.nn, LAYER_OF_OP[op])
    assert inspect.isclass(layer) and issubclass(layer, Module)


@pytest.mark.parametrize("op", sorted(LAYER_OF_OP))
def test_layer_takes_torch_arguments(op):
    torch = pytest.importorskip("torch")
    assert_takes_torch_arguments(getattr(pycnn.nn, LAYER_OF_OP[op]), getattr(torch.nn, LAYER_OF_OP[op]))


def test_module_methods_parameter_and_sequential():
    for name in MODULE_METHODS:
        assert callable(getattr(Module, name)), name
    assert issubclass(Parameter, Tensor) and Parameter(np.zeros(2, np.float32)).requires_grad
    assert issubclass(Sequential, Module)
    model = Sequential(pycnn.nn.Linear(3, 2), pycnn.nn.ReLU())
    assert isinstance(model[0], pycnn.nn.Linear) and len(list(model.children())) == 2
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert all(isinstance(p, Parameter) for p in model.parameters())
    assert tuple(model(tensor(np.ones((4, 3), np.float32))).shape) == (4, 2)
    assert not model.eval().training and model.train().training


def test_module_methods_take_torch_arguments():
    torch = pytest.importorskip("torch")
    for name in set(MODULE_METHODS) - {"to", "__call__"}:  # torch's take *args, **kwargs
        assert_takes_torch_arguments(getattr(Module, name), getattr(torch.nn.Module, name))
    for name in ("Parameter", "Sequential"):
        assert_takes_torch_arguments(getattr(pycnn.nn, name), getattr(torch.nn, name))


# ----- pycnn.optim ------------------------------------------------------------------------------------------
def test_optimizers_and_lr_scheduler():
    """SGD(params, lr, momentum=0, weight_decay=0, nesterov=False), Adam, RMSprop, lr_scheduler."""
    assert all(inspect.isclass(cls) and issubclass(cls, Optimizer) for cls in (SGD, Adam, RMSprop))
    named = _named(inspect.signature(SGD))
    assert list(named)[:2] == ["params", "lr"]
    assert {n: named[n].default for n in ("momentum", "weight_decay", "nesterov")} == \
        {"momentum": 0, "weight_decay": 0, "nesterov": False}
    assert inspect.ismodule(lr_scheduler) and issubclass(lr_scheduler.StepLR, lr_scheduler.LRScheduler)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "lr_scheduler.StepLR", "lr_scheduler.MultiStepLR",
                                  "lr_scheduler.CosineAnnealingLR", "lr_scheduler.ReduceLROnPlateau"])
def test_optimizer_takes_torch_arguments(name):
    torch = pytest.importorskip("torch")
    ours, theirs = pycnn.optim, torch.optim
    for part in name.split("."):
        ours, theirs = getattr(ours, part), getattr(theirs, part)
    assert_takes_torch_arguments(ours, theirs)


# ----- pycnn.models, pycnn.summary --------------------------------------------------------------------------
@pytest.mark.parametrize("name", pycnn.models.list_models())
def test_model_builder_takes_num_classes(name):
    builder = getattr(pycnn.models, name)
    assert callable(builder)
    assert_parameters(builder, {"num_classes": 10 if name in TEN_CLASS_MODELS else 1000})


def test_model_builder_builds_a_module_with_that_many_classes():
    model = pycnn.models.lenet5(num_classes=7)
    assert isinstance(model, Module)
    with no_grad():
        assert tuple(model.eval()(tensor(np.zeros((2, 1, 28, 28), np.float32))).shape) == (2, 7)


def test_summary_fields_and_table():
    """pycnn.summary(model, input_shape) -> .rows, .total_params, .trainable_params, .total_macs; str() the table."""
    assert_parameters(summary, {"model": REQUIRED, "input_shape": REQUIRED})
    model = Sequential(pycnn.nn.Conv2d(1, 2, 3), pycnn.nn.ReLU(), pycnn.nn.Flatten(), pycnn.nn.Linear(2 * 4 * 4, 3))
    model[0].weight.requires_grad = False
    result = summary(model, (1, 6, 6))
    assert [row.type for row in result.rows] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert result.total_params == (2 * 9 + 2) + (32 * 3 + 3)
    assert result.trainable_params == result.total_params - 2 * 9
    assert result.total_macs == 2 * 4 * 4 * 9 + 3 * 32  # conv: outputs x kernel; linear: outputs x inputs
    table = str(result)
    assert "Total params: 119" in table and "Total MACs: 384" in table and "Conv2d" in table


# ----- pycnn.onnx, pycnn.transfer ---------------------------------------------------------------------------
def test_onnx_load_export_and_import_error():
    pytest.importorskip("onnx")
    from pycnn.onnx import OnnxImportError, export, load

    assert callable(load) and len(_named(inspect.signature(load))) == 1
    assert_parameters(export, {"model": REQUIRED, "path": REQUIRED, "input_shape": REQUIRED})
    assert inspect.isclass(OnnxImportError) and issubclass(OnnxImportError, ValueError)
    with pytest.raises(OnnxImportError):
        load(b"not an ONNX model")


def test_transfer_prepare_signature_and_strategies():
    assert_parameters(pycnn.transfer.prepare, {"model": REQUIRED, "num_classes": REQUIRED,
                                               "strategy": "feature_extractor", "trainable_layers": None})
    with pytest.raises(ValueError, match="'feature_extractor', 'partial', 'fine_tune'"):
        pycnn.transfer.prepare(Sequential(pycnn.nn.Linear(3, 2)), 4, strategy="everything")


@pytest.mark.parametrize("old, new", [("max_reduce", pycnn.tensor_ops.max), ("binary", pycnn.tensor_ops.binary),
                                      ("permute", pycnn.tensor_ops.permute), ("Tensor", Tensor)])
def test_names_moved_out_of_functional_still_resolve_with_a_warning(old, new):
    """functional.py held the tensor-level ops and every Function class before it was split by family;
    code written against it keeps working and is told where each name lives now."""
    import pycnn.nn.functional as F

    with pytest.warns(DeprecationWarning, match=rf"pycnn\.nn\.functional\.{old} moved to pycnn\."):
        assert getattr(F, old) is new
    with pytest.warns(DeprecationWarning, match="moved to pycnn.nn.functional.activation.ReluFunction"):
        relu_function = F.ReluFunction
    x = pycnn.tensor([-1.0, 2.0], requires_grad=True)
    relu_function.apply(x).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 1.0]
    with pytest.raises(AttributeError, match="has no attribute 'no_such_op'"):
        F.no_such_op
