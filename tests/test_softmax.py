"""softmax: forward and backward against torch float64 along every dim (negative too), large logits.
The cases are helpers/softmax_cases.py's, shared with log_softmax (test_log_softmax.py)."""
import pytest

from helpers import softmax_cases

CONFIGS, IDS = softmax_cases.configs(seed=107)


@pytest.mark.parametrize("shape,dim,scale", CONFIGS, ids=IDS)
def test_softmax_matches_torch(device, shape, dim, scale):
    softmax_cases.matches_torch("softmax", device, shape, dim, scale)


def test_softmax_large_logits_stay_finite(device):
    softmax_cases.large_logits_stay_finite("softmax", device)


def test_softmax_of_0d_tensor(device):
    softmax_cases.of_0d_tensor("softmax", device)


def test_softmax_rejects_bad_input(device):
    softmax_cases.rejects_bad_input("softmax", device)
