"""Activations composed of pycnn's kernels (pycnn/nn/functional/activation.py): selu, celu, mish,
logsigmoid, softsign, tanhshrink, softmin and glu, and their layers, against torch float64 (values
and gradients on random shapes, a dense grid through 0 and extremes where a naive formula overflows)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs
from pycnn import nn

OPS = {
    "selu": ({}, {}), "celu": ({"alpha": 0.7}, {"alpha": 0.7}), "mish": ({}, {}), "logsigmoid": ({}, {}),
    "softsign": ({}, {}), "tanhshrink": ({}, {}), "softmin": ({"dim": 1}, {"dim": 1}), "glu": ({"dim": 1}, {"dim": 1}),
}


def _case(rng):
    name = sorted(OPS)[int(rng.integers(len(OPS)))]
    shape = [int(s) for s in rng.integers(1, 6, rng.integers(2, 5))]
    if name == "glu":
        shape[1] *= 2
    return name, tuple(shape), int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(32, 41, _case), ids=lambda c: f"{c[0]}-{c[1]}")
def test_composed_activations_match_torch(case, device):
    name, shape, seed = case
    ours, theirs = OPS[name]
    data = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(np.float32)
    check_op(lambda x: getattr(F, name)(x, **ours), lambda x: getattr(TF, name)(x, **theirs), [data],
             device=device)


@pytest.mark.parametrize("name", ["selu", "celu", "mish", "logsigmoid", "softsign", "tanhshrink"])
def test_composed_activations_on_a_grid_and_extremes(name):
    # Through 0 (the branches of selu and celu meet there) and out to +-80, where exp overflows float32:
    # logsigmoid and mish stay finite, as torch's.
    grid = np.concatenate([np.linspace(-6, 6, 241), [-80.0, -30.0, 30.0, 80.0]]).astype(np.float32)
    check_op(lambda x: getattr(F, name)(x), lambda x: getattr(TF, name)(x), [grid])


def test_composed_activation_layers():
    x = pycnn.tensor(np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32))
    for ours, theirs in [(nn.SELU(), torch.nn.SELU()), (nn.CELU(0.5), torch.nn.CELU(0.5)), (nn.Mish(), torch.nn.Mish()),
                         (nn.LogSigmoid(), torch.nn.LogSigmoid()), (nn.Softsign(), torch.nn.Softsign()),
                         (nn.Tanhshrink(), torch.nn.Tanhshrink()), (nn.Softmin(dim=2), torch.nn.Softmin(dim=2)),
                         (nn.GLU(dim=1), torch.nn.GLU(dim=1))]:
        np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x.numpy())).numpy(), rtol=1e-5, atol=1e-6)
        assert repr(ours) == repr(theirs)


def test_composed_activation_errors():
    x = pycnn.ones(2, 3)
    with pytest.raises(ValueError, match=r"glu: halving dimension must be even, but dimension 1 is size 3"):
        F.glu(x)
    with pytest.raises(IndexError, match=r"glu: dimension out of range"):
        F.glu(x, 2)
    with pytest.raises(ValueError, match=r"celu: .*expected alpha != 0"):
        F.celu(x, 0.0)
    with pytest.raises(ValueError, match=r"softmin: expected dim to be an int"):
        F.softmin(x)
    with pytest.raises(TypeError, match=r"mish"):
        F.mish(pycnn.tensor(np.ones(2, np.int64)))


class SplitHeads(nn.Module):
    """GLU (a split and a sigmoid gate), Softsign (abs) and uneven chunks of a split: the exporters of
    split's parts (Slice) and abs."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3)

    def forward(self, x):
        a, b, c = self.conv(x).split([2, 4, 6], 1)
        return nn.GLU(dim=1)(c) * b.sum(1, keepdim=True) + nn.Softsign()(a).mean(1, keepdim=True)


def test_glu_softsign_and_split_export_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from helpers.onnx_torch import check_export

    pycnn.manual_seed(8)
    x = np.random.default_rng(3).standard_normal((3, 3, 7, 7)).astype(np.float32)
    check_export(SplitHeads().eval(), str(tmp_path / "heads.onnx"), x)  # exported at batch 1, run at 3
