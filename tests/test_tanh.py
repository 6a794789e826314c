"""tanh: forward and backward against torch float64 on random shapes of rank 0 to 4. The cases are
saturating_cases.py's, shared with sigmoid (test_sigmoid.py)."""
from helpers.saturating_cases import make_tests

test_tanh_matches_torch, test_tanh_rejects_bad_input = make_tests("tanh", seed=103)
