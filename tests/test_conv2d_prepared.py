"""_C.PreparedConv2d (the inference convolution, weights packed once) against torch float64, with
the fused epilogue (bias, residual, clamp), threads sharing one object, and bad input."""
import threading

import numpy as np
import pytest
import torch

import pycnn
from pycnn import _C


def reference(x, w, b, stride, padding, dilation, groups, residual=None, lo=-np.inf, hi=np.inf):
    t = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                                   None if b is None else torch.tensor(b, dtype=torch.float64),
                                   stride=stride, padding=padding, dilation=dilation, groups=groups)
    if residual is not None:
        t = t + torch.tensor(residual, dtype=torch.float64)
    return t.clamp(lo, hi).numpy()


def run_case(n, cin, cout, h, w, k, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True,
             residual=False, lo=-np.inf, hi=np.inf, seed=0):
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    wt = rng.standard_normal((cout, cin // groups, kh, kw)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    conv = _C.PreparedConv2d(_C.from_numpy(wt.copy()), None if b is None else _C.from_numpy(b.copy()),
                             [n, cin, h, w], stride, padding, dilation, groups)
    out_shape = tuple(conv.output_shape)
    r = rng.standard_normal(out_shape).astype(np.float32) if residual else None
    ours = conv.forward(_C.from_numpy(x), None if r is None else _C.from_numpy(r), lo, hi).numpy()
    ref = reference(x, wt, b, stride, padding, dilation, groups, r, lo, hi)
    assert ours.shape == ref.shape
    # float32 sums of (cin/groups)*kh*kw unit-variance products: the rounding grows with the length.
    depth = cin // groups * kh * kw
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=2e-6 * depth + 1e-6)
    return conv


def random_case(rng):
    groups = int(rng.choice([1, 1, 1, 2, 4]))
    depthwise = rng.random() < 0.25
    cin = int(rng.integers(1, 20)) * groups
    cout = int(rng.integers(1, 40)) * groups
    if depthwise:
        groups = cin = cout = int(rng.integers(1, 40))
    kh, kw = int(rng.choice([1, 2, 3, 5, 7])), int(rng.choice([1, 3, 5]))
    stride = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    padding = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
    dilation = (int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 3])))
    h = int(rng.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 40))
    w = int(rng.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 40))
    return dict(n=int(rng.choice([1, 1, 2, 3, 5])), cin=cin, cout=cout, h=h, w=w, k=(kh, kw), stride=stride,
                padding=padding, dilation=dilation, groups=groups, bias=bool(rng.random() < 0.7),
                residual=bool(rng.random() < 0.5), lo=float(rng.choice([-np.inf, 0.0])),
                hi=float(rng.choice([np.inf, np.inf, 6.0])), seed=int(rng.integers(1 << 30)))


RANDOM = [random_case(np.random.default_rng(seed)) for seed in range(60)]


@pytest.mark.parametrize("case", RANDOM, ids=lambda c: (
    "n{n}c{cin}-{cout}h{h}w{w}k{k}s{stride}p{padding}d{dilation}g{groups}".format(**c)))
def test_random_shapes(case):
    run_case(**case)


