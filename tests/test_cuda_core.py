"""The CUDA backend's core against the CPU: the tiled gemm (against numpy float64), conv2d, linear and
broadcasting arithmetic forward and backward (CUDA vs CPU, same float32 inputs), the TF32 switch,
and the caching allocator's accounting. Everything but the TF32 flag's plumbing needs a GPU."""
import gc

import numpy as np
import pytest

import pycnn
import pycnn.nn.functional as F
from conftest import CUDA
from helpers.op_check import random_configs, rel_error

cuda = [pytest.mark.cuda, pytest.mark.skipif(not CUDA, reason="no CUDA GPU")]
FP32_TOL = 1e-5
TF32_TOL = 3e-3


@pytest.fixture
def tf32():
    """Runs the test with TF32 on, and always turns it off again."""
    pycnn.cuda.set_allow_tf32(True)
    yield
    pycnn.cuda.set_allow_tf32(False)


def run_both(fn, arrays, seed=0):
    """fn on CPU and on CUDA with the same float32 inputs; returns (cpu, cuda) lists of
    [output, grad of each input] after back-propagating the same random upstream gradient."""
    results = []
    upstream = None
    for device in ("cpu", "cuda"):
        inputs = [pycnn.tensor(a, device=device, requires_grad=True) for a in arrays]
        out = fn(*inputs)
        if upstream is None:
            upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
        out.backward(pycnn.tensor(upstream, device=device))
        results.append([out.numpy()] + [t.grad.numpy() for t in inputs])
    return results


def assert_close(cpu, gpu, tol, what):
    for i, (c, g) in enumerate(zip(cpu, gpu)):
        err = rel_error(g, c)
        assert err < tol, f"{what}: {'output' if i == 0 else f'grad of input {i - 1}'} " \
                          f"relative error {err:.3g} >= {tol}"


# ----- gemm ---------------------------------------------------------------------------------------
GEMM_SIZES = [(1, 1, 1), (1, 7, 1), (5, 1, 3), (3, 5, 1), (127, 129, 8), (128, 128, 8), (129, 127, 9),
              (64, 64, 64), (65, 63, 17), (33, 200, 301), (300, 33, 70), (1000, 3, 500),
              (3, 1000, 500), (257, 255, 1023), (1024, 1024, 256), (2048, 1536, 96),
              (10, 10, 100000), (64, 20000, 40), (48, 17001, 33)]  # the last two: the 64x128 tile


