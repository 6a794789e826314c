"""F.normalize (pycnn/nn/functional/normalize.py): rows divided by their p-norm, against torch float64,
values and gradients, zero rows and zeros under p < 1 included (no NaN)."""
import numpy as np
import pytest
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def _case(rng):
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 5)))
    dim = int(rng.integers(-len(shape), len(shape)))
    p = float(rng.choice([2.0, 1.0, 3.0, 0.5, 1.5]))
    return shape, dim, p, int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(30, 51, _case), ids=lambda c: f"{c[0]}-dim{c[1]}-p{c[2]}")
def test_normalize_matches_torch(case, device):
    shape, dim, p, seed = case
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    data[np.random.default_rng(seed + 1).random(shape) < 0.2] = 0.0  # zeros: |0|^(p-1) under p < 1
    check_op(lambda x: F.normalize(x, p, dim), lambda x: TF.normalize(x, p, dim), [data], device=device)


def test_normalize_zero_rows_and_defaults():
    x = pycnn.tensor(np.array([[3.0, 4.0], [0.0, 0.0]], np.float32), requires_grad=True)
    y = F.normalize(x)  # p=2 along dim 1
    np.testing.assert_allclose(y.numpy(), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    y.sum().backward()  # d/dx of x / |x|: (I - y y^T) / |x|; a zero row: 1 / eps, as torch
    np.testing.assert_allclose(x.grad.numpy(), [[0.032, -0.024], [1e12, 1e12]], rtol=1e-5)
    with pytest.raises(IndexError, match=r"normalize: dimension out of range"):
        F.normalize(x, dim=2)
    with pytest.raises(ValueError, match=r"normalize: expected a finite p > 0, got 0.0"):
        F.normalize(x, p=0)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_normalize_exports_to_onnx(tmp_path, p):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from helpers.onnx_torch import check_export

    class Embed(pycnn.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = pycnn.nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return F.normalize(self.conv(x).mean((2, 3)), p, 1)

    pycnn.manual_seed(9)
    x = np.random.default_rng(4).standard_normal((3, 3, 6, 6)).astype(np.float32)
    check_export(Embed().eval(), str(tmp_path / "embed.onnx"), x)

