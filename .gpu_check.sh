set -e
nvidia-smi --query-gpu=name --format=csv,noheader
which nvcc || ls /usr/local/cuda/bin/nvcc
export PATH=/usr/local/cuda/bin:$PATH
python3 -c "import onnx, onnxruntime, torch; print(onnx.__version__, onnxruntime.__version__, torch.__version__)" || true
mkdir -p .gpubuild && cd .gpubuild
cmake .. -G Ninja -DPYCNN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DPython_EXECUTABLE=$(which python3) > $OUT/cmake.log 2>&1 || (tail -30 $OUT/cmake.log; exit 1)
time ninja -j16 > $OUT/ninja.log 2>&1 || (tail -40 $OUT/ninja.log; exit 1)
cd ..
python3 -c "import pycnn; print('cuda available', pycnn.cuda.is_available())"
timeout 200 python3 -m pytest -q -x -p no:cacheprovider tests/test_onnx_import.py -k "device or every_listed or train_mode" 2>&1 | tail -5
timeout 120 python3 -c "
import pycnn, pycnn.onnx, numpy as np, glob
print(pycnn.onnx.check('/dev/null') if False else 'check:')
" || true