# The layers the inference plan meets (channels as in the models, images shrunk where the shape of
# the computation is the same), and the small edges: 1x1 and 2x2 images, one channel, C_in=3.
LAYERS = [
    dict(n=1, cin=3, cout=64, h=45, w=45, k=7, stride=(2, 2), padding=(3, 3)),   # ResNet stem
    dict(n=1, cin=3, cout=64, h=99, w=101, k=7, stride=(2, 2), padding=(3, 3)),  # one image in equal runs
    dict(n=2, cin=3, cout=64, h=99, w=127, k=11, stride=(4, 4), padding=(2, 2)),  # AlexNet stem: 16 phases
    dict(n=1, cin=3, cout=96, h=67, w=70, k=11, stride=(4, 4)),                  # phase rows of 18 and 17
    dict(n=1, cin=3, cout=20, h=30, w=150, k=(3, 5), stride=(2, 4), padding=(1, 2)),
    dict(n=2, cin=64, cout=64, h=14, w=14, k=3, padding=(1, 1)),
    dict(n=1, cin=64, cout=128, h=15, w=15, k=3, stride=(2, 2), padding=(1, 1)),
    dict(n=1, cin=64, cout=128, h=15, w=15, k=1, stride=(2, 2)),                 # downsample
    dict(n=1, cin=256, cout=512, h=7, w=7, k=3, padding=(1, 1)),
    dict(n=3, cin=512, cout=512, h=7, w=7, k=3, padding=(1, 1)),                 # K past one slice
    dict(n=1, cin=300, cout=70, h=6, w=6, k=3, stride=(2, 2), padding=(1, 1)),
    dict(n=2, cin=64, cout=96, h=5, w=5, k=3, padding=(1, 1), groups=2),
    dict(n=2, cin=32, cout=64, h=9, w=13, k=1),                                  # pointwise
    dict(n=1, cin=96, cout=24, h=17, w=17, k=1),
    dict(n=1, cin=1, cout=6, h=28, w=28, k=5, padding=(2, 2)),                   # LeNet
    dict(n=4, cin=6, cout=16, h=14, w=14, k=5),
    dict(n=1, cin=16, cout=16, h=32, w=32, k=3, padding=(1, 1)),                 # ResNet-20
    dict(n=4, cin=64, cout=72, h=23, w=25, k=3, padding=(1, 1)),                 # Winograd: odd output
    dict(n=3, cin=33, cout=32, h=17, w=15, k=3),
    dict(n=2, cin=32, cout=48, h=14, w=13, k=3, padding=(2, 2)),
    dict(n=1, cin=300, cout=36, h=23, w=23, k=3, padding=(1, 1)),                # two K slices
    dict(n=16, cin=64, cout=64, h=7, w=7, k=3, padding=(1, 1)),
    dict(n=1, cin=3, cout=16, h=32, w=32, k=3, padding=(1, 1)),
    dict(n=1, cin=32, cout=32, h=17, w=17, k=3, padding=(1, 1), groups=32),      # depthwise
    dict(n=2, cin=40, cout=40, h=10, w=9, k=3, stride=(2, 1), padding=(1, 1), groups=40),  # 16+16+8
    dict(n=1, cin=5, cout=5, h=6, w=40, k=3, padding=(1, 1), groups=5),          # per-channel path
    dict(n=2, cin=144, cout=144, h=15, w=15, k=3, stride=(2, 2), padding=(1, 1), groups=144),
    dict(n=1, cin=8, cout=8, h=9, w=9, k=5, padding=(2, 2), dilation=(2, 2), groups=8),
    dict(n=1, cin=8, cout=16, h=9, w=9, k=3, padding=(1, 1), groups=8),          # channel multiplier 2
    dict(n=1, cin=5, cout=7, h=1, w=1, k=1),
    dict(n=2, cin=5, cout=7, h=1, w=1, k=3, padding=(1, 1)),
    dict(n=1, cin=4, cout=9, h=2, w=2, k=3, padding=(1, 1), stride=(2, 2)),
    dict(n=1, cin=1, cout=1, h=2, w=2, k=2),
    dict(n=1, cin=4, cout=4, h=2, w=2, k=3, padding=(1, 1), groups=4),
    dict(n=1, cin=2, cout=2, h=3, w=2100, k=3, padding=(1, 1), groups=2),        # rows past the buffer
    dict(n=1, cin=2, cout=2, h=5, w=1030, k=3, stride=(2, 2), groups=2),
    dict(n=1, cin=33, cout=65, h=3, w=50, k=(1, 3), padding=(0, 1)),
    # The channel-vector path (row tiles): channels past the last whole vector, rows in several
    # tiles, two K slices; stride 2 with two rows a tile (6x6 and 3x3 outputs) and odd row counts;
    # no padding (read in place) at stride 2; strides 3 x 2 with dilation; batches in chunks.
    dict(n=1, cin=32, cout=136, h=9, w=40, k=3, padding=(1, 1)),
    dict(n=2, cin=48, cout=64, h=11, w=11, k=3, stride=(2, 2), padding=(1, 1)),
    dict(n=1, cin=40, cout=64, h=5, w=5, k=3, stride=(2, 2), padding=(1, 1)),
    dict(n=2, cin=16, cout=32, h=9, w=9, k=3, stride=(2, 2)),
    dict(n=1, cin=24, cout=32, h=17, w=13, k=3, stride=(3, 2), padding=(1, 1), dilation=(2, 1)),
    dict(n=9, cin=64, cout=64, h=30, w=30, k=3, stride=(2, 2), padding=(1, 1)),
    # panels of one vector of channels (13 to 16 output channels on AVX-512): a row of 32 in two
    # tiles, short rows in pairs, stride 2
    dict(n=1, cin=16, cout=16, h=32, w=32, k=3, padding=(1, 1)),
    dict(n=2, cin=20, cout=13, h=6, w=6, k=3, padding=(1, 1)),
    dict(n=1, cin=16, cout=15, h=33, w=31, k=3, stride=(2, 2), padding=(1, 1)),
    dict(n=2, cin=16, cout=8, h=10, w=19, k=3, padding=(1, 1)),  # one vector on avx2 (8 floats)
    dict(n=2, cin=17, cout=4, h=9, w=14, k=3, padding=(1, 1)),   # and on the portable kernel (4)
    # 1x1 layers of large images with few output channels (one vector, or at most 64 from a batch
    # input of at most 1 MB) take row tiles too, reading the image in place
    dict(n=1, cin=32, cout=16, h=40, w=37, k=1),
    dict(n=2, cin=96, cout=13, h=23, w=19, k=1),
    dict(n=1, cin=144, cout=30, h=28, w=28, k=1),
    dict(n=3, cin=64, cout=52, h=20, w=17, k=1),
    # weights that outweigh a batch's input and a core's L2 (the threads split channels and rows):
    # 3 panels of channels, 5x5 images in runs of rows that span images
    dict(n=6, cin=160, cout=96, h=5, w=5, k=3, padding=(1, 1)),
    # weights that stay in L2 (rows only), more output channels than a panel
    dict(n=6, cin=64, cout=96, h=5, w=5, k=3, padding=(1, 1)),
    # The wide path (few output channels, stride 1, rows that are not whole panels): two K slices,
    # dilation and a non-square window, a ragged last panel of each image read into the next one.
    dict(n=2, cin=40, cout=20, h=9, w=11, k=3, padding=(1, 1)),
    dict(n=3, cin=5, cout=13, h=19, w=21, k=(3, 5), padding=(1, 2), dilation=(2, 1)),
    dict(n=5, cin=2, cout=24, h=7, w=7, k=3),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: (
    "n{n}c{cin}-{cout}h{h}w{w}k{k}".format(**c) + "s{stride}p{padding}g{groups}".format(**{
        "stride": (1, 1), "padding": (0, 0), "groups": 1, **c})))
