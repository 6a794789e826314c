"""conv2d forward and backward against PyTorch float64, the seeds' worked examples, and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make_config(rng):
    groups = int(rng.choice([1, 1, 2, 3]))
    depthwise = rng.random() < 0.15
    cin_g = int(rng.integers(1, 4))
    cin = cin_g * groups
    cout = int(rng.integers(1, 4)) * groups
    if depthwise:
        groups = cin = cout = int(rng.integers(2, 6))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    dilation = (int(rng.choice([1, 2])), int(rng.choice([1, 2])))
    n = int(rng.choice([1, 2, 3]))
    h = int(rng.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 14))
    w = int(rng.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 14))
    bias = rng.random() < 0.7
    return dict(n=n, cin=cin, cout=cout, h=h, w=w, kh=kh, kw=kw, stride=stride, padding=padding,
                dilation=dilation, groups=groups, bias=bias, seed=int(rng.integers(1 << 30)))


CONFIGS = random_configs(40, 1234, make_config)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: (
    "n{n}c{cin}-{cout}h{h}w{w}k{kh}x{kw}s{stride}p{padding}d{dilation}g{groups}".format(**c)))
def test_conv2d_matches_torch(cfg, device):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["n"], cfg["cin"], cfg["h"], cfg["w"]))
    w = rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"], cfg["kh"], cfg["kw"]))
    inputs = [x, w] + ([rng.standard_normal(cfg["cout"])] if cfg["bias"] else [])
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    check_op(lambda *t: F.conv2d(*t, **kw), lambda *t: torch.nn.functional.conv2d(*t, **kw),
             inputs, device=device, seed=cfg["seed"])


@pytest.mark.parametrize("shape", [(2, 64, 9, 11, 32, 3, 1), (3, 16, 5, 5, 24, 1, 1), (1, 300, 6, 6, 70, 3, 2)])
def test_conv2d_larger_channels(shape, device):
    # Channel counts past the gemm's panel widths and K past one packed slice (300 * 9 > 256).
    n, cin, h, w, cout, k, s = shape
    rng = np.random.default_rng(7)
    check_op(lambda x, wt, b: F.conv2d(x, wt, b, stride=s, padding=1),
             lambda x, wt, b: torch.nn.functional.conv2d(x, wt, b, stride=s, padding=1),
             [rng.standard_normal((n, cin, h, w)), rng.standard_normal((cout, cin, k, k)) * 0.1,
              rng.standard_normal(cout)], device=device)



def make_channel_config(rng):
    """Groups with enough input channels for the weight gradient's channel-vector kernel (at least half
    a vector: 8 channels for AVX-512, 4 for AVX2, 2 for the portable kernel), and fewer (the
    pixel-vector kernel at stride 1, im2col when strided)."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cin_g, cout_g = int(rng.choice([1, 2, 3, 5, 7, 9, 16, 23, 37])), int(rng.integers(1, 20))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride = (int(rng.choice([1, 1, 1, 2, 3])), int(rng.choice([1, 1, 1, 2, 3])))
    padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    dilation = (int(rng.choice([1, 2])), int(rng.choice([1, 2])))
    h = int(rng.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 19))
    w = int(rng.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 19))
    return dict(n=int(rng.integers(1, 6)), cin=cin_g * groups, cout=cout_g * groups, h=h, w=w, kh=kh, kw=kw,
                stride=stride, padding=padding, dilation=dilation, groups=groups, seed=int(rng.integers(1 << 30)))


@pytest.mark.parametrize("cfg", random_configs(32, 99, make_channel_config), ids=lambda c: (
    "n{n}c{cin}-{cout}h{h}w{w}k{kh}x{kw}s{stride}p{padding}d{dilation}g{groups}".format(**c)))
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_conv2d_weight_grad_elementwise(cfg, threads):
    # Every element of the weight gradient against torch float64 (check_op's norm-relative measure
    # would hide one wrong tap), on one thread and on two or three (which split the images and then
    # add their parts together, a block of rows each; with fewer images than threads, the output
    # channels).
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["n"], cfg["cin"], cfg["h"], cfg["w"]))
    w = rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"], cfg["kh"], cfg["kw"]))
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    expected, (got,), atol = weight_grads(rng, x, w, [threads], **kw)
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


