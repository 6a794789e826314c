"""ONNX for ELU, GELU, SiLU and Softplus: exported models pass onnx.checker and give pycnn's
outputs in onnxruntime at opsets with and without Gelu; Elu, Softplus and Gelu graphs import and
match onnxruntime. An imported Clip's gradient follows torch's hardtanh (ReLU6) at its bounds."""
import io
import warnings

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import make_initializer, make_model, run_onnxruntime  # noqa: E402
from onnx import helper  # noqa: E402

X = np.concatenate([np.linspace(-12, 12, 481), [-30.0, -1e-6, 0.0, 1e-6, 25.0]]).astype(np.float32).reshape(1, -1)

LAYERS = [("elu", lambda: nn.ELU(alpha=0.7)), ("gelu", lambda: nn.GELU()),
          ("gelu_tanh", lambda: nn.GELU(approximate="tanh")), ("silu", lambda: nn.SiLU()),
          ("softplus", lambda: nn.Softplus()), ("softplus_beta", lambda: nn.Softplus(beta=2.0, threshold=3.0)),
          ("hardsigmoid", lambda: nn.Hardsigmoid()), ("hardswish", lambda: nn.Hardswish()),
          ("relu6", lambda: nn.ReLU6())]


@pytest.mark.parametrize("opset", [13, 17, 20])
@pytest.mark.parametrize("name,make", LAYERS, ids=[n for n, _ in LAYERS])
def test_export_matches_onnxruntime(tmp_path, name, make, opset):
    model = nn.Sequential(nn.Linear(X.shape[1], X.shape[1]), make()).eval()
    with pycnn.no_grad():
        model[0].weight.copy_(np.eye(X.shape[1], dtype=np.float32))
        model[0].bias.copy_(np.zeros(X.shape[1], np.float32))
    path = pycnn.onnx.export(model, tmp_path / f"{name}.onnx", (1, X.shape[1]), opset=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    if name.startswith("gelu"):
        assert ("Gelu" in ops) == (opset >= 20)
    ours = model(pycnn.tensor(X)).numpy()
    np.testing.assert_allclose(run_onnxruntime(path, X)[0], ours, rtol=1e-5, atol=1e-6)
    # ... and the file comes back (the decompositions too: Erf, Greater, Where) into pycnn with the same outputs.
    back = pycnn.onnx.load(str(path)).eval()
    np.testing.assert_allclose(back(pycnn.tensor(X)).numpy(), ours, rtol=1e-5, atol=1e-6)


IMPORTS = [("Elu", {"alpha": 0.3}, 13), ("Elu", {}, 7), ("Softplus", {}, 13), ("Gelu", {}, 20),
           ("Gelu", {"approximate": "tanh"}, 20), ("HardSigmoid", {}, 13),
           ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 7), ("HardSwish", {}, 14)]


@pytest.mark.parametrize("op,attrs,opset", IMPORTS, ids=[f"{o}-{a}-{s}" for o, a, s in IMPORTS])
def test_import_matches_onnxruntime(op, attrs, opset):
    model = make_model([helper.make_node(op, ["input"], ["output"], **attrs)], [], {"input": list(X.shape)}, opset,
                       outputs={"output": list(X.shape)}, ir_version=7 if opset < 20 else 9)
    onnx.checker.check_model(model)
    ours = pycnn.onnx.load(model.SerializeToString()).eval()(pycnn.tensor(X)).numpy()
    np.testing.assert_allclose(ours, run_onnxruntime(model, X)[0], rtol=1e-5, atol=1e-6)


def test_import_refuses_unknown_gelu_mode():
    model = make_model([helper.make_node("Gelu", ["input"], ["output"], approximate="erf")], [], {"input": [1, 3]}, 20,
                       outputs={"output": [1, 3]}, ir_version=onnx.IR_VERSION)
    with pytest.raises(ValueError, match="approximate 'erf' is not supported"):
        pycnn.onnx.load(model.SerializeToString())


CLIPS = [(7, -1.0, 1.0), (13, 0.0, 6.0), (13, 0.0, None), (13, None, 0.5)]


@pytest.mark.parametrize("opset,lo,hi", CLIPS, ids=[f"{o}-{lo}-{hi}" for o, lo, hi in CLIPS])
def test_imported_clip_passes_no_gradient_at_its_bounds(opset, lo, hi):
    """As torch.nn.functional.hardtanh (F.relu6 and nn.ReLU6 export as this Clip): the gradient
    passes where lo < x < hi, and nothing at exactly lo or hi (torch.clamp would pass them)."""
    torch = pytest.importorskip("torch")
    bounds = [b for b in (lo, hi) if b is not None]
    x = np.concatenate([X[0], bounds, np.nextafter(np.float32(bounds), np.float32(0))]).astype(np.float32)[None]
    if opset < 11:
        nodes, inits = [helper.make_node("Clip", ["input"], ["output"], min=lo, max=hi)], []
    else:
        named = [(n, b) for n, b in (("lo", lo), ("hi", hi)) if b is not None]
        nodes = [helper.make_node("Clip", ["input", "lo" if lo is not None else "", "hi" if hi is not None else ""],
                                  ["output"])]
        inits = [make_initializer(n, np.float32(b)) for n, b in named]
    model = make_model(nodes, inits, {"input": list(x.shape)}, opset, outputs={"output": list(x.shape)})
    xp = pycnn.tensor(x, requires_grad=True)
    pycnn.onnx.load(model.SerializeToString())(xp).backward(pycnn.tensor(np.ones_like(x)))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.hardtanh(xt, -np.inf if lo is None else lo, np.inf if hi is None else hi).sum().backward()
    np.testing.assert_array_equal(xp.grad.numpy(), xt.grad.numpy())


def test_exported_relu6_block_gives_torchs_batch_norm_gradient():
    """MobileNetV2's depthwise block at random weights: an all-zero window after a ReLU6 makes a
    depthwise output and its BatchNorm (beta 0, mean 0) exactly 0, right at the next ReLU6's lower
    bound. torch passes nothing back there, so the BatchNorm bias gets no gradient from those units."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.ReLU6(), torch.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
                              torch.nn.BatchNorm2d(4), torch.nn.ReLU6(), torch.nn.Conv2d(4, 3, 1)).eval()
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    x[:, :, :3, :3] = -1.0
    w = np.random.default_rng(1).standard_normal((2, 3, 6, 6))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.tensor(x), buf, do_constant_folding=False, dynamo=False)
    graph = pycnn.onnx.load(buf.getvalue()).eval()
    graph(pycnn.tensor(x)).backward(pycnn.tensor(w.astype(np.float32)))
    net = net.double()
    with torch.no_grad():
        assert (net[:3](torch.tensor(x, dtype=torch.float64)) == 0).sum() >= 2 * 4 * 2 * 2  # the windows at bound
    net(torch.tensor(x, dtype=torch.float64)).backward(torch.tensor(w))
    ours = dict(graph.named_parameters())
    for name, p in net.named_parameters():
        theirs = p.grad.numpy()
        np.testing.assert_allclose(ours["p_" + name.replace(".", "_")].grad.numpy(), theirs, rtol=1e-5,
                                   atol=1e-6 * np.abs(theirs).max(), err_msg=name)
