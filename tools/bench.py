"""pycnn benchmarks, always next to a peer measured in the same run, printed as a ratio.

    python tools/bench.py ops   [--device cpu|cuda] [--threads N] [--repeat R]
    python tools/bench.py train [--device cpu|cuda] [--models lenet5,resnet20:128,vgg16:32:infer,...]
    python tools/bench.py infer [--threads N] [--models lenet5:1,resnet18:16,mobilenet_v2:1,...]
    python tools/bench.py contention [--threads N] [--cpus 0,1] [--spincounts 30000]

`ops`: forward and backward time of each op at LeNet-5, AlexNet and VGG-16 layer shapes, pycnn vs
PyTorch, with conv/linear GFLOP/s next to numpy's float32 matmul rate (this machine's ceiling).
`train`: one training step (forward, cross-entropy, backward, SGD momentum) of whole models, pycnn vs
PyTorch, each library in a process of its own with the same thread count.
`infer`: eval-mode inference of whole models on the CPU: pycnn's plan (pycnn.optimize_for_inference of
the zoo model) and session (pycnn.onnx.InferenceSession), PyTorch eager and onnxruntime on the same
ONNX file (PyTorch's export of tools/reference_models, or torchvision's MobileNetV2), each library in a
process of its own with the same thread count.
`contention`: the main job's training (LeNet-5, batch 32, one epoch of 4,000 images) and a batch-1
inference (pycnn.optimize_for_inference of ResNet-20, 1x3x32x32; PyTorch eager in no_grad), each in a
fresh process, with the cores idle and with one busy process beside it, pycnn and PyTorch, at the
default thread count (all the CPUs of --cpus); prints contended / idle for each: PyTorch, pycnn as it
ships (libgomp's default spin and its thread governor), pycnn with the governor off
(PYCNN_THREAD_GOVERNOR=0), and pycnn as it was before the governor (GOMP_SPINCOUNT=10000, governor
off); --spincounts adds pycnn rows with GOMP_SPINCOUNT set so. The 'deterministic' row trains with
pycnn.use_deterministic_algorithms(True).
Times are medians over --repeat runs after a warm-up. Ratio = pycnn time / peer time (below 1 means
pycnn is faster). `train` and `infer` start --rounds sets of workers, one process per library, and each
set takes --turns timings, the libraries taking turns: the ratio is the median of the turns' ratios, so a
VM whose speed drifts within a minute moves both sides of each ratio alike. Nothing here asserts: tests
never time anything.

pycnn and torch both link an OpenMP runtime named libgomp.so.1, which one process loads once, with
the wait policy of the environment it finds (pycnn/_threads.py). So pycnn is imported only in
the functions that use it: the processes that measure torch or onnxruntime never load pycnn, and the
one that measures pycnn never loads torch.
"""
import argparse
import importlib.metadata
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout  # noqa: E402  (tools/ is not a package)
from bench_common import ServedWorker, median_time, report_times, table_header, torch_model  # noqa: E402
from bench_contention import contention_worker, run_contention  # noqa: E402

use_checkout()


def fp32_note(device):
    """The header's words for the GPU and the precision (empty on the CPU); reads no library. Runs
    nvidia-smi: called once per run, by the process that prints the header."""
    if device != "cuda":
        return ""
    name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                          capture_output=True, text=True).stdout.strip()
    return f", GPU {name}, FP32 on both sides (TF32 off in PyTorch)"


def fp32_peer(torch, device):
    """Makes PyTorch compute in true FP32 like pycnn (cuDNN and cuBLAS default to TF32 tensor cores
    for convolutions, which would compare a different precision)."""
    if device == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def alternate(jobs, rounds, turns):
    """Times each job ({label: worker argv}) in ``rounds`` processes of its own, each kept up for ``turns``
    timings, the jobs taking turns (the order rotated each turn), so that a machine whose speed drifts (a
    VM beside busy neighbours: one process's median moved 30% from one run to the next here, and 1.6x
    within one minute) slows every library alike within a turn; a fresh process each round samples what
    differs from process to process (where its memory and threads landed). Returns {label: [milliseconds of
    each turn of each round]}, the same turn at the same index for every label."""
    labels = list(jobs)
    times = {label: [] for label in labels}
    for r in range(rounds):
        workers = {label: ServedWorker(jobs[label], label) for label in labels}
        try:
            for t in range(turns):
                shift = (r * turns + t) % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    times[label].append(workers[label].turn())
        finally:
            for worker in workers.values():
                worker.close()
    return times