def weight_grads(rng, x, w, thread_counts, **kw):
    """conv2d's weight gradient for a random upstream gradient (drawn from rng): torch's in float64,
    pycnn's in float32 on each of thread_counts, and the tolerance for an element (1e-5 of the largest
    input times the largest upstream value times the square root of the terms each sum adds up)."""
    tw = torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.conv2d(torch.tensor(x), tw, **kw)
    upstream = rng.standard_normal(ref.shape)
    ref.backward(torch.tensor(upstream))
    before, grads = pycnn.get_num_threads(), []
    try:
        for threads in thread_counts:
            pycnn.set_num_threads(threads)
            pw = pycnn.tensor(w.astype(np.float32), requires_grad=True)
            F.conv2d(pycnn.tensor(x.astype(np.float32)), pw, **kw).backward(
                pycnn.tensor(upstream.astype(np.float32)))
            grads.append(pw.grad.numpy())
    finally:
        pycnn.set_num_threads(before)
    scale = np.abs(x).max() * np.abs(upstream).max() * np.sqrt(x.shape[0] * upstream[0, 0].size)
    return tw.grad.numpy(), grads, 1e-5 * scale


# Layers whose weight gradient the pixels kernel sums from column copies of the input (a copy per
# kernel column, each tap's pixels of an image one run): (n, cin, cout, h, w, kernel, stride, padding,
# dilation). One input channel keeps them on the pixels kernel on every instruction set.
COLUMN_COPIES = {
    # LeNet-5's first layer: 28-pixel rows, an image in two bands of 14 rows on AVX-512
    "lenet-1": (5, 1, 6, 28, 28, (5, 5), (1, 1), (2, 2), (1, 1)),
    # LeNet-5's second layer (6 channels: pixels only where a vector holds 16 floats)
    "lenet-2": (9, 6, 16, 14, 14, (5, 5), (1, 1), (0, 0), (1, 1)),
    # strided windows gathered from the source rows (stride 2 across, and down only), a 1-pixel
    # wide image whose first and last kernel columns read only padding
    "stride-2": (3, 1, 5, 15, 13, (3, 3), (2, 2), (1, 1), (1, 1)),
    "stride-2-down": (4, 2, 3, 11, 9, (3, 2), (2, 1), (1, 0), (1, 1)),
    "stride-2-across": (2, 1, 7, 9, 17, (2, 3), (1, 2), (0, 1), (1, 1)),
    "one-column": (6, 1, 4, 5, 1, (3, 3), (2, 2), (1, 1), (1, 1)),
    # dilation and padding past the window's reach: windows that hang off both sides of a row
    "dilated": (3, 1, 9, 6, 4, (3, 3), (1, 1), (3, 3), (2, 2)),
    # one image of 68 output rows of 39 pixels: bands of rows, each band one run
    "bands": (1, 1, 3, 70, 41, (3, 3), (1, 1), (0, 0), (1, 1)),
}


@pytest.mark.parametrize("layer", list(COLUMN_COPIES.values()), ids=list(COLUMN_COPIES))
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_conv2d_weight_grad_from_column_copies(layer, threads):
    # Every element against torch float64: a tap offset into the wrong kernel column's plane, a row
    # phase mixed up or a window's zeros misplaced changes single elements.
    n, cin, cout, h, w, kernel, stride, padding, dilation = layer
    geometry = (stride, padding, dilation, 1)
    wshape = [cout, cin, *kernel]
    if pycnn._C.channel_block_width() == 16:  # the path these layers take with AVX-512's vectors
        assert pycnn._C.conv2d_weight_grad_column_copies([n, cin, h, w], wshape, *geometry)
    rng = np.random.default_rng(sum(layer[:5]))
    x = rng.standard_normal((n, cin, h, w))
    expected, (got,), atol = weight_grads(rng, x, rng.standard_normal(wshape), [threads], stride=stride,
                                          padding=padding, dilation=dilation)
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


