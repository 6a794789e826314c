"""tanh: forward and backward against torch float64 on random shapes of rank 0 to 4. The cases are
helpers/saturating_cases.py's, shared with sigmoid (test_sigmoid.py)."""
import pytest

from helpers import saturating_cases

CONFIGS, IDS = saturating_cases.configs(seed=103)


@pytest.mark.parametrize("shape,scale", CONFIGS, ids=IDS)
def test_tanh_matches_torch(device, shape, scale):
    saturating_cases.matches_torch("tanh", device, shape, scale)


def test_tanh_rejects_bad_input(device):
    saturating_cases.rejects_bad_input("tanh", device)
