"""linear forward and backward against PyTorch float64, and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make_config(rng):
    lead = [int(d) for d in rng.integers(1, 5, size=int(rng.integers(1, 3)))]
    return dict(lead=lead, fin=int(rng.integers(1, 300)), fout=int(rng.integers(1, 70)),
                bias=bool(rng.random() < 0.7), seed=int(rng.integers(1 << 30)))


@pytest.mark.parametrize("cfg", random_configs(30, 99, make_config), ids=str)
def test_linear_matches_torch(cfg, device):
    rng = np.random.default_rng(cfg["seed"])
    inputs = [rng.standard_normal(cfg["lead"] + [cfg["fin"]]), rng.standard_normal((cfg["fout"], cfg["fin"]))]
    if cfg["bias"]:
        inputs.append(rng.standard_normal(cfg["fout"]))
    check_op(F.linear, torch.nn.functional.linear, inputs, device=device, seed=cfg["seed"])


def test_linear_large(device):
    rng = np.random.default_rng(5)
    check_op(F.linear, torch.nn.functional.linear,
             [rng.standard_normal((64, 1000)), rng.standard_normal((300, 1000)) * 0.05, rng.standard_normal(300)],
             device=device)


def test_linear_bad_input():
    message = r"linear: expected input with last dimension in_features=4 .* got input of shape \(2, 3\)"
    with pytest.raises(ValueError, match=message):
        F.linear(pycnn.zeros(2, 3), pycnn.zeros(5, 4))
    with pytest.raises(ValueError, match=r"linear: expected weight to be 2-d"):
        F.linear(pycnn.zeros(2, 3), pycnn.zeros(3))
    with pytest.raises(ValueError, match=r"linear: expected bias of shape \(5,\), got \(4,\)"):
        F.linear(pycnn.zeros(2, 4), pycnn.zeros(5, 4), pycnn.zeros(4))
    with pytest.raises(TypeError, match=r"linear: expected input to be float32, got int64"):
        F.linear(pycnn.tensor([[1, 2]]), pycnn.zeros(5, 2))


def test_linear_few_rows_wide_layer(device):
    """Batch 1 to 4 through a wide layer: the CPU's matrix-vector path, split over threads."""
    rng = np.random.default_rng(6)
    for batch in (1, 3):
        check_op(F.linear, torch.nn.functional.linear,
                 [rng.standard_normal((batch, 517)), rng.standard_normal((301, 517)) * 0.05,
                  rng.standard_normal(301)], device=device)
