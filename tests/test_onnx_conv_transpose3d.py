"""ONNX ConvTranspose on (N, C, D, H, W) inputs: pycnn computes it as 2-d transposed convolutions placed
along the depth (pycnn/onnx/ops/conv.py, _conv_transpose3d). Forward and the gradients of the input,
weight and bias against torch float64 on random configurations (odd sizes, strides, dilations, groups,
asymmetric pads, output_padding, output_shape, auto_pad), and PyTorch-exported ConvTranspose3d networks
against onnxruntime whose weights get torch's gradients."""
import io

import numpy as np
import pytest

import pycnn
import pycnn.onnx

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import run_onnxruntime  # noqa: E402
from helpers.onnx_torch import close, random_window_3d, run_both  # noqa: E402

MODES = ("pads", "output_padding", "output_shape", "SAME_UPPER", "SAME_LOWER", "VALID")


def _window(size, kernel, stride, dilation, attrs):
    """(begin, output size) per spatial axis as the ONNX spec of ConvTranspose defines them, written
    out independently of pycnn's geometry."""
    full = [(n - 1) * s + (k - 1) * d + 1 for n, k, s, d in zip(size, kernel, stride, dilation)]
    output_padding = attrs.get("output_padding", [0] * 3)
    auto = attrs.get("auto_pad", "NOTSET")
    out_shape = attrs.get("output_shape")
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [n * s for n, s in zip(size, stride)]
    if out_shape is not None:
        totals = [f + op - o for f, op, o in zip(full, output_padding, out_shape)]
        begins = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        return begins, list(out_shape)
    pads = attrs.get("pads", [0] * 6)
    return pads[:3], [f + op - b - e for f, op, b, e in zip(full, output_padding, pads[:3], pads[3:])]


def _torch_conv_transpose3d(begin, out, stride, dilation, groups):
    """torch's full transposed convolution (no padding), cut to the window [begin, begin + out) per axis
    (zeros past the full result), plus the bias."""
    def fn(x, w, b=None):
        y = torch.nn.functional.conv_transpose3d(x, w, None, stride=stride, dilation=dilation, groups=groups)
        cut = []
        for axis in (2, 1, 0):  # F.pad lists the last axis first
            cut += [-begin[axis], out[axis] - (y.shape[2 + axis] - begin[axis])]
        y = torch.nn.functional.pad(y, cut)
        return y if b is None else y + b.reshape(1, -1, 1, 1, 1)
    return fn


def _configuration(seed):
    rng = np.random.default_rng(seed)
    groups, c, m, kernel, stride, dilation, spatial = random_window_3d(rng, 3, (2, 6))
    attrs = {"kernel_shape": kernel, "strides": stride, "dilations": dilation, "group": groups}
    mode = MODES[seed % len(MODES)]
    full = [(n - 1) * s + (k - 1) * d + 1 for n, k, s, d in zip(spatial, kernel, stride, dilation)]
    if mode in ("pads", "output_padding"):
        pads = [int(rng.integers(0, (f + 1) // 2)) for f in full] * 2  # asymmetric: the ends drawn again
        pads[3:] = [int(rng.integers(0, max(f - b, 1))) for f, b in zip(full, pads[:3])]
        attrs["pads"] = pads
        if mode == "output_padding":
            attrs["output_padding"] = [int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation)]
    elif mode == "output_shape":
        attrs["output_shape"] = [int(rng.integers(max(f - 2, 1), f + 2)) for f in full]
    else:
        attrs["auto_pad"] = mode
    x = rng.standard_normal([int(rng.integers(1, 3)), c] + spatial).astype(np.float32)
    w = rng.standard_normal([c, m // groups] + kernel).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) if seed % 4 else None
    return x, w, b, attrs


@pytest.mark.parametrize("seed", range(18))
def test_conv_transpose3d_matches_torch_float64_forward_and_gradients(seed):
    x, w, b, attrs = _configuration(seed)
    begin, out = _window(x.shape[2:], attrs["kernel_shape"], attrs["strides"], attrs["dilations"], attrs)
    assert min(out) >= 1
    arrays = [x, w] + ([b] if b is not None else [])
    run_both("ConvTranspose", arrays,
             _torch_conv_transpose3d(begin, out, attrs["strides"], attrs["dilations"], attrs["group"]), attrs,
             opset=13)


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up1 = torch.nn.ConvTranspose3d(3, 4, 3, stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1))
        self.up2 = torch.nn.ConvTranspose3d(4, 2, (2, 3, 3), stride=2, dilation=(1, 2, 1), groups=2, bias=False)

    def forward(self, x):
        return self.up2(torch.relu(self.up1(x)))


@pytest.mark.parametrize("opset", [9, 17])
def test_exported_conv_transpose3d_network_matches_onnxruntime_and_torchs_gradients(opset):
    torch.manual_seed(opset)
    net = Decoder().eval()
    x = np.random.default_rng(opset).standard_normal((2, 3, 3, 5, 4)).astype(np.float32)
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, opset_version=opset, dynamo=False)
    graph = pycnn.onnx.load(buffer.getvalue())
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    close(y.numpy(), run_onnxruntime(buffer.getvalue(), x)[0], "ConvTranspose3d net vs onnxruntime", 1e-5)
    y.sum().backward()
    reference = net.double()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    reference(xt).sum().backward()
    close(xp.grad.numpy(), xt.grad.numpy(), "input gradient", 1e-5)
    grads = graph.onnx_arrays(grads=True)
    for name, p in reference.named_parameters():
        close(grads[name], p.grad.numpy(), f"gradient of {name}", 1e-5)
    session = pycnn.onnx.InferenceSession(buffer.getvalue())
    [got] = session.run(None, {session.get_inputs()[0].name: x})
    close(got, y.numpy(), "InferenceSession vs the Graph", 1e-6)


def test_a_4d_kernel_a_mismatched_weight_or_bias_or_an_empty_output_is_refused_by_name():
    x, w, _, attrs = _configuration(0)
    with pytest.raises(ValueError, match="ConvTranspose .* input of shape .* and weight of shape .* different ranks"):
        run_both("ConvTranspose", [x, w[..., 0]], None, dict(attrs, kernel_shape=attrs["kernel_shape"][:2],
                                                              strides=[1, 1], dilations=[1, 1], pads=[0] * 4), opset=13)
    with pytest.raises(pycnn.onnx.OnnxImportError, match="kernel_shape \\[1, 1, 1, 1\\] is 4-d; pycnn transposes"):
        run_both("ConvTranspose", [x, w], None, dict(attrs, kernel_shape=[1, 1, 1, 1]), opset=13)
    with pytest.raises(ValueError, match=r"ConvTranspose .*: input of shape \(2, 6, 4, 4, 5\) and weight of shape "
                                         r"\(6, 2, 1, 1, 1\) with group 4: expected weight \(C_in, C_out/group, kD"):
        run_both("ConvTranspose", [x, w], None, dict(attrs, group=4), opset=13)
    with pytest.raises(ValueError, match=r"ConvTranspose .*: bias of shape \(1,\), expected \(6,\)"):
        run_both("ConvTranspose", [x, w, np.ones(1, np.float32)], None, attrs, opset=13)
    with pytest.raises(ValueError, match=r"ConvTranspose .*: the output would be \(0, 3, 3\), not positive"):
        run_both("ConvTranspose", [x, w], None, dict(attrs, output_shape=[0, 3, 3]), opset=13)
