"""ONNX Conv on (N, C, D, H, W) inputs: pycnn computes it as a sum of 2-d convolutions over the kernel's
depth (pycnn/onnx/ops/conv.py, _conv3d). Forward and the gradients of the input, weight and bias against
torch float64 on random configurations (odd sizes, strides, dilations, groups, symmetric and asymmetric
pads, auto_pad), and a PyTorch-exported Conv3d network whose weights train."""
import io

import numpy as np
import pytest

import pycnn
import pycnn.onnx

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import run_onnxruntime  # noqa: E402
from helpers.onnx_torch import close, random_window_3d, run_both  # noqa: E402


def _same_pads(size, kernel, stride, dilation, upper):
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


def _torch_conv3d(pads, stride, dilation, groups):
    """torch's conv3d after an explicit F.pad by ONNX ``pads`` (begins d, h, w, then ends)."""
    def fn(x, w, b=None):
        x = torch.nn.functional.pad(x, (pads[2], pads[5], pads[1], pads[4], pads[0], pads[3]))
        return torch.nn.functional.conv3d(x, w, b, stride=stride, dilation=dilation, groups=groups)
    return fn


def _configuration(seed):
    rng = np.random.default_rng(seed)
    groups, c, m, kernel, stride, dilation, spatial = random_window_3d(rng, 2, (5, 9))
    auto = ["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"][seed % 5]
    if auto == "NOTSET":
        pads = [int(p) for p in rng.integers(0, 3, size=6)]  # asymmetric as often as not
    elif auto == "VALID":
        pads = [0] * 6
    else:
        pairs = [_same_pads(n, k, s, d, auto == "SAME_UPPER") for n, k, s, d in zip(spatial, kernel, stride, dilation)]
        pads = [p[0] for p in pairs] + [p[1] for p in pairs]
    x = rng.standard_normal([int(rng.integers(1, 3)), c] + spatial).astype(np.float32)
    w = rng.standard_normal([m, c // groups] + kernel).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) if seed % 3 else None
    attrs = {"kernel_shape": kernel, "strides": stride, "dilations": dilation, "group": groups}
    attrs.update(auto_pad=auto) if auto != "NOTSET" else attrs.update(pads=pads)
    return x, w, b, attrs, pads


@pytest.mark.parametrize("seed", range(10))
def test_conv3d_matches_torch_float64_forward_and_gradients(seed):
    x, w, b, attrs, pads = _configuration(seed)
    arrays = [x, w] + ([b] if b is not None else [])
    run_both("Conv", arrays, _torch_conv3d(pads, attrs["strides"], attrs["dilations"], attrs["group"]), attrs,
             opset=13)


class Volumes(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv3d(2, 4, 3, stride=(1, 2, 2), padding=1)
        self.conv2 = torch.nn.Conv3d(4, 4, (2, 3, 3), dilation=(1, 2, 1), groups=2, bias=False)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.conv2(torch.relu(self.conv1(x))).mean((2, 3, 4)))


@pytest.mark.parametrize("opset", [9, 17])
def test_exported_conv3d_network_matches_and_its_weights_get_torchs_gradients(opset):
    torch.manual_seed(opset)
    net = Volumes().eval()
    x = np.random.default_rng(opset).standard_normal((2, 2, 5, 9, 8)).astype(np.float32)
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, opset_version=opset, dynamo=False)
    graph = pycnn.onnx.load(buffer.getvalue())
    y = graph(pycnn.tensor(x))
    close(y.numpy(), run_onnxruntime(buffer.getvalue(), x)[0], "Conv3d net vs onnxruntime", 1e-5)
    y.sum().backward()
    reference = net.double()
    reference(torch.tensor(x, dtype=torch.float64)).sum().backward()
    grads = graph.onnx_arrays(grads=True)
    for name, p in reference.named_parameters():
        close(grads[name], p.grad.numpy(), f"gradient of {name}", 1e-5)


def test_a_kernel_larger_than_the_padded_depth_is_refused_by_name():
    x, w, _, attrs, _ = _configuration(0)
    attrs = dict(attrs, kernel_shape=[9] + attrs["kernel_shape"][1:], pads=[0] * 6, dilations=[1, 1, 1])
    w = np.zeros((w.shape[0], w.shape[1], 9) + w.shape[3:], np.float32)
    with pytest.raises(ValueError, match="Conv .* the kernel \\[9, .* does not fit the input"):
        run_both("Conv", [x, w], None, attrs, opset=13)


def test_inference_session_runs_a_conv3d_network():
    torch.manual_seed(0)
    buffer = io.BytesIO()
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 9, 8)).astype(np.float32)
    torch.onnx.export(Volumes().eval(), (torch.tensor(x),), buffer, opset_version=13, dynamo=False)
    session = pycnn.onnx.InferenceSession(buffer.getvalue())
    [got] = session.run(None, {session.get_inputs()[0].name: x})
    close(got, run_onnxruntime(buffer.getvalue(), x)[0], "InferenceSession vs onnxruntime", 1e-5)