def round_ratios(ours, theirs):
    """(median, lowest, highest) of the per-turn ratios ours[i] / theirs[i]."""
    ratios = np.array(ours) / np.array(theirs)
    return float(np.median(ratios)), float(np.min(ratios)), float(np.max(ratios))


def worker_argv(args, lib, name, batch, detail):
    """The arguments of a ServedWorker for one `train` or `infer` worker: ``lib`` on model ``name``."""
    return [args.what, "--threads", str(args.threads), "--repeat", str(args.repeat), "--device", args.device,
            "--worker", lib, name, str(batch), detail]


def numpy_matmul_gflops(repeat):
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    t = median_time(lambda: a @ a, repeat)
    return 2 * 2048**3 / t / 1e9


# (label, op, shapes and keyword arguments). Conv: (N, C_in, H, W, C_out, k, stride, pad, groups).
def op_cases():
    cases = []
    for label, n, cin, h, cout, k, s, p, g in [
        ("lenet conv1", 64, 1, 28, 6, 5, 1, 2, 1),
        ("lenet conv2", 64, 6, 14, 16, 5, 1, 0, 1),
        ("alexnet conv1", 16, 3, 227, 96, 11, 4, 0, 1),
        ("alexnet conv2 (g=2)", 16, 96, 27, 256, 5, 1, 2, 2),
        ("alexnet conv3", 16, 256, 13, 384, 3, 1, 1, 1),
        ("vgg16 conv1_2", 2, 64, 224, 64, 3, 1, 1, 1),
        ("vgg16 conv2_2", 2, 128, 112, 128, 3, 1, 1, 1),
        ("vgg16 conv3_3", 2, 256, 56, 256, 3, 1, 1, 1),
        ("vgg16 conv4_3", 2, 512, 28, 512, 3, 1, 1, 1),
        ("vgg16 conv5_3", 2, 512, 14, 512, 3, 1, 1, 1),
    ]:
        flops = 2 * n * cout * (cin // g) * k * k * ((h + 2 * p - k) // s + 1) ** 2
        cases.append(dict(label=label, kind="conv2d", x=(n, cin, h, h), w=(cout, cin // g, k, k),
                          kw=dict(stride=s, padding=p, groups=g), flops=flops))
    for label, n, fin, fout in [("lenet fc1", 64, 400, 120), ("alexnet fc6", 16, 9216, 4096),
                                ("vgg16 fc7", 16, 4096, 4096)]:
        cases.append(dict(label=label, kind="linear", x=(n, fin), w=(fout, fin), kw={}, flops=2 * n * fin * fout))
    pointwise = [("lenet relu", (64, 6, 28, 28)), ("vgg16 relu1", (2, 64, 224, 224))]
    for label, shape in pointwise:
        cases.append(dict(label=label, kind="relu", x=shape, kw={}, flops=0))
    for label, shape, k, s in [("lenet maxpool", (64, 6, 28, 28), 2, 2), ("alexnet maxpool", (16, 96, 55, 55), 3, 2),
                               ("vgg16 maxpool1", (2, 64, 224, 224), 2, 2)]:
        cases.append(dict(label=label, kind="max_pool2d", x=shape, kw=dict(kernel_size=k, stride=s), flops=0))
    cases.append(dict(label="alexnet lrn", kind="local_response_norm", x=(16, 96, 55, 55),
                      kw=dict(size=5, alpha=1e-4, beta=0.75, k=2.0), flops=0))
    cases.append(dict(label="vgg16 batchnorm", kind="batch_norm", x=(2, 64, 224, 224), kw={}, flops=0))
    cases.append(dict(label="cross_entropy 1000", kind="cross_entropy", x=(64, 1000), kw={}, flops=0))
    return cases


def build(case, lib, device, torch):
    """(forward closure, backward closure) for pycnn or torch."""
    import pycnn
    import pycnn.nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["x"]).astype(np.float32)
    w = rng.standard_normal(case["w"]).astype(np.float32) * 0.05 if "w" in case else None
    kind, kw = case["kind"], case["kw"]
    if lib == "pycnn":
        X = pycnn.tensor(x, device=device, requires_grad=True)
        W = pycnn.tensor(w, device=device, requires_grad=True) if w is not None else None
        extra = {}
        if kind == "batch_norm":
            c = case["x"][1]
            extra = dict(running_mean=pycnn.zeros(c, device=device), running_var=pycnn.ones(c, device=device),
                         weight=pycnn.ones(c, device=device, requires_grad=True),
                         bias=pycnn.zeros(c, device=device, requires_grad=True))
        if kind == "cross_entropy":
            extra = dict(target=pycnn.tensor(rng.integers(0, case["x"][1], case["x"][0]), device=device))
        fn = getattr(F, kind)
        make = lambda: call(fn, kind, X, W, kw, extra)  # noqa: E731
        grad = None

        def forward():
            return make()

        def backward():
            out = make()
            nonlocal grad
            if grad is None or tuple(grad.shape) != tuple(out.shape):
                grad = pycnn.ones(*out.shape, device=device) if out.shape else None
            out.backward(grad)
        return forward, backward
    tdev = "cuda" if device == "cuda" else "cpu"
    X = torch.tensor(x, device=tdev, requires_grad=True)
    W = torch.tensor(w, device=tdev, requires_grad=True) if w is not None else None
    extra = {}
    if kind == "batch_norm":
        c = case["x"][1]
        extra = dict(running_mean=torch.zeros(c, device=tdev), running_var=torch.ones(c, device=tdev),
                     weight=torch.ones(c, device=tdev, requires_grad=True),
                     bias=torch.zeros(c, device=tdev, requires_grad=True))
    if kind == "cross_entropy":
        extra = dict(target=torch.tensor(rng.integers(0, case["x"][1], case["x"][0]), device=tdev))
    fn = getattr(torch.nn.functional, kind)

    def forward():
        with torch.no_grad():
            return call(fn, kind, X, W, kw, extra)

    def backward():
        out = call(fn, kind, X, W, kw, extra)
        out.backward(torch.ones_like(out))
    return forward, backward


def call(fn, kind, X, W, kw, extra):
    if kind in ("conv2d", "linear"):
        return fn(X, W, **kw)
    if kind == "batch_norm":
        return fn(X, extra["running_mean"], extra["running_var"], extra["weight"], extra["bias"], training=True)
    if kind == "cross_entropy":
        return fn(X, extra["target"])
    return fn(X, **kw)


def run_ops(args):
    import pycnn
    import pycnn.nn.functional as F
    import torch

    torch.set_num_threads(args.threads)
    pycnn.set_num_threads(args.threads)
    sync_p = pycnn.cuda.synchronize if args.device == "cuda" else None
    sync_t = torch.cuda.synchronize if args.device == "cuda" else None
    fp32_peer(torch, args.device)
    print(f"pycnn {pycnn.__version__} ops on {args.device}, {args.threads} threads, gemm kernel "
          f"{pycnn._C.gemm_isa()}, torch {torch.__version__}{fp32_note(args.device)}")
    if args.device == "cpu":
        print(f"numpy float32 matmul (2048^3): {numpy_matmul_gflops(args.repeat):.0f} GFLOP/s (the ceiling)")
    header = f"{'op':<22}{'pass':<5}{'pycnn ms':>10}{'torch ms':>10}{'ratio':>7}{'pycnn GF/s':>12}{'torch GF/s':>12}"
    table_header(header)
    for case in op_cases():
        if not hasattr(F, case["kind"]):
            print(f"{case['label']:<22}(op not available in this build)")
            continue
        ours = build(case, "pycnn", args.device, torch)
        theirs = build(case, "torch", args.device, torch)
        for i, name in enumerate(("fwd", "bwd")):
            t_ours = median_time(ours[i], args.repeat, sync_p)
            t_theirs = median_time(theirs[i], args.repeat, sync_t)
            # backward timings include the forward that builds the tape (3x the forward's flops)
            flops = case["flops"] * (1 if i == 0 else 3)
            rate = lambda t: f"{flops / t / 1e9:12.1f}" if flops else f"{'':12}"  # noqa: E731
            print(f"{case['label']:<22}{name:<5}{t_ours * 1e3:10.2f}{t_theirs * 1e3:10.2f}"
                  f"{t_ours / t_theirs:7.2f}{rate(t_ours)}{rate(t_theirs)}")


def run_train(args):
    print(f"training step (forward + cross-entropy + backward + SGD momentum; 'infer' rows: eval-mode "
          f"forward without a tape) on {args.device}, {args.threads} threads, median of {args.repeat}, torch "
          f"{importlib.metadata.version('torch')}{fp32_note(args.device)}; each library in its own process, "
          f"{args.rounds} rounds taking turns, {args.turns} turns a round (times: median over turns; ratio: median "
          "of the turns' ratios, and their range)")
    header = (f"{'model':<12}{'batch':>6}{'input':>8}{'pass':>7}{'pycnn ms':>11}{'torch ms':>11}{'ratio':>7}"
              f"{'range':>12}")
    table_header(header)
    for spec in args.models.split(","):
        name, _, rest = spec.partition(":")
        batch, _, mode = rest.partition(":")
        mode = mode or "train"
        if mode not in ("train", "infer"):
            sys.exit(f"bench: --models {spec}: the pass after the batch is 'train' or 'infer', not {mode!r}")
        batch = int(batch or (64 if name in ("lenet5", "resnet20") else 16))
        size = MODEL_SIZES.get(name, (3, 224, 1000))[1]
        times = alternate({lib: worker_argv(args, lib, name, batch, mode) for lib in ("pycnn", "torch")},
                          args.rounds, args.turns)
        t_ours, t_theirs = (float(np.median(times[lib])) for lib in ("pycnn", "torch"))
        ratio, low, high = round_ratios(times["pycnn"], times["torch"])
        print(f"{name:<12}{batch:>6}{size:>8}{mode:>7}{t_ours:11.1f}{t_theirs:11.1f}{ratio:7.2f}"
              f"{f'{low:.2f}-{high:.2f}':>12}")


def train_worker(args):
    """One library's training step (forward, cross-entropy, backward, SGD momentum; pass 'infer': an
    eval-mode forward without a tape) on one model, in this process; prints the median milliseconds."""
    lib, name, batch, mode = args.worker
    batch = int(batch)
    channels, size, classes = MODEL_SIZES.get(name, (3, 224, 1000))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    if lib == "torch":
        import torch as library

        library.set_num_threads(args.threads)
        fp32_peer(library, args.device)
        model = torch_model(name, classes)
    else:
        import pycnn as library
        import pycnn.models as zoo

        library.set_num_threads(args.threads)
        if not hasattr(zoo, name):  # no such model in pycnn's zoo: NaN, quietly
            return report_times(None, args.repeat, args.serve)
        model = getattr(zoo, name)(num_classes=classes)
    model = model.to(args.device)
    opt = library.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X, Y = library.tensor(x, device=args.device), library.tensor(y, device=args.device)

    def step():
        if mode == "infer":
            with library.no_grad():
                return model(X)
        opt.zero_grad()
        library.nn.functional.cross_entropy(model(X), Y).backward()
        opt.step()

    if mode == "infer":
        model.eval()
    sync = library.cuda.synchronize if args.device == "cuda" else None
    report_times(step, args.repeat, args.serve, sync)


INFER_MODELS = "lenet5:1,lenet5:256,resnet20:1,resnet18:1,resnet18:16,vgg16:1,mobilenet_v2:1"
# (channels, size, classes) of a model's input; others: 3x224x224, 1000 classes
MODEL_SIZES = {"lenet5": (1, 28, 10), "resnet20": (3, 32, 10)}


def infer_worker(args):
    """One library on one model, in this process; prints the median milliseconds."""
    lib, name, batch, path = args.worker
    batch = int(batch)
    channels, size, classes = MODEL_SIZES.get(name, (3, 224, 1000))
    x = np.random.default_rng(0).standard_normal((batch, channels, size, size)).astype(np.float32)
    if lib == "torch":
        import torch

        torch.set_num_threads(args.threads)
        model = torch_model(name, classes).eval()
        tx = torch.from_numpy(x)

        def run():
            with torch.no_grad():
                model(tx)
    elif lib == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}

        def run():
            session.run(None, feed)
    elif lib == "pycnn-session":
        import pycnn
        import pycnn.onnx

        pycnn.set_num_threads(args.threads)
        session = pycnn.onnx.InferenceSession(path)
        feed = {session.get_inputs()[0].name: x}

        def run():
            session.run(None, feed)
    else:  # pycnn-plan: the zoo Module compiled
        import pycnn
        import pycnn.models as zoo

        pycnn.set_num_threads(args.threads)
        if not hasattr(zoo, name):  # no such model in pycnn's zoo: NaN, quietly
            return report_times(None, args.repeat, args.serve)
        plan = pycnn.optimize_for_inference(getattr(zoo, name)(num_classes=classes).eval(), x)

        def run():
            plan(x)
    report_times(run, args.repeat, args.serve)