def test_conv2d_weight_grad_column_copies_rule():
    # Column copies where an image's pixels in runs of a vector take at least a tenth fewer vector
    # steps than its rows one by one (a row's last vector partly empty), for this machine's vectors:
    # LeNet-5's 28-pixel rows on AVX-512 and AVX2; never rows of whole vectors (32x32 images, the
    # 112 outputs a row of a 224x224 stem at stride 2), nor layers on the channel-vector kernel.
    vw = pycnn._C.channel_block_width()

    def column_copies(shape, wshape, stride=(1, 1), padding=(0, 0)):
        return pycnn._C.conv2d_weight_grad_column_copies(shape, wshape, stride, padding, (1, 1), 1)

    oh = ow = 28
    assert column_copies([64, 1, 28, 28], [6, 1, 5, 5], padding=(2, 2)) == (
        10 * -(-oh * ow // vw) <= 9 * oh * -(-ow // vw))
    assert not column_copies([8, 1, 32, 32], [16, 1, 3, 3], padding=(1, 1))
    assert not column_copies([2, 1, 224, 224], [64, 1, 7, 7], (2, 2), (3, 3))
    assert not column_copies([8, 32, 14, 14], [16, 32, 5, 5])


def make_winograd_grad_config(rng):
    """3x3 stride-1 layers whose weight gradient runs as Winograd F(3x3, 2x2) or F(3x3, 4x4) (by the image's
    side): 32 channels and more each
    side (past one, two and three vectors of channels, odd counts), paddings 0-2 per axis, odd and even
    image sides, and enough 2x2 tiles of dy in the batch (at least 64)."""
    cin, cout = int(rng.choice([32, 33, 47, 64, 70])), int(rng.choice([32, 35, 48, 61]))
    padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    h, w = int(rng.integers(3, 18)), int(rng.integers(3, 18))
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    tiles = ((oh + 1) // 2) * ((ow + 1) // 2)
    return dict(n=max(1, -(-64 // tiles)) + int(rng.integers(0, 2)), cin=cin, cout=cout, h=h, w=w,
                padding=padding, seed=int(rng.integers(1 << 30)))


WINOGRAD_GRAD = random_configs(16, 31, make_winograd_grad_config) + [
    # 56x56 images (ResNet-18's first stage): 56 tile rows in chunks of 36, the first ending inside
    # the second image
    dict(n=2, cin=64, cout=64, h=56, w=56, padding=(1, 1), seed=21),
    # 7x7 images (ResNet-18's last stage, fewer channels): a dy row of 4 tiles, the last half empty
    dict(n=5, cin=40, cout=96, h=7, w=7, padding=(1, 1), seed=22),
    # more input channels than one chunk of products spans in columns (3 vectors) on every ISA
    dict(n=2, cin=150, cout=33, h=11, w=13, padding=(2, 0), seed=23),
    # degenerate sides: 1x1 images (every tap but the centre reads padding), one row 300 wide, a
    # column 3 wide and 130 tall without top padding
    dict(n=64, cin=32, cout=33, h=1, w=1, padding=(1, 1), seed=24),
    dict(n=2, cin=32, cout=32, h=1, w=300, padding=(1, 1), seed=25),
    dict(n=1, cin=64, cout=40, h=130, w=3, padding=(0, 1), seed=26),
    # F(3x3, 2x2) where 4x4 blocks would cut off too much of dy (6x6 and 10x9 outputs), F(3x3, 4x4) with
    # dy's last blocks one, two and three pixels short on each axis
    dict(n=8, cin=40, cout=36, h=6, w=6, padding=(1, 1), seed=27),
    dict(n=3, cin=33, cout=64, h=12, w=11, padding=(0, 0), seed=28),
    dict(n=2, cin=48, cout=40, h=17, w=18, padding=(1, 0), seed=29),
    dict(n=3, cin=35, cout=32, h=19, w=13, padding=(2, 1), seed=30),
    # 16 to 31 channels: F(3x3, 4x4) only (one vector of 16 input channels, and 20 in two)
    dict(n=4, cin=16, cout=20, h=20, w=19, padding=(1, 1), seed=31),
    dict(n=3, cin=20, cout=16, h=13, w=17, padding=(1, 2), seed=32)]


@pytest.mark.parametrize("cfg", WINOGRAD_GRAD, ids=lambda c: "n{n}c{cin}-{cout}h{h}w{w}p{padding}".format(**c))
def test_conv2d_weight_grad_winograd(cfg):
    # Every element of dw against torch float64, on 1, 2 and 3 threads: the transform points' products
    # are one thread's each, so the three are bitwise equal (default mode, not only deterministic).
    shape, wshape = [cfg["n"], cfg["cin"], cfg["h"], cfg["w"]], [cfg["cout"], cfg["cin"], 3, 3]
    assert pycnn._C.conv2d_winograd_weight_grad(shape, wshape, (1, 1), cfg["padding"], (1, 1), 1)
    if cfg["seed"] in (27, 28, 29, 30, 31, 32):
        assert winograd_grad_tile(cfg) == {27: 2, 28: 2, 29: 4, 30: 4, 31: 4, 32: 4}[cfg["seed"]]
    rng = np.random.default_rng(cfg["seed"])
    x, w = rng.standard_normal(shape), rng.standard_normal(wshape)
    expected, grads, atol = weight_grads(rng, x, w, (1, 2, 3), padding=cfg["padding"])
    np.testing.assert_allclose(grads[0], expected, rtol=0, atol=atol)
    assert np.array_equal(grads[0], grads[1]) and np.array_equal(grads[0], grads[2])


def winograd_grad_tile(cfg):
    return pycnn._C.conv2d_winograd_weight_grad_tile([cfg["n"], cfg["cin"], cfg["h"], cfg["w"]],
                                                     [cfg["cout"], cfg["cin"], 3, 3], (1, 1), cfg["padding"], (1, 1), 1)


def test_conv2d_weight_grad_winograd_tiles():
    # The cases above run both: F(3x3, 4x4) on ResNet-18-like 56x56 and 7x7 images, F(3x3, 2x2) where 4x4
    # blocks waste dy (5x5, 6x6, 9x9 and 10x10 outputs).
    tiles = {winograd_grad_tile(cfg) for cfg in WINOGRAD_GRAD}
    assert tiles == {2, 4}
    assert winograd_grad_tile(dict(n=2, cin=64, cout=64, h=56, w=56, padding=(1, 1))) == 4
    assert winograd_grad_tile(dict(n=16, cin=512, cout=512, h=7, w=7, padding=(1, 1))) == 4
    assert winograd_grad_tile(dict(n=16, cin=64, cout=64, h=10, w=10, padding=(1, 1))) == 2
    # 16 to 31 channels a side by F(3x3, 4x4) only (ResNet-20's first stage)
    assert winograd_grad_tile(dict(n=128, cin=16, cout=16, h=32, w=32, padding=(1, 1))) == 4


@pytest.mark.parametrize("shape, wshape, stride, padding, dilation, groups", [
    ([16, 15, 20, 20], [64, 15, 3, 3], 1, 1, 1, 1),   # fewer than 16 input channels
    ([16, 64, 20, 20], [15, 64, 3, 3], 1, 1, 1, 1),   # fewer than 16 output channels
    ([16, 31, 10, 10], [64, 31, 3, 3], 1, 1, 1, 1),   # fewer than 32 and F(3x3, 4x4) wastes 10x10's blocks
    ([16, 64, 20, 20], [64, 64, 3, 3], 2, 1, 1, 1),   # stride 2
    ([16, 64, 20, 20], [64, 64, 3, 3], 1, 2, 2, 1),   # dilation 2
    ([16, 64, 20, 20], [64, 32, 3, 3], 1, 1, 1, 2),   # groups
    ([16, 64, 20, 20], [64, 64, 5, 5], 1, 2, 1, 1),   # 5x5
    ([16, 64, 20, 20], [64, 64, 3, 3], 1, 3, 1, 1),   # padding past 2
    ([1, 64, 14, 14], [64, 64, 3, 3], 1, 1, 1, 1),    # 49 tiles
    ([2, 2100, 8, 8], [2100, 2100, 3, 3], 1, 1, 1, 1),  # 16 sums of 2100 x 2100: past 2^26 floats
    ([1, 64, 3, 40000], [64, 64, 3, 3], 1, 1, 1, 1),  # one row of tiles past 2^24 floats of U and V
])
def test_conv2d_weight_grad_winograd_rule(shape, wshape, stride, padding, dilation, groups):
    # The layers the rule leaves to the direct sums (test_conv2d_weight_grad_elementwise checks those).
    assert not pycnn._C.conv2d_winograd_weight_grad(shape, wshape, (stride, stride), (padding, padding),
                                                    (dilation, dilation), groups)
    assert pycnn._C.conv2d_winograd_weight_grad([2, 64, 14, 14], [64, 64, 3, 3], (1, 1), (1, 1), (1, 1), 1)


def make_transposed_config(rng):
    """Stride-1 layers whose input gradient runs as the forward convolution of dy (16 channels and more
    each side, at least 1024 output pixels in the batch): odd kernels and paddings up to KH - 1."""
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(2, 6))
    padding = (int(rng.integers(0, kh)), int(rng.integers(0, kw)))
    return dict(n=int(rng.integers(5, 8)), cin=int(rng.integers(16, 41)), cout=int(rng.integers(16, 41)),
                h=int(rng.integers(kh + 14, 26)), w=int(rng.integers(kw + 14, 26)), kh=kh, kw=kw,
                padding=padding, seed=int(rng.integers(1 << 30)))


TRANSPOSED = random_configs(12, 5, make_transposed_config) + [
    # 64 channels and 512 Winograd tiles: the transposed convolution runs Winograd F(4x4, 3x3) (32 columns)
    dict(n=2, cin=64, cout=64, h=32, w=32, kh=3, kw=3, padding=(1, 1), seed=11),
    # and F(2x2, 3x3), its panels of tiles running across images (49 and 36 tiles an image), the forward
    # weights turned as the 16 matrices are packed; F(4x4, 3x3) on 17x17 (36 matrices)
    dict(n=11, cin=72, cout=64, h=13, w=13, kh=3, kw=3, padding=(1, 1), seed=14),
    dict(n=20, cin=64, cout=96, h=12, w=12, kh=3, kw=3, padding=(1, 1), seed=15),
    dict(n=7, cin=64, cout=300, h=17, w=17, kh=3, kw=3, padding=(1, 1), seed=16),  # two K slices
    # F(4x4, 3x3) with fewer channels (24 of dy into 32 of dx)
    dict(n=6, cin=32, cout=24, h=20, w=20, kh=3, kw=3, padding=(1, 1), seed=18),
    # 7x7 images: row tiles (ResNet-18's last stage, smaller), the forward weights packed as they lie
    dict(n=6, cin=64, cout=80, h=7, w=7, kh=3, kw=3, padding=(1, 1), seed=12),
    dict(n=6, cin=33, cout=20, h=9, w=7, kh=3, kw=2, padding=(2, 0), seed=13),
    # row tiles whose rows skip the kernel rows that read padding: the input gradient's convolution
    # pads dy by 2 rows above and below (one tap row left at the edges, two next to them)
    dict(n=6, cin=64, cout=40, h=7, w=7, kh=3, kw=3, padding=(0, 1), seed=17)]


@pytest.mark.parametrize("cfg", TRANSPOSED, ids=lambda c: "n{n}c{cin}-{cout}h{h}w{w}k{kh}x{kw}p{padding}".format(**c))
def test_conv2d_input_grad_as_convolution(cfg):
    # Every element of dx against torch float64.
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["n"], cfg["cin"], cfg["h"], cfg["w"]))
    w = rng.standard_normal((cfg["cout"], cfg["cin"], cfg["kh"], cfg["kw"]))
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.conv2d(tx, torch.tensor(w), padding=cfg["padding"])
    upstream = rng.standard_normal(ref.shape)
    ref.backward(torch.tensor(upstream))
    if cfg["seed"] in (11, 14, 15, 16, 18):  # the Winograd cases: the input gradient's convolution takes that path
        assert pycnn._C.conv2d_winograd_tile(list(ref.shape), [cfg["cin"], cfg["cout"], 3, 3], (1, 1), (1, 1),
                                             (1, 1), 1) == {11: 4, 14: 2, 15: 2, 16: 4, 18: 4}[cfg["seed"]]
    if cfg["seed"] == 17:
        assert pycnn._C.conv2d_row_tiles(list(ref.shape), [cfg["cin"], cfg["cout"], 3, 3], (1, 1), (2, 1), (1, 1), 1)
    px = pycnn.tensor(x.astype(np.float32), requires_grad=True)
    F.conv2d(px, pycnn.tensor(w.astype(np.float32)), padding=cfg["padding"]).backward(
        pycnn.tensor(upstream.astype(np.float32)))
    scale = np.abs(w).max() * np.abs(upstream).max() * np.sqrt(cfg["cout"] * cfg["kh"] * cfg["kw"])
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=0, atol=2e-5 * scale)

def worked_image():
    """The seeds' 10x10 image: a 5x5 block of 90 at rows 2-6, columns 3-7, a 0 hole at (5, 4), a 90 at (8, 2)."""
    img = np.zeros((10, 10), dtype=np.float32)
    img[2:7, 3:8] = 90
    img[5, 4] = 0
    img[8, 2] = 90
    return img


def test_conv2d_mean_filter_worked_example():
    x = pycnn.tensor(worked_image()[None, None])
    out = F.conv2d(x, pycnn.tensor(np.full((1, 1, 3, 3), 1 / 9, dtype=np.float32))).numpy()[0, 0]
    assert out.shape == (8, 8)
    np.testing.assert_allclose(out[0], [0, 10, 20, 30, 30, 30, 20, 10], atol=1e-4)
    np.testing.assert_allclose(out[1], [0, 20, 40, 60, 60, 60, 40, 20], atol=1e-4)
    five = F.conv2d(x, pycnn.tensor(np.full((1, 1, 5, 5), 1 / 25, dtype=np.float32)))
    assert five.shape == (1, 1, 6, 6)
    for k in (3, 5):
        same = F.conv2d(x, pycnn.tensor(np.full((1, 1, k, k), 1 / k**2, dtype=np.float32)), padding=k // 2)
        assert same.shape == (1, 1, 10, 10)


@pytest.mark.parametrize("size,kernel,stride,pad,expected", [
    (7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (227, 11, 4, 0, 55), (10, 3, 1, 1, 10), (32, 5, 1, 2, 32)])
def test_conv2d_output_size_formula(size, kernel, stride, pad, expected):
    assert (size - kernel + 2 * pad) // stride + 1 == expected
    x = pycnn.zeros(1, 1, size, size)
    w = pycnn.zeros(1, 1, kernel, kernel)
    assert F.conv2d(x, w, stride=stride, padding=pad).shape == (1, 1, expected, expected)


def test_conv2d_alexnet_first_layer():
    x = pycnn.randn(1, 3, 227, 227, seed=0)
    w = pycnn.randn(96, 3, 11, 11, seed=1)
    assert F.conv2d(x, w, stride=4).shape == (1, 96, 55, 55)
    assert w.numel() == 34848


def test_conv2d_gemm_matches_reference():
    rng = np.random.default_rng(3)
    # includes few-row products against a wide B (the fully connected path that reads B in place,
    # up to 8 B panels of rows: 200 and 250 rows take it, 257 does not), with op(A) small enough to
    # be packed whole (16 x 700) and too large for that (40 x 7000 and 24 x 9000, packed a chunk of K
    # at a time), each with a ragged last panel of B's rows (301 and 203 rows); and the dot products
    # of 1 to 4 rows against B^T (4 rows of B at a time, with 1 to 3 rows left over, K not a
    # multiple of the vector width); op(A)^T of at most one vector's rows in panels one vector wide
    # (16, 9, 8, 5 rows); and products of 2^23 floats and more from one slice of K, stored past the
    # caches, with ragged tiles at both edges (4099 x 2064) and without (4096 x 2048)
    for m, n, k in [(1, 1, 1), (7, 33, 5), (64, 300, 257), (131, 17, 600), (256, 513, 64), (16, 300, 257),
                    (5, 131, 70), (1, 1000, 600), (9, 64, 64), (200, 301, 130), (250, 70, 300),
                    (257, 300, 100), (16, 301, 700), (40, 203, 7000), (24, 301, 9000), (3, 1001, 100),
                    (4, 1003, 130), (8, 97, 1000), (2, 70, 64), (6, 5, 77), (4099, 2064, 16),
                    (4096, 2048, 3)]:
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
                fast = pycnn._C.gemm(pycnn.tensor(a)._data, pycnn.tensor(b)._data, ta, tb).numpy()
                ref = pycnn._C.gemm(pycnn.tensor(a)._data, pycnn.tensor(b)._data, ta, tb, True).numpy()
                exact = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
                assert np.linalg.norm(ref - exact) / np.linalg.norm(exact) < 1e-6
                assert np.linalg.norm(fast - exact) / np.linalg.norm(exact) < 1e-5


@pytest.mark.parametrize("kernel,dilation,shape", [((2, 2), (1, 1), (2, 3, 5, 6)), ((1, 4), (2, 1), (1, 2, 4, 7)),
                                                    ((3, 2), (1, 3), (3, 2, 3)), ((4, 3), (1, 1), (1, 2, 1, 1))])
def test_conv2d_same_padding_even_kernel_and_unbatched(kernel, dilation, shape, device):
    # torch pads an even effective kernel asymmetrically (the extra row/column at the bottom/right)
    # and accepts one (C, H, W) image.
    rng = np.random.default_rng(sum(shape))
    c = shape[-3]
    kw = dict(padding="same", dilation=dilation)
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw),
             [rng.standard_normal(shape), rng.standard_normal((3, c, *kernel)), rng.standard_normal(3)],
             device=device)


class TestBadInput:
    def x(self, *shape):
        return pycnn.zeros(*shape)

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match=r"conv2d: expected input to be 3-d \(C, H, W\) or 4-d .* got "
                                             r"shape \(8, 8\)"):
            F.conv2d(self.x(8, 8), self.x(2, 3, 3, 3))

    def test_kernel_one_stride_too_large(self):
        # (1 - 2 - 1) // 2 + 1 truncates to 1 in C++: the kernel must be compared with the input.
        with pytest.raises(ValueError, match=r"conv2d: kernel \(4, 2\) .* larger than the padded input "
                                             r"\(11, 1\)"):
            F.conv2d(self.x(3, 1, 11, 1), self.x(1, 1, 4, 2), stride=(3, 2))

    def test_channel_mismatch(self):
        with pytest.raises(ValueError,
                           match=r"conv2d: .*expects input with 3 channels, got input of shape \(1, 4, 8, 8\)"):
            F.conv2d(self.x(1, 4, 8, 8), self.x(2, 3, 3, 3))

    def test_groups_not_dividing(self):
        with pytest.raises(ValueError, match=r"conv2d: groups=3 must divide"):
            F.conv2d(self.x(1, 4, 8, 8), self.x(4, 2, 3, 3), groups=3)

    def test_kernel_larger_than_padded_input(self):
        with pytest.raises(ValueError, match=r"conv2d: kernel \(5, 5\) .* larger than the padded input \(4, 4\)"):
            F.conv2d(self.x(1, 1, 4, 4), self.x(1, 1, 5, 5))

    def test_non_positive_stride(self):
        with pytest.raises(ValueError, match=r"conv2d: stride must be positive, got \(0, 1\)"):
            F.conv2d(self.x(1, 1, 4, 4), self.x(1, 1, 3, 3), stride=(0, 1))

    def test_float_stride(self):
        with pytest.raises(TypeError, match=r"conv2d: expected stride to be an int, got float"):
            F.conv2d(self.x(1, 1, 4, 4), self.x(1, 1, 3, 3), stride=1.5)

    def test_int64_input(self):
        with pytest.raises(TypeError, match=r"conv2d: expected input to be float32, got int64"):
            F.conv2d(pycnn.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), self.x(1, 1, 3, 3))

    def test_bias_shape(self):
        with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(2,\), got \(3,\)"):
            F.conv2d(self.x(1, 1, 4, 4), self.x(2, 1, 3, 3), self.x(3))

    def test_not_a_tensor(self):
        with pytest.raises(TypeError, match=r"conv2d: expected input to be a pycnn.Tensor, got ndarray"):
            F.conv2d(np.zeros((1, 1, 4, 4)), self.x(1, 1, 3, 3))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 2, 1), (1, 0, 2), (3, 1, 2)])
