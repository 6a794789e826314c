"""F.pad and the padding layers (pycnn/nn/functional/padding.py, pycnn/nn/layers/padding.py) against
torch float64: every mode, negative pads, 1 to 3 padded dimensions, the gradient folded back onto the
positions each pad copies; the layers' export to ONNX against onnxruntime."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs
from pycnn import nn


def _pad_case(rng):
    mode = ["constant", "reflect", "replicate", "circular"][int(rng.integers(4))]
    if mode == "constant":
        shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 5)))
        dims = int(rng.integers(1, len(shape) + 1))
        pad = tuple(int(p) for p in rng.integers(-1, 4, 2 * dims))
        pad = tuple(max(p, -1) for p in pad)
    else:
        dims = int(rng.integers(1, 4))
        shape = tuple(int(s) for s in rng.integers(2, 6, dims + int(rng.integers(1, 3))))
        limit = [shape[-1 - i] - (1 if mode == "reflect" else 0) for i in range(dims)]
        pad = tuple(int(rng.integers(0, limit[i // 2] + 1)) for i in range(2 * dims))
    value = float(rng.choice([0.0, 1.5])) if mode == "constant" else None
    return shape, pad, mode, value, int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(40, 31, _pad_case), ids=lambda c: f"{c[2]}-{c[0]}-{c[1]}")
def test_pad_matches_torch(case, device):
    shape, pad, mode, value, seed = case
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    kwargs = {"mode": mode} if value is None else {"mode": mode, "value": value}
    check_op(lambda x: F.pad(x, pad, **kwargs), lambda x: TF.pad(x, pad, **kwargs), [data], device=device)


def test_padding_layers_match_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    line = rng.standard_normal((2, 3, 7)).astype(np.float32)
    for ours, theirs, data in [
        (nn.ZeroPad2d(2), torch.nn.ZeroPad2d(2), x),
        (nn.ConstantPad2d((1, 0, 2, 3), -1.0), torch.nn.ConstantPad2d((1, 0, 2, 3), -1.0), x),
        (nn.ReflectionPad2d((2, 1, 0, 3)), torch.nn.ReflectionPad2d((2, 1, 0, 3)), x),
        (nn.ReplicationPad2d(3), torch.nn.ReplicationPad2d(3), x),
        (nn.ZeroPad1d((0, 2)), torch.nn.ZeroPad1d((0, 2)), line),
        (nn.ConstantPad1d(1, 2.0), torch.nn.ConstantPad1d(1, 2.0), line),
        (nn.ReflectionPad1d((3, 1)), torch.nn.ReflectionPad1d((3, 1)), line),
        (nn.ReplicationPad1d(2), torch.nn.ReplicationPad1d(2), line),
    ]:
        check_op(ours, theirs, [data])
    for ours, theirs in [(nn.ConstantPad2d((1, 0, 2, 3), -1.0), torch.nn.ConstantPad2d((1, 0, 2, 3), -1.0)),
                         (nn.ZeroPad2d(2), torch.nn.ZeroPad2d(2)), (nn.ReflectionPad1d(1), torch.nn.ReflectionPad1d(1)),
                         (nn.ConstantPad1d(1, 2.0), torch.nn.ConstantPad1d(1, 2.0))]:
        assert repr(ours) == repr(theirs)


def test_pad_refuses_what_torch_refuses():
    x = pycnn.tensor(np.zeros((1, 2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"pad: padding length must be divisible by 2"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match=r"padding length should be at most two times the input dimension"):
        F.pad(x, (1,) * 10)
    with pytest.raises(ValueError, match=r"mode 'reflect' pads the last 1, 2 or 3 dimensions"):
        F.pad(x, (1, 1), mode="reflect")
    with pytest.raises(ValueError, match=r"reflect padding \(4, 0\) must be smaller than dimension 3"):
        F.pad(x, (4, 0, 1, 1), mode="reflect")
    with pytest.raises(ValueError, match=r"circular padding \(0, 5\) must be at most dimension 3"):
        F.pad(x, (0, 5, 1, 1), mode="circular")
    with pytest.raises(ValueError, match=r"expected mode 'constant', 'reflect', 'replicate' or 'circular'"):
        F.pad(x, (1, 1), mode="edge")
    with pytest.raises(TypeError, match=r"expected pad to be a tuple of ints"):
        F.pad(x, (1.5, 1))
    with pytest.raises(ValueError, match=r"Pad: pads .* remove more than the 4 elements of axis 3"):
        F.pad(x, (-3, -2))
    with pytest.raises(ValueError, match=r"ZeroPad2d: expected padding to be an int or a tuple of 4 ints"):
        nn.ZeroPad2d((1, 2))


class PaddedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d((1, 2, 0, 1))
        self.conv = nn.Conv2d(3, 4, 3)
        self.zero = nn.ZeroPad2d(1)

    def forward(self, x):
        return self.zero(self.conv(self.pad(x)))


def test_padding_layers_export_to_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from helpers.onnx_torch import check_export

    pycnn.manual_seed(6)
    path = tmp_path / "padded.onnx"
    x = np.random.default_rng(3).standard_normal((3, 3, 6, 7)).astype(np.float32)
    check_export(PaddedNet().eval(), str(path), x)  # exported at batch 1, run at 3
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("Pad") == 2