def run_infer(args):
    import tempfile

    import torch

    libs = ["pycnn-plan", "pycnn-session", "torch", "onnxruntime"]
    print(f"inference on the CPU, {args.threads} threads, median of {args.repeat}; each library in its own process, "
          f"{args.rounds} rounds taking turns, {args.turns} turns a round (times: median over turns); ratios: pycnn "
          "session / peer, median of the turns' ratios, and the range of those to onnxruntime")
    header = f"{'model':<14}{'batch':>6}" + "".join(f"{lib + ' ms':>19}" for lib in libs)
    header += f"{'/ torch':>9}{'/ ORT':>8}{'ORT range':>12}"
    table_header(header)
    with tempfile.TemporaryDirectory() as folder:
        for spec in args.models.split(","):
            name, _, batch = spec.partition(":")
            batch = int(batch or 1)
            channels, size, classes = MODEL_SIZES.get(name, (3, 224, 1000))
            path = os.path.join(folder, f"{name}.onnx")
            if not os.path.exists(path):
                torch.manual_seed(0)
                torch.onnx.export(torch_model(name, classes).eval(), (torch.randn(1, channels, size, size),), path,
                                  dynamo=False, opset_version=17, input_names=["input"],
                                  dynamic_axes={"input": {0: "batch"}})
            times = alternate({lib: worker_argv(args, lib, name, batch, path) for lib in libs}, args.rounds,
                              args.turns)
            ours = times["pycnn-session"]
            to_torch = round_ratios(ours, times["torch"])[0]
            to_ort, low, high = round_ratios(ours, times["onnxruntime"])
            print(f"{name:<14}{batch:>6}" + "".join(f"{float(np.median(times[lib])):19.3f}" for lib in libs)
                  + f"{to_torch:9.2f}{to_ort:8.2f}{f'{low:.2f}-{high:.2f}':>12}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["ops", "train", "infer", "contention"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="train, infer: processes per library, taking turns")
    parser.add_argument("--turns", type=int, default=3, help="train, infer: timings per process, the libraries "
                        "taking turns")
    parser.add_argument("--models", default=None, help="train default: lenet5,lenet5:256,resnet20:128; "
                        f"infer default: {INFER_MODELS}")
    # train, infer: one library in this process (LIB MODEL BATCH, then train's pass or infer's ONNX file)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # a ServedWorker's process
    parser.add_argument("--cpus", default=None, help="contention: the CPUs to run on, e.g. 0,1 (default: all "
                        "this process may use); the busy process takes the last")
    parser.add_argument("--spincounts", default="", help="contention: extra pycnn rows with GOMP_SPINCOUNT")
    parser.add_argument("--contention-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.models = args.models or (INFER_MODELS if args.what == "infer" else "lenet5,lenet5:256,resnet20:128")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.turns < 1:
        parser.error(f"--turns must be at least 1, got {args.turns}")
    if args.worker:
        return {"train": train_worker, "infer": infer_worker}[args.what](args)
    if args.contention_worker:
        return contention_worker(args)
    if args.device == "cuda":
        import pycnn

        if not pycnn.cuda.is_available():
            sys.exit("bench: --device cuda needs a GPU and a CUDA build of pycnn")
    if args.what == "contention":
        return run_contention(args)
    {"ops": run_ops, "train": run_train, "infer": run_infer}[args.what](args)


if __name__ == "__main__":
    main()