@pytest.mark.parametrize("epilogue", ["plain", "relu-residual", "relu6-nobias"])
def test_layers(layer, epilogue):
    extra = {"plain": {}, "relu-residual": dict(residual=True, lo=0.0),
             "relu6-nobias": dict(bias=False, lo=0.0, hi=6.0)}[epilogue]
    run_case(**layer, **extra)


@pytest.mark.parametrize("layer", [
    dict(n=3, cin=32, cout=8, h=150, w=150, k=3, padding=(1, 1)),    # wide path
    dict(n=3, cin=32, cout=40, h=150, w=150, k=3, padding=(1, 1)),   # direct path
    dict(n=3, cin=64, cout=64, h=130, w=130, k=3, padding=(1, 1)),   # Winograd
    dict(n=2, cin=32, cout=32, h=100, w=100, k=3, stride=(2, 2), padding=(1, 1)),  # row tiles, shared copy
], ids=["wide", "direct", "winograd", "row-tiles"])
def test_batch_in_chunks(layer):
    # Input copies past ~1 MB go through in chunks of images (here 1 + 1 + 1): every chunk's pointers.
    run_case(**layer, residual=True, lo=0.0)


@pytest.mark.parametrize("layer", [
    dict(n=1, cin=64, cout=64, h=50, w=50, k=3, padding=(1, 1)),   # Winograd: 20 panels of 25 x 25 tiles
    dict(n=1, cin=8, cout=40, h=33, w=33, k=3, padding=(1, 1)),    # direct path: 35 pixel panels
    dict(n=2, cin=8, cout=20, h=29, w=31, k=3, stride=(2, 1)),     # two images, ragged last panel
    # Row tiles: each thread pads the input rows its own tasks read (window rows shared by two
    # tasks, stride 2, dilation, runs of rows that span images); 16 channels take panels of one vector.
    dict(n=1, cin=16, cout=16, h=32, w=32, k=3, padding=(1, 1)),
    dict(n=3, cin=24, cout=14, h=13, w=9, k=(5, 3), stride=(2, 1), padding=(2, 1), dilation=(2, 1)),
    dict(n=5, cin=32, cout=64, h=7, w=7, k=3, padding=(1, 1)),
    # More outputs than pixels: the threads split the channel panels, in runs of near-equal lengths
    # (10 panels of 32 channels in 8 runs at 2 threads: 1 or 2 each), two K slices of 432 taps.
    dict(n=1, cin=48, cout=290, h=5, w=6, k=3, padding=(1, 1)),
], ids=["winograd", "direct", "two-images", "row-tiles-16", "row-tiles-dilated", "row-tiles-7x7",
        "row-tiles-channel-runs"])
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_panels_split_among_threads(layer, threads):
    # The tasks' runs of pixel panels are sized so that each thread gets as many (counts that are a
    # multiple of the threads where one exists, runs that differ by a panel at most): every panel must
    # still be computed exactly once, whatever the thread count.
    run_on_threads(threads, layer)


