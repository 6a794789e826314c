"""A short run of tools/fuzz_bindings.py: random and hostile arguments through every _C binding
(shapes, strides, paddings, dilations, groups, dtypes, non-contiguous and aliased numpy arrays), each
call returning or raising a Python exception. The 100,000-call run is the CI's sanitizer step."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import fuzz_bindings  # noqa: E402


def test_every_binding_is_drawn_and_parsed():
    targets, _ = fuzz_bindings.targets()
    names = {name for name, _, _ in targets}
    assert {"conv2d_forward", "conv2d_backward", "max_pool2d_backward", "Tensor.view", "PreparedConv2d.forward",
            "InferencePlan.run", "from_numpy", "adam_update", "cat_backward"} <= names
    for name, function, _ in targets:
        params = fuzz_bindings.parse_params(function)
        gen = fuzz_bindings.Generator(__import__("numpy").random.default_rng(0))
        for pname, kind, _ in params:
            gen.value(pname, kind)  # a generator exists for every parameter type


def test_short_fuzz_run_has_no_crash():
    calls = int(os.environ.get("PYCNN_FUZZ_CALLS", "3000"))
    result = fuzz_bindings.fuzz(calls, seed=int(os.environ.get("PYCNN_FUZZ_SEED", "1")))
    assert result["crashes"] == [], result["crashes"][0]["call"] + "\n" + result["crashes"][0]["stderr"]
    assert result["calls"] == calls == result["ok"] + result["refused"]
    assert result["ok"] > calls // 4  # most calls reach the kernels, not only the argument checks