@pytest.mark.parametrize("m,n,k", GEMM_SIZES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_gemm_against_numpy(m, n, k, trans_a, trans_b, accumulate):
    rng = np.random.default_rng(m * 7919 + n * 31 + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    opa = a.T.astype(np.float64) if trans_a else a.astype(np.float64)
    opb = b.T.astype(np.float64) if trans_b else b.astype(np.float64)
    expected = opa @ opb + (c0 if accumulate else 0.0)
    ta, tb = pycnn.tensor(a, device="cuda")._data, pycnn.tensor(b, device="cuda")._data
    out = pycnn.tensor(c0, device="cuda")._data if accumulate else None
    c = pycnn._C.gemm(ta, tb, trans_a, trans_b, False, out)
    assert rel_error(c.numpy(), expected) < FP32_TOL


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (129, 127, 9), (257, 255, 1023), (1024, 1024, 256)])
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_gemm_tf32(tf32, m, n, k):
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = pycnn._C.gemm(pycnn.tensor(a, device="cuda")._data, pycnn.tensor(b, device="cuda")._data)
    err = rel_error(c.numpy(), a.astype(np.float64) @ b)
    assert err < TF32_TOL
    if k >= 256:  # TF32 really ran: its 10-bit mantissa shows as an error far above FP32's
        assert err > 1e-5


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_gemm_more_row_tiles_than_a_grid_holds():
    """8,388,485 rows are 65,536 tiles of 128, one more than gridDim.y takes: two launches."""
    m = 65535 * 128 + 5
    rng = np.random.default_rng(3)
    a = rng.standard_normal((m, 3)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    c = pycnn._C.gemm(pycnn.tensor(a, device="cuda")._data, pycnn.tensor(b, device="cuda")._data)
    expected = a.astype(np.float64) @ b
    out = c.numpy()
    assert rel_error(out, expected) < FP32_TOL
    assert np.abs(out[-130:] - expected[-130:]).max() < 1e-5  # the rows of the second launch


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_conv2d_more_groups_than_a_grid_holds():
    """A depthwise conv with 70,000 groups: blockIdx.z takes 65,535 of them per launch."""
    cfg = dict(n=1, cin=70000, cout=70000, h=3, w=3, k=(2, 2), stride=(1, 1), padding=(0, 0),
               dilation=(1, 1), groups=70000, bias=True)
    fn, arrays = conv_case(cfg, np.random.default_rng(4))
    cpu, gpu = run_both(fn, arrays, seed=4)
    assert_close(cpu, gpu, FP32_TOL, "conv2d with 70000 groups")


def test_tf32_flag_round_trip():
    assert pycnn.cuda.allow_tf32() is False
    pycnn.cuda.set_allow_tf32(True)
    try:
        assert pycnn.cuda.allow_tf32() is pycnn._C.built_with_cuda()
    finally:
        pycnn.cuda.set_allow_tf32(False)
    assert pycnn.cuda.allow_tf32() is False


# ----- conv2d -------------------------------------------------------------------------------------
def make_conv(rng):
    groups = int(rng.choice([1, 1, 2, 3]))
    cin_g, cout_g = int(rng.integers(1, 6)), int(rng.integers(1, 7))
    if rng.random() < 0.2:  # depthwise
        cin_g, cout_g = 1, int(rng.integers(1, 3))
        groups = int(rng.integers(2, 9))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    h = int(rng.integers(max(1, dil[0] * (kh - 1) + 1 - 2 * pad[0]), 14))
    w = int(rng.integers(max(1, dil[1] * (kw - 1) + 1 - 2 * pad[1]), 14))
    n = int(rng.integers(1, 5))
    return dict(n=n, cin=cin_g * groups, cout=cout_g * groups, h=h, w=w, k=(kh, kw), stride=stride,
                padding=pad, dilation=dil, groups=groups, bias=bool(rng.random() < 0.7))


# Larger ones: the 128x128 tile (over 132 tiles of output), the split reduction of dw, 1x1 kernels.
CONV_LARGE = [
    dict(n=32, cin=16, cout=32, h=32, w=32, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
         groups=1, bias=True),
    dict(n=8, cin=32, cout=64, h=28, w=28, k=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         groups=1, bias=True),
    dict(n=4, cin=64, cout=160, h=14, w=14, k=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
         groups=1, bias=False),
    dict(n=4, cin=32, cout=32, h=20, w=20, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
         groups=32, bias=True),
    dict(n=2, cin=3, cout=16, h=64, w=64, k=(7, 7), stride=(2, 2), padding=(3, 3), dilation=(1, 1),
         groups=1, bias=True),
    # 64 output channels over many pixels: the 64x128 tile (forward, dx and dw).
    dict(n=8, cin=64, cout=64, h=56, w=56, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
         groups=1, bias=True),
    # Long reductions over a small output (a ResNet's 7x7 layers): forward and dx split k over
    # blockIdx.z into partial sums that a second kernel adds (launch_gemm_split).
    dict(n=2, cin=256, cout=96, h=7, w=7, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
         groups=1, bias=True),
    dict(n=2, cin=64, cout=256, h=10, w=9, k=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         groups=1, bias=False),
    dict(n=3, cin=512, cout=128, h=5, w=6, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
         groups=2, bias=True),
]
SPLIT_CONV = CONV_LARGE[-3]
CONV_CONFIGS = random_configs(40, seed=11, make=make_conv) + CONV_LARGE


def conv_case(cfg, rng):
    kh, kw = cfg["k"]
    x = rng.standard_normal((cfg["n"], cfg["cin"], cfg["h"], cfg["w"])).astype(np.float32)
    w = rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"], kh, kw)).astype(np.float32)
    arrays = [x, w] + ([rng.standard_normal(cfg["cout"]).astype(np.float32)] if cfg["bias"] else [])

    def fn(x, w, b=None):
        return F.conv2d(x, w, b, stride=cfg["stride"], padding=cfg["padding"],
                        dilation=cfg["dilation"], groups=cfg["groups"])
    return fn, arrays


@pytest.mark.parametrize("index", range(len(CONV_CONFIGS)))
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_conv2d_cuda_matches_cpu(index):
    cfg = CONV_CONFIGS[index]
    fn, arrays = conv_case(cfg, np.random.default_rng(index))
    cpu, gpu = run_both(fn, arrays, seed=index)
    assert_close(cpu, gpu, FP32_TOL, f"conv2d {cfg}")


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_conv2d_cuda_split_reduction_is_deterministic():
    """The split reduction adds its partial sums in a fixed order (no atomics): two runs of the
    forward and of dx are bitwise equal."""
    fn, arrays = conv_case(SPLIT_CONV, np.random.default_rng(7))
    first, second = (run_both(fn, arrays, seed=7)[1] for _ in range(2))
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_cuda_split_off_switch_gives_the_same_numbers(tmp_path):
    """PYCNN_CUDA_SPLIT=0 (the benchmark's A/B switch) runs the same products unsplit: the split
    conv and a small-batch linear agree with the split run to float32 rounding."""
    import subprocess
    import sys

    from helpers.subprocess_env import subprocess_env

    script = tmp_path / "run.py"
    script.write_text(
        "import sys, numpy as np, pycnn, pycnn.nn.functional as F\n"
        "rng = np.random.default_rng(1)\n"
        "x = pycnn.tensor(rng.standard_normal((2, 256, 7, 7)).astype(np.float32), device='cuda')\n"
        "w = pycnn.tensor(rng.standard_normal((96, 256, 3, 3)).astype(np.float32), device='cuda')\n"
        "a = pycnn.tensor(rng.standard_normal((64, 9216)).astype(np.float32), device='cuda')\n"
        "b = pycnn.tensor(rng.standard_normal((300, 9216)).astype(np.float32), device='cuda')\n"
        "np.savez(sys.argv[1], conv=F.conv2d(x, w, padding=1).numpy(), fc=F.linear(a, b).numpy())\n")
    outs = []
    for flag in ("1", "0"):
        out = tmp_path / f"split{flag}.npz"
        subprocess.run([sys.executable, str(script), str(out)], check=True, timeout=300,
                       env=dict(subprocess_env(), PYCNN_CUDA_SPLIT=flag), cwd=tmp_path)
        outs.append(np.load(out))
    for key in ("conv", "fc"):
        assert rel_error(outs[0][key], outs[1][key]) < FP32_TOL, key


@pytest.mark.parametrize("index", range(0, len(CONV_CONFIGS), 4))
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_conv2d_cuda_tf32(tf32, index):
    cfg = CONV_CONFIGS[index]
    fn, arrays = conv_case(cfg, np.random.default_rng(index))
    cpu, gpu = run_both(fn, arrays, seed=index)
    assert_close(cpu, gpu, TF32_TOL, f"conv2d tf32 {cfg}")


# ----- linear -------------------------------------------------------------------------------------
def make_linear(rng):
    lead = [int(rng.integers(1, 40))] + ([int(rng.integers(1, 4))] if rng.random() < 0.3 else [])
    return dict(lead=lead, fin=int(rng.integers(1, 300)), fout=int(rng.integers(1, 300)),
                bias=bool(rng.random() < 0.7))


LINEAR_CONFIGS = random_configs(35, seed=12, make=make_linear) + [
    dict(lead=[512], fin=1024, fout=1000, bias=True),
    dict(lead=[3000], fin=5, fout=7, bias=True),   # a long column sum for db
    dict(lead=[1], fin=4096, fout=1, bias=True),
    dict(lead=[64], fin=9216, fout=300, bias=True),  # a small batch through a wide layer: k split
]


def linear_case(cfg, rng):
    x = rng.standard_normal(cfg["lead"] + [cfg["fin"]]).astype(np.float32)
    w = rng.standard_normal((cfg["fout"], cfg["fin"])).astype(np.float32)
    arrays = [x, w] + ([rng.standard_normal(cfg["fout"]).astype(np.float32)] if cfg["bias"] else [])
    return (lambda x, w, b=None: F.linear(x, w, b)), arrays


@pytest.mark.parametrize("index", range(len(LINEAR_CONFIGS)))
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_linear_cuda_matches_cpu(index):
    cfg = LINEAR_CONFIGS[index]
    fn, arrays = linear_case(cfg, np.random.default_rng(100 + index))
    cpu, gpu = run_both(fn, arrays, seed=index)
    assert_close(cpu, gpu, FP32_TOL, f"linear {cfg}")


@pytest.mark.parametrize("index", range(0, len(LINEAR_CONFIGS), 5))
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_linear_cuda_tf32(tf32, index):
    cfg = LINEAR_CONFIGS[index]
    fn, arrays = linear_case(cfg, np.random.default_rng(100 + index))
    cpu, gpu = run_both(fn, arrays, seed=index)
    assert_close(cpu, gpu, TF32_TOL, f"linear tf32 {cfg}")


# ----- elementwise --------------------------------------------------------------------------------
def make_broadcast(rng):
    nd = int(rng.integers(0, 6))
    full = [int(rng.integers(1, 7)) for _ in range(nd)]
    a = [d if rng.random() < 0.6 else 1 for d in full]
    b = [d if rng.random() < 0.6 else 1 for d in full]
    a = a[int(rng.integers(0, nd + 1)):] if rng.random() < 0.3 else a  # fewer leading dimensions
    b = b[int(rng.integers(0, nd + 1)):] if rng.random() < 0.3 else b
    return dict(a=a, b=b, op=int(rng.integers(0, 4)))


EW_CONFIGS = random_configs(40, seed=13, make=make_broadcast) + [
    dict(a=[8, 64, 28, 28], b=[1, 64, 1, 1], op=0),   # bias
    dict(a=[8, 64, 28, 28], b=[8, 64, 28, 28], op=0),  # residual add (float4 path)
    dict(a=[1001, 3], b=[1001, 3], op=2),              # same shape, n not a multiple of 4
    dict(a=[300, 1000], b=[1000], op=3),
    dict(a=[], b=[7, 1, 9], op=1),                     # scalar
    dict(a=[2, 1, 3, 1, 2, 1, 2, 1, 2, 3], b=[1, 2, 1, 3, 1, 2, 1, 2, 1, 1], op=2),  # > 8 dims
]


@pytest.mark.parametrize("index", range(len(EW_CONFIGS)))
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_elementwise_cuda_matches_cpu(index):
    cfg = EW_CONFIGS[index]
    rng = np.random.default_rng(200 + index)
    a = rng.standard_normal(cfg["a"]).astype(np.float32)
    # Denominators away from zero, so division compares values rather than rounding blow-ups.
    b = (rng.uniform(0.5, 2.0, cfg["b"]) * rng.choice([-1, 1], cfg["b"])).astype(np.float32)
    op = cfg["op"]

    def fn(x, y):
        return [x + y, x - y, x * y, x / y][op]
    try:
        cpu, gpu = run_both(fn, [a, b], seed=index)
    except RuntimeError as e:  # more than 8 dimensions that cannot merge: refused by name
        assert "more than 8" in str(e)
        return
    assert_close(cpu, gpu, FP32_TOL, f"elementwise {cfg}")


SUM_TO_CASES = [((3, 5), (5,)), ((100, 7), (1, 7)), ((10000, 3), (3,)), ((2, 3, 4, 5), (3, 1, 5)),
                ((100003,), ()), ((8, 64, 28, 28), (1, 64, 1, 1)), ((4, 5), (4, 5)), ((1, 3), (3,)),
                ((6, 1, 7), (1, 7)), ((50, 40, 30), (40, 1)), ((), ())]


@pytest.mark.parametrize("in_shape,out_shape", SUM_TO_CASES)
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_sum_to_cuda(in_shape, out_shape):
    x = np.random.default_rng(len(in_shape)).standard_normal(in_shape).astype(np.float32)
    ours = pycnn._C.sum_to(pycnn.tensor(x, device="cuda")._data, list(out_shape)).numpy()
    lead = len(in_shape) - len(out_shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(out_shape)
                                      if d == 1 and in_shape[lead + i] != 1)
    expected = x.astype(np.float64).sum(axis=axes).reshape(out_shape)
    assert ours.shape == tuple(out_shape)
    assert rel_error(ours, expected) < FP32_TOL


# ----- runtime and allocator ----------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_numpy_of_cuda_tensor_is_a_copy():
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = pycnn.tensor(data, device="cuda")
    out = t.numpy()
    np.testing.assert_array_equal(out, data)
    out[0, 0, 0] = 100.0
    assert t.numpy()[0, 0, 0] == 0.0
    assert t.device == "cuda" and t.shape == (2, 3, 4)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_memory_allocated_returns_to_start():
    gc.collect()
    start = pycnn.cuda.memory_allocated()
    tensors = [pycnn.zeros(1000, 1000 + i, device="cuda") for i in range(3)]
    held = sum(4 * 1000 * (1000 + i) for i in range(3))
    assert pycnn.cuda.memory_allocated() == start + held
    assert pycnn.cuda.max_memory_allocated() >= start + held
    del tensors
    gc.collect()
    assert pycnn.cuda.memory_allocated() == start


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_cache_reuses_blocks_and_empty_cache_returns_them():
    gc.collect()
    pycnn.cuda.empty_cache()  # the only cached block of this size will be the one freed below
    t = pycnn.zeros(256, 1024, device="cuda")
    ptr = t._data.data_ptr()
    del t
    gc.collect()
    reserved = pycnn.cuda.memory_reserved()
    again = pycnn.zeros(256, 1024, device="cuda")
    assert again._data.data_ptr() == ptr  # the freed block came back, without a cudaMalloc
    assert pycnn.cuda.memory_reserved() == reserved
    del again
    gc.collect()
    pycnn.cuda.empty_cache()
    assert pycnn.cuda.memory_reserved() == pycnn.cuda.memory_allocated()


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_memory_flat_over_training_steps():
    rng = np.random.default_rng(0)
    w1 = pycnn.tensor(rng.standard_normal((8, 3, 3, 3)) * 0.1, device="cuda", requires_grad=True)
    w2 = pycnn.tensor(rng.standard_normal((10, 8 * 16 * 16)) * 0.01, device="cuda", requires_grad=True)
    x = pycnn.tensor(rng.standard_normal((4, 3, 16, 16)), device="cuda")

    def step():
        h = F.conv2d(x, w1, padding=1)
        y = F.linear(h.reshape(4, -1), w2)
        loss = (y * y).sum()
        loss.backward()
        for w in (w1, w2):
            w._data = (w.detach() - w.grad * 1e-3)._data
            w.grad = None
        return loss.item()

    for _ in range(3):
        step()
    gc.collect()
    before = pycnn.cuda.memory_allocated()
    reserved = pycnn.cuda.memory_reserved()
    pycnn.cuda.reset_peak_memory_stats()
    losses = [step() for _ in range(1000)]  # the bar: flat over 1,000 steps
    gc.collect()
    peak = pycnn.cuda.max_memory_allocated()
    for _ in range(5):
        step()
    gc.collect()
    assert pycnn.cuda.max_memory_allocated() == peak
    assert pycnn.cuda.memory_allocated() == before
    assert pycnn.cuda.memory_reserved() == reserved  # every step ran from the cache
    assert losses[-1] < losses[0]


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_out_of_memory_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="out of GPU memory allocating"):
        pycnn._C.empty([1 << 42], "float32", "cuda")  # 16 TiB
    t = pycnn.ones(10, device="cuda")  # the runtime is still usable
    assert t.numpy().sum() == 10.0