def run_on_threads(threads, layer):
    before = pycnn.get_num_threads()
    pycnn.set_num_threads(threads)
    try:
        run_case(**layer, residual=True, lo=0.0)
    finally:
        pycnn.set_num_threads(before)


@pytest.mark.parametrize("layer", [
    dict(n=9, cin=1, cout=6, h=28, w=28, k=5, padding=(2, 2)),    # LeNet-5's first layer, 9 images
    dict(n=7, cin=3, cout=10, h=19, w=23, k=5, padding=(2, 2)),   # 7 images: uneven shares
    dict(n=2, cin=40, cout=12, h=33, w=31, k=3, padding=(1, 1)),  # two K slices, runs of panels
], ids=["lenet", "seven-images", "two-images"])
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_wide_path_split_among_threads(layer, threads):
    # The wide path's tasks (image, run of pixel panels, run of weight panels) go to the threads in a
    # fixed order, each thread on the images whose copy it built: every output computed once, whatever
    # the thread count.
    shape = [layer["n"], layer["cin"], layer["h"], layer["w"]]
    weight = [layer["cout"], layer["cin"], layer["k"], layer["k"]]
    geometry = ((1, 1), layer["padding"], (1, 1), 1)
    assert not (_C.conv2d_packs_panels(shape, weight, *geometry) or _C.conv2d_row_tiles(shape, weight, *geometry)
                or _C.conv2d_winograd(shape, weight, *geometry))  # the wide path
    run_on_threads(threads, layer)


@pytest.mark.parametrize("layer, threads", [
    (dict(n=12, cin=1, cout=24, h=364, w=364, k=11, stride=(4, 4), padding=(2, 2)), 2),  # 16-phase copies
    (dict(n=12, cin=1, cout=24, h=364, w=364, k=11, stride=(4, 4), padding=(2, 2)), 3),
    (dict(n=12, cin=1, cout=40, h=362, w=362, k=7, stride=(2, 2), padding=(3, 3)), 4),   # a stem's batch
    (dict(n=17, cin=2, cout=14, h=212, w=318, k=5, stride=(2, 3), groups=2), 2),         # 17 for 2 threads
], ids=["stride-4-t2", "stride-4-t3", "stem-t4", "grouped-17-t2"])
def test_packed_chunks_dealt_to_threads(layer, threads):
    # Packed-path batches whose images each fill a chunk (an input copy past 512 K floats) and whose
    # chunks go round the threads evenly (or 8 times over) go to the threads whole, each thread copying
    # and computing its images alone: every image once, with its own residual.
    run_on_threads(threads, layer)


def test_pointwise_layers_with_few_outputs_take_row_tiles():
    """Which 1x1 stride-1 layers of images past 256 pixels take row tiles (no packing, the image read
    in place): one vector of output channels, or at most 64 from at least as many inputs where the
    batch's input is at most 1 MB; the others keep the packed path (MobileNetV2's expansions)."""
    def row_tiles(n, cin, cout, hw):
        return pycnn._C.conv2d_row_tiles([n, cin, hw, hw], [cout, cin, 1, 1], (1, 1), (0, 0), (1, 1), 1)

    vw = pycnn._C.channel_block_width()
    assert row_tiles(1, 32, vw, 112) and row_tiles(8, 96, vw, 56)
    assert row_tiles(1, 144, 32, 28) and row_tiles(1, 192, 64, 28)
    assert not row_tiles(8, 144, 32, 28)   # 3.6 MB of input
    assert not row_tiles(1, 256, 64, 56)   # 3.2 MB
    assert not row_tiles(1, 16, 96, 112)   # more outputs than inputs


