"""Inference convolution timings per layer shape: _C.PreparedConv2d (weights packed once) against the
training kernel's forward (_C.conv2d_forward), torch.nn.functional.conv2d and onnxruntime (the layer as a
one-node ONNX Conv model with the same weights), measured in one run.

    python tools/bench_conv.py [--threads 2] [--models resnet18,resnet18:16,vgg16,resnet20,lenet5,mobilenetv2,
                                                       mobilenetv2_pw]
                               [--rounds 3]

Each row times the four side by side, in interleaved rounds (ours, old, torch, ort, ours, ...) with a pause
between them so the other OpenMP runtime's spinning threads have gone to sleep. The fastest call
counts: on a shared machine other processes take whole scheduler ticks from one of the two threads,
so medians measure the neighbours (two runs minutes apart differed 10x) and minimums the code.
Printed: milliseconds, GFLOP/s (2 * MACs / time), ort/ours, torch/ours and old/ours (above 1 means
PreparedConv2d is faster), and ours as a share of torch's float32 matmul rate (2048^3) at the same
thread count, measured at the start and the end. Nothing here asserts: tests never time anything.
"""
import argparse
import os
import sys
import time

import numpy as np
import onnxruntime
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout  # noqa: E402  (tools/ is not a package)

use_checkout()

import pycnn  # noqa: E402
from pycnn import _C  # noqa: E402


