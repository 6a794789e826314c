"""sigmoid: forward and backward against torch float64 on random shapes of rank 0 to 4. The cases
are helpers/saturating_cases.py's, shared with tanh (test_tanh.py), plus sigmoid's saturation values."""
import pytest

import pycnn
import pycnn.nn.functional as F
from helpers import saturating_cases

CONFIGS, IDS = saturating_cases.configs(seed=102)


@pytest.mark.parametrize("shape,scale", CONFIGS, ids=IDS)
def test_sigmoid_matches_torch(device, shape, scale):
    saturating_cases.matches_torch("sigmoid", device, shape, scale)


def test_sigmoid_rejects_bad_input(device):
    saturating_cases.rejects_bad_input("sigmoid", device)


def test_sigmoid_saturates_without_nan(device):
    y = F.sigmoid(pycnn.tensor([-1000.0, 0.0, 1000.0], device=device))
    assert y.numpy().tolist() == [0.0, 0.5, 1.0]