def test_zero_images():
    conv = _C.PreparedConv2d(_C.from_numpy(np.ones((2, 3, 3, 3), np.float32)), None, [0, 3, 5, 5],
                             (1, 1), (1, 1), (1, 1), 1)
    assert tuple(conv.forward(_C.from_numpy(np.zeros((0, 3, 5, 5), np.float32))).shape) == (0, 2, 5, 5)


def test_nan_propagates_through_clamp():
    x = np.ones((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 1] = np.nan
    conv = _C.PreparedConv2d(_C.from_numpy(np.ones((1, 1, 1, 1), np.float32)), None, [1, 1, 3, 3],
                             (1, 1), (0, 0), (1, 1), 1)
    y = conv.forward(_C.from_numpy(x), None, 0.0, 6.0).numpy()
    assert np.isnan(y[0, 0, 1, 1]) and np.all(y[0, 0, 0] == 1.0)


def test_weights_are_copied():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 8, 10, 10)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    wt, bt = w.copy(), b.copy()
    conv = _C.PreparedConv2d(_C.from_numpy(wt), _C.from_numpy(bt), [1, 8, 10, 10], (1, 1), (1, 1), (1, 1), 1)
    wt[:] = 0
    bt[:] = 0
    del wt, bt
    np.testing.assert_allclose(conv.forward(_C.from_numpy(x)).numpy(),
                               reference(x, w, b, 1, 1, 1, 1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cin, hw", [(64, 32), (64, 7)], ids=["winograd", "row-tiles"])
def test_threads_share_one_object(cin, hw):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((64, cin, 3, 3)).astype(np.float32)
    conv = _C.PreparedConv2d(_C.from_numpy(w), None, [2, cin, hw, hw], (1, 1), (1, 1), (1, 1), 1)
    inputs = [rng.standard_normal((2, cin, hw, hw)).astype(np.float32) for _ in range(4)]
    expected = [reference(x, w, None, 1, 1, 1, 1) for x in inputs]
    failures = []

    def work(i):
        for _ in range(20):
            got = conv.forward(_C.from_numpy(inputs[i])).numpy()
            if not np.allclose(got, expected[i], rtol=1e-4, atol=1e-3):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def make(weight_shape=(4, 3, 3, 3), input_shape=(1, 3, 8, 8), bias=None, stride=(1, 1), padding=(0, 0),
         dilation=(1, 1), groups=1, dtype=np.float32):
    w = _C.from_numpy(np.ones(weight_shape, dtype))
    return _C.PreparedConv2d(w, bias, list(input_shape), stride, padding, dilation, groups)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(weight_shape=(4, 3, 3)), ValueError, "weight"),
    (dict(input_shape=(3, 8, 8)), ValueError, "input"),
    (dict(input_shape=(1, 2, 8, 8)), ValueError, "channels"),
    (dict(input_shape=(1, 3, 2, 2)), ValueError, "larger than the padded input"),
    (dict(stride=(0, 1)), ValueError, "stride"),
    (dict(padding=(-1, 0)), ValueError, "padding"),
    (dict(dilation=(1, 0)), ValueError, "dilation"),
    (dict(groups=2), ValueError, "groups"),
    (dict(bias=_C.from_numpy(np.ones(5, np.float32))), ValueError, "bias"),
    (dict(dtype=np.int64), TypeError, "float32"),
])
def test_bad_construction(kwargs, error, words):
    with pytest.raises(error, match=words):
        make(**kwargs)


def test_bad_forward():
    conv = make()
    with pytest.raises(ValueError, match=r"input of shape \(1, 3, 8, 8\), got \(1, 3, 9, 8\)"):
        conv.forward(_C.from_numpy(np.ones((1, 3, 9, 8), np.float32)))
    with pytest.raises(TypeError, match="float32"):
        conv.forward(_C.from_numpy(np.ones((1, 3, 8, 8), np.int64)))
    with pytest.raises(ValueError, match="residual of shape"):
        conv.forward(_C.from_numpy(np.ones((1, 3, 8, 8), np.float32)), _C.from_numpy(np.ones((1, 4, 6, 5), np.float32)))
    with pytest.raises(TypeError):
        conv.forward(np.ones((1, 3, 8, 8), np.float32))


