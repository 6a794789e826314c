#!/usr/bin/env bash
# The sanitizer check: builds pycnn CPU-only with PYCNN_SANITIZE=address,undefined in a copy of the
# tracked tree, then runs the tests that drive the C++ core (ops forward and backward, autograd,
# hostile ONNX files and calls, data) and tools/fuzz_bindings.py under ASan and UBSan. Any report
# fails the run (the build does not recover from one).
#
#   bash tools/sanitize.sh [PYTHON]      (PYTHON has numpy, torch, onnx, onnxruntime, pytest, nanobind)
#   FUZZ_CALLS=100000 bash tools/sanitize.sh .venv/bin/python
#
# CPython's own allocations are never freed at exit, so leak detection is off (detect_leaks=0). A huge
# allocation returns null (an "out of memory" exception, as in a normal build) instead of a report.
set -euo pipefail
python=${1:-python3}
calls=${FUZZ_CALLS:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
began=$(date +%s)
cmake -S "$work" -B "$work/build" -G Ninja -DPYCNN_CUDA=OFF -DPYCNN_SANITIZE=address,undefined \
  -DPython_EXECUTABLE="$python" > "$work/configure.log"
ninja -C "$work/build" > "$work/build.log" || { tail -50 "$work/build.log"; exit 1; }
echo "sanitize: built in $(( $(date +%s) - began )) s"
# Python is not built with ASan: its runtime comes first, and libstdc++ with it (the runtime hooks
# C++ exceptions only when libstdc++ is loaded before the module).
export LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libstdc++.so)"
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=2048
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=2
cd "$work"
"$python" -m pytest -q -p no:cacheprovider -x tests/test_conv2d.py tests/test_max_pool2d.py \
  tests/test_avg_pool2d.py tests/test_batch_norm.py tests/test_linear.py tests/test_cross_entropy.py \
  tests/test_local_response_norm.py tests/test_cat.py tests/test_conv2d_prepared.py \
  tests/test_inference_plan.py tests/test_autograd_safety.py tests/test_anomaly.py tests/test_hostile_calls.py \
  tests/test_onnx_hostile.py tests/test_data.py tests/test_shape_rules.py tests/test_tensor.py \
  tests/test_channel_blocks.py
"$python" tools/fuzz_bindings.py --calls "$calls"
echo "sanitize: clean in $(( $(date +%s) - began )) s"
