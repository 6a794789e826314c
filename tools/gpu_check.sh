#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build pycnn with the CUDA backend in place (the module lands in
# pycnn/, where the tests import it from) and run every CUDA test. One command for a device session:
#   bash tools/gpu_check.sh            (PYTHON=/path/to/python3 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -1
cmake -S . -B .gpubuild -G Ninja -DPYCNN_CUDA=ON -DPython_EXECUTABLE="$(command -v "$PYTHON")" >/dev/null
ninja -C .gpubuild
"$PYTHON" - <<'PY'
import pycnn
assert pycnn._C.built_with_cuda(), "built without CUDA"
assert pycnn.cuda.is_available(), "CUDA build, but no GPU visible"
import subprocess
print("device:", subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                capture_output=True, text=True).stdout.strip())
PY
"$PYTHON" -m pytest -q -m cuda -p no:cacheprovider tests "$@"