def conv(cin, cout, hw, k, s=1, p=None, groups=1):
    return (cin, cout, hw, k, s, k // 2 if p is None else p, groups)


RESNET18 = [conv(3, 64, 224, 7, 2, 3), conv(64, 64, 56, 3), conv(64, 128, 56, 3, 2), conv(64, 128, 56, 1, 2),
            conv(128, 128, 28, 3), conv(128, 256, 28, 3, 2), conv(128, 256, 28, 1, 2), conv(256, 256, 14, 3),
            conv(256, 512, 14, 3, 2), conv(256, 512, 14, 1, 2), conv(512, 512, 7, 3)]
VGG16 = [conv(3, 64, 224, 3), conv(64, 64, 224, 3), conv(64, 128, 112, 3), conv(128, 128, 112, 3),
         conv(128, 256, 56, 3), conv(256, 256, 56, 3), conv(256, 512, 28, 3), conv(512, 512, 28, 3),
         conv(512, 512, 14, 3)]
RESNET20 = [conv(3, 16, 32, 3), conv(16, 16, 32, 3), conv(16, 32, 32, 3, 2), conv(16, 32, 32, 1, 2),
            conv(32, 32, 16, 3), conv(32, 64, 16, 3, 2), conv(32, 64, 16, 1, 2), conv(64, 64, 8, 3)]
LENET5 = [conv(1, 6, 28, 5, 1, 2), conv(6, 16, 14, 5, 1, 0)]
MOBILENETV2_DW = [conv(c, c, hw, 3, s, 1, c) for c, hw, s in
                  [(32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (192, 28, 2),
                   (384, 14, 1), (576, 14, 1), (576, 14, 2), (960, 7, 1)]]
MOBILENETV2_PW = [conv(cin, cout, hw, 1) for cin, cout, hw in
                  [(32, 16, 112), (16, 96, 112), (96, 24, 56), (24, 144, 56), (144, 24, 56), (144, 32, 28),
                   (32, 192, 28), (192, 32, 28), (192, 64, 14), (64, 384, 14), (384, 64, 14), (384, 96, 14),
                   (96, 576, 14), (576, 96, 14), (576, 160, 7), (160, 960, 7), (960, 160, 7), (960, 320, 7),
                   (320, 1280, 7)]]
MODELS = {"resnet18": RESNET18, "vgg16": VGG16, "resnet20": RESNET20, "lenet5": LENET5,
          "mobilenetv2": MOBILENETV2_DW, "mobilenetv2_pw": MOBILENETV2_PW}


def block_time(fn, calls):
    fn()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(rounds):
    a = torch.randn(2048, 2048)
    with torch.no_grad():
        t = min(block_time(lambda: torch.matmul(a, a), 10) for _ in range(rounds))
    return 2 * 2048 ** 3 / t / 1e9


def ort_session(x, w, b, stride, pad, groups, threads):
    """onnxruntime on a one-node Conv model holding w and b, at `threads` intra-op threads."""
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[stride] * 2, pads=[pad] * 4, group=groups)
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def bench_layer(layer, n, rounds, rng, threads):
    cin, cout, hw, k, s, p, g = layer
    x = rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((cout, cin // g, k, k)) * 0.1).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    X, W, B = _C.from_numpy(x), _C.from_numpy(w), _C.from_numpy(b)
    tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
    session = ort_session(x, w, b, s, p, g, threads)
    prepared = _C.PreparedConv2d(W, B, [n, cin, hw, hw], (s, s), (p, p), (1, 1), g)
    oh = (hw + 2 * p - k) // s + 1
    flops = 2 * n * cout * oh * oh * (cin // g) * k * k
    calls = max(5, min(100, int(0.1 / max(flops / 100e9, 1e-5))))
    impls = {
        "ours": lambda: prepared.forward(X),
        "old": lambda: _C.conv2d_forward(X, W, B, (s, s), (p, p), (1, 1), g),
        "torch": lambda: torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p, groups=g),
        "ort": lambda: session.run(None, {"x": x}),
    }
    best = {name: float("inf") for name in impls}
    with torch.no_grad():
        for _ in range(rounds):
            for name, fn in impls.items():
                time.sleep(0.03)
                best[name] = min(best[name], block_time(fn, calls))
    return flops, best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="resnet18,resnet18:16,vgg16,resnet20,lenet5,mobilenetv2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pycnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    peak = matmul_gflops(args.rounds)
    print(f"threads {args.threads}, gemm isa {_C.gemm_isa()}, torch fp32 matmul 2048^3: {peak:.0f} GFLOP/s")
    print(f"{'layer':34s} {'MFLOP':>8s} {'ours ms':>8s} {'old ms':>8s} {'torch ms':>8s} {'ort ms':>8s} {'GF/s':>6s} "
          f"{'%mm':>5s} {'ort/ours':>8s} {'torch/ours':>10s} {'old/ours':>8s}")
    totals = {}
    for spec in args.models.split(","):
        name, _, batch = spec.partition(":")
        n = int(batch or 1)
        total = {"ours": 0.0, "old": 0.0, "torch": 0.0, "ort": 0.0}
        for layer in MODELS[name]:
            cin, cout, hw, k, s, p, g = layer
            flops, t = bench_layer(layer, n, args.rounds, rng, args.threads)
            for key in total:
                total[key] += t[key]
            label = f"{name} b{n} {cin}->{cout} {hw}x{hw} k{k}s{s}" + (f" g{g}" if g > 1 else "")
            gf = flops / t["ours"] / 1e9
            ms = " ".join(f"{t[key] * 1e3:8.3f}" for key in ("ours", "old", "torch", "ort"))
            print(f"{label:34s} {flops / 1e6:8.1f} {ms} {gf:6.0f} {100 * gf / peak:4.0f}% "
                  f"{t['ort'] / t['ours']:8.2f} {t['torch'] / t['ours']:10.2f} {t['old'] / t['ours']:8.2f}", flush=True)
        totals[spec] = total
    for spec, total in totals.items():
        ms = "  ".join(f"{key} {t * 1e3:8.2f} ms" for key, t in total.items())
        print(f"sum {spec:30s} {ms}  ort/ours {total['ort'] / total['ours']:.2f}  "
              f"torch/ours {total['torch'] / total['ours']:.2f}  old/ours {total['old'] / total['ours']:.2f}")
    print(f"torch fp32 matmul 2048^3 at the end: {matmul_gflops(args.rounds):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