@pytest.mark.parametrize("layer, tile", [
    # F(2x2, 3x3): 64-odd output channels on images under 16 columns
    (dict(n=11, cin=64, cout=72, h=13, w=13, k=3, padding=(1, 1)), 2),   # 49 tiles an image: panels span images
    (dict(n=20, cin=540, cout=64, h=12, w=12, k=3, padding=(1, 1)), 2),  # 36 tiles; 4 MB chunks of 8 + 8 + 4 images
    (dict(n=11, cin=65, cout=64, h=15, w=15, k=3), 2),                   # 7 x 7 tiles, no padding
    # F(4x4, 3x3): 6x6 patches in 16 stride-4 phases, 4x4 tiles cut at the image's last rows and columns
    (dict(n=3, cin=64, cout=80, h=40, w=41, k=3, padding=(1, 1)), 4),    # 10 x 11 tiles: panels run from image to image
    (dict(n=7, cin=300, cout=70, h=17, w=17, k=3, padding=(1, 1)), 4),   # two K slices of the 36 matrices
    (dict(n=15, cin=64, cout=128, h=11, w=11, k=3, padding=(1, 1)), 4),  # 9 tiles an image, 3 a row
    (dict(n=6, cin=70, cout=64, h=19, w=22, k=3), 4),                    # 17 x 20 outputs, no padding
    (dict(n=20, cin=540, cout=128, h=12, w=12, k=3, padding=(1, 1)), 4),  # chunks of 7 + 7 + 6 images
    (dict(n=1, cin=80, cout=72, h=41, w=28, k=3, padding=(1, 1)), 4),    # one image: 77 tiles, 3 panels
    (dict(n=9, cin=24, cout=40, h=18, w=17, k=3, padding=(1, 1)), 4),    # fewer channels than F(2x2)'s 64
], ids=["13x13", "12x12-chunks", "unpadded", "40x41", "two-slices", "f4-11x11", "f4-unpadded", "f4-chunks",
        "f4-one-image", "f4-24-channels"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_winograd_panels_across_images(layer, tile, threads):
    # Winograd's panels of 2x2 (4x4) tiles run on from one image into the next: each panel's input
    # transform reads every image's own copy, and its output transform writes every image's own outputs
    # (with its residual, only those inside the image); images whose tiles fill no whole panel share them.
    oh = layer["h"] + 2 * layer.get("padding", (0, 0))[0] - 2
    ow = layer["w"] + 2 * layer.get("padding", (0, 0))[1] - 2
    shape = [layer["n"], layer["cin"], layer["h"], layer["w"]]
    weight = [layer["cout"], layer["cin"], 3, 3]
    geometry = ((1, 1), layer.get("padding", (0, 0)), (1, 1), 1)
    assert _C.conv2d_winograd(shape, weight, *geometry)
    assert _C.conv2d_winograd_tile(shape, weight, *geometry) == tile
    assert (-(-oh // tile)) * (-(-ow // tile)) % 8 != 0  # no whole panels of 8, 16 or 32 tiles per image
    run_on_threads(threads, layer)


def test_winograd_rule():
    assert _C.conv2d_winograd([16, 256, 14, 14], [256, 256, 3, 3], (1, 1), (1, 1), (1, 1), 1)
    assert not _C.conv2d_winograd([16, 256, 14, 14], [256, 256, 3, 3], (2, 2), (1, 1), (1, 1), 1)
    assert not _C.conv2d_winograd([16, 32, 14, 14], [32, 32, 3, 3], (1, 1), (1, 1), (1, 1), 1)
    assert not _C.conv2d_winograd([1, 256, 14, 14], [256, 256, 3, 3], (1, 1), (1, 1), (1, 1), 1)  # 49 tiles
    # F(4x4, 3x3) where its tiles waste few outputs at the edges (13x13 and 14x14 images waste a third)
    # and its tile rows fill the vectors (16 columns and more) or the products outweigh the transforms
    # (128 output channels and more); F(2x2, 3x3) elsewhere.
    def tile(n, cin, cout, hw):
        return _C.conv2d_winograd_tile([n, cin, hw, hw], [cout, cin, 3, 3], (1, 1), (1, 1), (1, 1), 1)

    assert tile(1, 64, 64, 56) == 4
    assert tile(16, 384, 256, 13) == 2
    assert tile(16, 256, 256, 14) == 2
    assert tile(16, 64, 64, 18) == 4
    assert tile(16, 64, 128, 11) == 4
    assert tile(16, 128, 64, 15) == 2
    assert tile(32, 64, 64, 12) == 2
    assert tile(1, 256, 256, 14) == 0
    # F(4x4, 3x3) also for a few tiles (a batch of one 28x28 image: 49), not on smaller images (its
    # error through batch norm's statistics of a few pixels)
    assert tile(1, 128, 128, 28) == 4
    assert tile(1, 512, 256, 28) == 4
    assert tile(1, 128, 128, 16) == 0
    # and with fewer channels than F(2x2)'s 64, 16 each side and a product of 512 or more
    assert tile(128, 32, 32, 16) == 4
    assert tile(32, 16, 32, 32) == 4
    assert tile(128, 16, 16, 32) == 0
    assert tile(128, 8, 64, 32) == 0


@pytest.mark.parametrize("layer", [
    dict(n=5, cin=32, cout=64, h=7, w=7, k=3, padding=(1, 1)),                     # rows 0 and 6 skip a kernel row
    dict(n=3, cin=64, cout=32, h=9, w=6, k=(5, 3), padding=(2, 1)),                # two rows at each edge
    dict(n=2, cin=16, cout=32, h=5, w=5, k=3, padding=(3, 3)),                     # rows that read only padding
    dict(n=2, cin=16, cout=32, h=9, w=9, k=17, padding=(16, 8)),                   # slices shorter than 289 taps
    dict(n=3, cin=24, cout=32, h=8, w=7, k=3, padding=(2, 1), dilation=(2, 1)),    # dilated window
    dict(n=4, cin=40, cout=64, h=14, w=13, k=3, stride=(2, 2), padding=(1, 1)),    # stride 2: the top row
    dict(n=3, cin=32, cout=16, h=7, w=5, k=3, padding=(1, 1)),                     # one vector: 28-pixel tiles
], ids=["7x7", "5x3", "padding-past-kernel", "17x17", "dilated", "stride-2", "one-vector"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_tiles_skip_padding_rows(layer, threads):
    # A row tile whose output row's window reaches above or below the image skips the kernel rows that
    # read padding there, and rows pair up with rows of the same window (across images): every sum
    # still counts every tap inside the image, with its own residual.
    assert _C.conv2d_row_tiles([layer["n"], layer["cin"], layer["h"], layer["w"]],
                               [layer["cout"], layer["cin"]] + list(np.broadcast_to(layer["k"], 2)),
                               layer.get("stride", (1, 1)), layer["padding"], layer.get("dilation", (1, 1)), 1)
    run_on_threads(threads, layer)


@pytest.mark.parametrize("layer", [
    dict(n=5, cin=32, cout=64, h=7, w=7, k=3, padding=(1, 1)),                     # one tile a row (both ends)
    dict(n=2, cin=32, cout=32, h=5, w=40, k=3, padding=(1, 1)),                    # three tiles: first, middle, last
    dict(n=3, cin=32, cout=16, h=6, w=32, k=3, padding=(1, 1)),                    # one vector: two 16-pixel tiles
    dict(n=2, cin=24, cout=32, h=6, w=11, k=5, padding=(2, 2)),                    # two columns beside each end
    dict(n=2, cin=16, cout=32, h=5, w=5, k=3, padding=(3, 3)),                     # ends that read only padding
    dict(n=3, cin=24, cout=32, h=8, w=9, k=(3, 3), padding=(1, 2), dilation=(1, 2)),  # dilated columns
    dict(n=2, cin=32, cout=32, h=9, w=9, k=(3, 1), padding=(1, 1)),                # 1-wide kernel: ends all padding
    dict(n=2, cin=16, cout=32, h=9, w=9, k=17, padding=(16, 8)),                   # slices shorter than 289 taps
], ids=["7x7", "three-tiles", "one-vector", "5x5", "padding-past-kernel", "dilated", "kw1", "17x17"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_tiles_skip_padding_columns(layer, threads):
    # At stride 1, a row's first and last tiles leave out the products of the kernel columns that put
    # the row's first or last pixel on the padding beside the image (per tap, by its kernel column,
    # also inside the skipped rows' windows): every sum still counts every tap inside the image.
    assert _C.conv2d_row_tiles([layer["n"], layer["cin"], layer["h"], layer["w"]],
                               [layer["cout"], layer["cin"]] + list(np.broadcast_to(layer["k"], 2)),
                               (1, 1), layer["padding"], layer.get("dilation", (1, 1)), 1)
    run_on_threads(threads, layer)