def test_conv2d_in_column_chunks(stride, padding, dilation, device):
    # 64 channels x 3x3 = 576 unrolled rows: the CPU kernel works through the output in chunks of a
    # few hundred positions, which split output rows; 37x41 outputs cross many chunk boundaries.
    rng = np.random.default_rng(11)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw),
             [rng.standard_normal((2, 64, 37, 41)), rng.standard_normal((5, 64, 3, 3)) * 0.1,
              rng.standard_normal(5)], device=device)


def test_conv2d_row_wider_than_a_chunk_under_wide_padding(device):
    # Padding 70000 makes each output row 140,004 wide, over two chunks of 65,536 columns: the first
    # chunk ends before the first column the kernel reaches, and im2col's zero fill once ran past the
    # chunk (found by tools/fuzz_bindings.py under AddressSanitizer).
    rng = np.random.default_rng(12)
    kw = dict(stride=(1, 1), padding=(0, 70000), dilation=(1, 2))
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw),
             [rng.standard_normal((2, 1, 3, 5)), rng.standard_normal((1, 1, 2, 2)), rng.standard_normal(1)],
             device=device)


@pytest.mark.parametrize("shape,wshape,stride,padding,dilation", [
    ((8, 8, 3, 2), (8, 8, 1, 1), (2**31 - 1, 2**31 - 1), (1, 2), (1, 3)),  # found by fuzz_bindings
    ((2, 3, 5, 6), (4, 3, 3, 2), (2**31 - 1, 7), (1, 0), (2, 1)),
    ((1, 16, 4, 4), (16, 16, 3, 3), (1000, 1000), (1, 1), (1, 1)),
])
def test_conv2d_stride_past_the_image(shape, wshape, stride, padding, dilation, device):
    # One output pixel per row and column: the stride-phase copy of the input once had one phase per
    # stride, and SH * SW * planes overflowed int64 (UBSan, tools/fuzz_bindings.py, 2026-12-06).
    rng = np.random.default_rng(13)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    check_op(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: torch.nn.functional.conv2d(x, w, **kw),
             [rng.standard_normal(shape), rng.standard_normal(wshape)], device=device)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = torch.nn.Conv2d(wshape[1], wshape[0], wshape[2:], **kw).eval()
    ours = pycnn.nn.Conv2d(wshape[1], wshape[0], wshape[2:], **kw).eval()
    ours.load_state_dict({k: pycnn.tensor(v.detach().numpy()) for k, v in layer.state_dict().items()})
    plan = pycnn.optimize_for_inference(ours, pycnn.tensor(x))
    np.testing.assert_allclose(plan(pycnn.tensor(x)).numpy(), layer(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_conv2d_geometry_beyond_int32_is_refused():
    x, w = pycnn.zeros(1, 1, 4, 4), pycnn.zeros(1, 1, 2, 2)
    for kw, message in ((dict(padding=(0, 2**63 - 1)), f"padding must be below 2\\^31, got {2**63 - 1}"),
                        (dict(stride=(2**31, 1)), f"stride must be below 2\\^31, got {2**31}"),
                        (dict(dilation=(1, 2**40)), f"dilation must be below 2\\^31, got {2**40}")):
        with pytest.raises(ValueError, match="conv2d: " + message):
            F.conv2d(x, w, **kw)
    with pytest.raises(ValueError, match=r"conv_output_size: pad_end must be below 2\^31, got 4611686018427387904"):
        pycnn._C.conv_output_size(5, 2, 0, 2**62, 1, 1)
    with pytest.raises(ValueError, match=r"max_pool2d: stride must be below 2\^31"):
        pycnn.nn.functional.max_pool2d(x, 2, stride=2**31)


@pytest.mark.parametrize("shape,cout,k,stride,pad", [
    ((3, 16, 9, 9), 16, 3, 1, 1),   # dx as a convolution: the sum in its epilogue
    ((2, 6, 14, 14), 16, 5, 1, 0),  # LeNet's 6 -> 16: im2col, the sum after
    ((2, 3, 19, 19), 8, 5, 4, 2),   # stride 4: im2col
])
def test_conv2d_backward_input_grad_add_is_summed_into_dx(shape, cout, k, stride, pad):
    # input_grad_add (the gradient a residual block's shortcut brings) comes back summed into dx,
    # bit for bit what a separate add gives; dw and db are unchanged.
    rng = np.random.default_rng(sum(shape))
    x, add = (pycnn.tensor(rng.standard_normal(shape).astype(np.float32))._data for _ in range(2))
    w = pycnn.tensor(rng.standard_normal((cout, shape[1], k, k)).astype(np.float32))._data
    out = (shape[2] + 2 * pad - k) // stride + 1
    dy = pycnn.tensor(rng.standard_normal((shape[0], cout, out, out)).astype(np.float32))._data
    args = (dy, x, w, (stride, stride), (pad, pad), (1, 1), 1, True, True, True)
    dx, dw, db = pycnn._C.conv2d_backward(*args)
    dx_sum, dw_sum, db_sum = pycnn._C.conv2d_backward(*args, add)
    np.testing.assert_array_equal(dx_sum.numpy(), dx.numpy() + add.numpy())
    np.testing.assert_array_equal(dw_sum.numpy(), dw.numpy())
    np.testing.assert_array_equal(db_sum.numpy(), db.numpy())
    with pytest.raises(ValueError, match="input_grad_add"):
        pycnn._C.conv2d_backward(*args, pycnn.zeros(1, *shape[1:])._data)
    with pytest.raises(ValueError, match="need_input_grad=True"):
        pycnn._C.conv2d_backward(*args[:7], False, True, True, add)


def test_conv2d_backward_takes_the_shortcut_gradient_in_a_residual_block(monkeypatch):
    # The tape hands a conv the gradient its input already has (the identity shortcut's) and skips its
    # own add: ResNet-20's gradients are bit for bit those of the separate add, and the conv of every
    # stride-1 block takes it.
    import pycnn.models as zoo
    from pycnn.nn.functional.conv import Conv2dFunction

    rng = np.random.default_rng(0)
    x = pycnn.tensor(rng.standard_normal((4, 3, 16, 16)).astype(np.float32))
    y = pycnn.tensor(rng.integers(0, 10, 4))

    def grads(fused):
        pycnn.manual_seed(0)
        model = zoo.resnet20(num_classes=10)
        monkeypatch.setattr(Conv2dFunction, "takes_input_grad",
                            Conv2dFunction.takes_input_grad if fused else lambda self: False)
        taken = []
        real = pycnn._C.conv2d_backward
        monkeypatch.setattr(pycnn._C, "conv2d_backward",
                            lambda *a: taken.append(len(a) > 10 and a[10] is not None) or real(*a))
        F.cross_entropy(model(x), y).backward()
        monkeypatch.setattr(pycnn._C, "conv2d_backward", real)
        return [p.grad.numpy() for p in model.parameters()], sum(taken)

    fused, taken = grads(True)
    separate, none = grads(False)
    assert none == 0 and taken >= 7, taken  # 9 blocks, 2 of them strided (their shortcut is pooled)
    for a, b in zip(fused, separate):
        np.testing.assert_array_equal(a, b)
