"""Input gradients of imported torchvision classifiers (random weights, eval mode, exported unfolded so
that BatchNorm stays a node) against PyTorch in float64, each engine on its own branch
(helpers.branch_replay: a max-abs or plain float64 comparison is ill-posed for deep ReLU networks,
where a unit within rounding of a kink flips in any float32 engine and moves thousands of input
gradients). Metric: tools/parity.py's gradient_error, the 99th percentile of |g - g64| over max|g64|;
pycnn must be within 3x PyTorch's own float32 error, floor 1e-5. A few small networks run by default;
every architecture pycnn imports runs with --slow.
"""
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import pycnn
import pycnn.onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from parity import gradient_error  # noqa: E402

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from helpers.torchvision_import import import_torchvision  # noqa: E402

torchvision = import_torchvision()
from helpers.branch_replay import ONNX_KINKS, Replay  # noqa: E402

# Every torchvision classifier pycnn imports (convnext, shufflenet, swin, vit, maxvit use ops it does
# not: LayerNormalization, Transpose of activations, attention), with the input size it runs at; a
# ``.features[:k]`` suffix takes the first k feature modules (the squeezenet1_1 rows).
FAST = {"squeezenet1_1": 64, "mobilenet_v2": 64}
SLOW = ["alexnet", "densenet121", "densenet161", "densenet169", "densenet201", "efficientnet_b0",
        "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "googlenet", "inception_v3", "mnasnet0_5",
        "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "mobilenet_v3_large", "mobilenet_v3_small", "regnet_x_400mf",
        "regnet_x_800mf", "regnet_x_1_6gf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "resnet18",
        "resnet34", "resnet50", "resnext50_32x4d", "squeezenet1_0", "vgg11", "vgg11_bn", "wide_resnet50_2",
        "squeezenet1_1.features[:8]", "squeezenet1_1.features[:9]", *[f"{name}@224" for name in FAST]]
FLOOR = 1e-5


def _torch_gradient(model, x, w, dtype, decisions=None):
    """(input gradient, the kink inputs recorded) of sum(model(x) * w) in ``dtype``."""
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    with Replay(decisions) as mode:
        out = model.to(dtype)(xt)
    out.backward(torch.tensor(w, dtype=dtype))
    return xt.grad.numpy().astype(np.float64), mode.recorded


def _pycnn_gradient(data, x, w):
    """pycnn's input gradient and the inputs of its kink nodes (extra graph outputs, in node order)."""
    model = onnx.load_from_string(data)
    kinks = [n.input[0] for n in model.graph.node if n.op_type in ONNX_KINKS]
    model.graph.output.extend(onnx.helper.make_value_info(name, onnx.TypeProto()) for name in kinks)
    graph = pycnn.onnx.load(model.SerializeToString()).eval()
    xp = pycnn.tensor(x.astype(np.float32), requires_grad=True)
    outs = graph(xp)
    outs = outs if isinstance(outs, tuple) else (outs,)
    outs[0].backward(pycnn.tensor(w.astype(np.float32)))
    return xp.grad.numpy().astype(np.float64), [o.numpy() for o in outs[1:]]


def gradient_errors(name, size, seed=0):
    """{"pycnn", "torch32"}: each engine's error against float64 on its own branch, and the same
    against plain float64 ("pycnn_plain", "torch32_plain", the issue's first table)."""
    torch.manual_seed(seed)
    name, _, features = name.partition(".features[:")
    model = torchvision.models.get_model(name, **({"init_weights": True} if name in ("googlenet", "inception_v3")
                                                   else {})).eval()
    if features:
        model = model.features[:int(features.rstrip("]"))]
    x = np.random.default_rng(1).standard_normal((2, 3, size, size))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.tensor(x, dtype=torch.float32), buf, do_constant_folding=False, dynamo=False)
    with torch.no_grad():
        shape = model(torch.tensor(x, dtype=torch.float32)).shape
    w = np.random.default_rng(2).standard_normal(shape)
    g32, torch_branch = _torch_gradient(model, x, w, torch.float32)
    g, pycnn_branch = _pycnn_gradient(buf.getvalue(), x, w)
    assert len(pycnn_branch) == len(torch_branch), "the ONNX kink nodes do not pair with torch's kink calls"
    g64_plain, _ = _torch_gradient(model, x, w, torch.float64)
    g64_torch, _ = _torch_gradient(model, x, w, torch.float64, torch_branch)
    g64_pycnn, _ = _torch_gradient(model, x, w, torch.float64, pycnn_branch)
    return {"pycnn": gradient_error(g, g64_pycnn), "torch32": gradient_error(g32, g64_torch),
            "pycnn_plain": gradient_error(g, g64_plain), "torch32_plain": gradient_error(g32, g64_plain)}


def _check(name, size):
    errors = gradient_errors(name, size)
    print(f"\n{name}@{size}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert errors["pycnn"] <= max(3 * errors["torch32"], FLOOR), errors


@pytest.mark.parametrize("name", sorted(FAST))
def test_input_gradient_matches_torch_float64(name):
    _check(name, FAST[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_input_gradient_matches_torch_float64_every_architecture(name):
    name, _, size = name.partition("@")
    _check(name, int(size) if size else 299 if name == "inception_v3" else 224)
