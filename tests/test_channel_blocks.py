"""The inference plan's channel blocks (pycnn.inference.lowering.channel_blocks, cpu::ChannelBlocks in
conv2d_prepared.h): values that only row-tile convolutions read are kept as [N][C / vw][H + 2 halo][W +
2 halo][vw] between them, read in place by the next convolution and stored without a transpose. Random
residual networks against the eager model and against the same plan in NCHW, every mix of input,
output and residual layouts, which values get blocks (and their halos), and the binding's refusals.
test_gemm_isa runs this file on every vector width (vw 4, 8 and 16)."""
import numpy as np
import pytest

import pycnn
from pycnn import nn
from pycnn.inference.lowering import channel_blocks

from test_inference_plan import assert_close, eager


class Block(nn.Module):
    """conv-ReLU-conv, plus the input (identity) or a 1x1 strided projection of it, then ReLU."""

    def __init__(self, c_in, c_out, k, stride, dilation, shortcut):
        super().__init__()
        pad = dilation * (k // 2)
        self.conv1 = nn.Conv2d(c_in, c_out, k, stride, pad, dilation)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.project = nn.Conv2d(c_in, c_out, 1, stride) if shortcut == "project" else None
        self.shortcut = shortcut

    def forward(self, x):
        y = self.conv2(nn.functional.relu(self.conv1(x)))
        if self.shortcut == "identity":
            y = y + x
        elif self.shortcut == "project":
            y = y + self.project(x)
        return nn.functional.relu(y)


class Inverted(nn.Module):
    """MobileNetV2's block: 1x1 expansion, ReLU6, depthwise k x k (stride, dilation), ReLU6, 1x1
    projection, plus the input where the shape allows."""

    def __init__(self, c_in, c_out, k, stride, dilation, expand, shortcut, act=nn.functional.relu6):
        super().__init__()
        self.act = act  # EfficientNet's SiLU, MobileNetV3's Hardswish: the convolutions' gates
        hidden = c_in * expand
        self.expand = nn.Conv2d(c_in, hidden, 1)
        self.depthwise = nn.Conv2d(hidden, hidden, k, stride, dilation * (k // 2), dilation, groups=hidden)
        self.project = nn.Conv2d(hidden, c_out, 1)
        self.shortcut = shortcut == "identity"

    def forward(self, x):
        y = self.act(self.depthwise(self.act(self.expand(x))))
        y = self.project(y)
        return y + x if self.shortcut else y


class Net(nn.Module):
    """A 3-channel stem and blocks, a max pool after some (an NCHW reader), a global average pool and a
    linear head. A 3x3 stem takes row tiles where its output is kept in blocks (27 taps); a 1x1 stem
    (3 taps) cannot, so its output is NCHW."""

    def __init__(self, stem, blocks, pools, classes=5, stem_kernel=3):
        super().__init__()
        self.stem = nn.Conv2d(3, stem, stem_kernel, 1, stem_kernel // 2)
        self.blocks = nn.ModuleList(blocks)
        self.pools = pools
        last = blocks[-1]
        self.head = nn.Linear((last.project if isinstance(last, Inverted) else last.conv2).out_channels, classes)

    def forward(self, x):
        x = nn.functional.relu(self.stem(x))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.pools:
                x = nn.functional.max_pool2d(x, 2, 2, ceil_mode=True)
        return self.head(nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


def random_net(rng):
    # In NCHW row tiles take 13-16, 26-32 and 52-64 channels on every vector width (ragged panels at
    # most a quarter empty) from 16 channels in; in channel blocks any count of at least 16 taps, so
    # 13 and 29 channels (a last block partly empty) meet both.
    channels = stem = int(rng.choice([16, 27, 32]))
    blocks = []
    for i in range(int(rng.integers(2, 5))):  # the first block's inner value always in blocks
        c_out = int(rng.choice([channels, channels, 13, 16, 29, 52])) if i else channels
        stride = int(rng.choice([1, 1, 2]))
        k = int(rng.choice([1, 3, 3, 5])) if i else 3
        dilation = int(rng.choice([1, 1, 2])) if k > 1 else 1
        shortcut = "identity" if c_out == channels and stride == 1 and rng.random() < 0.7 else \
            str(rng.choice(["project", "none"]))
        if i and rng.random() < 0.4:
            blocks.append(Inverted(channels, c_out, int(rng.choice([3, 5])), stride, dilation,
                                   int(rng.choice([2, 4])), shortcut))
        else:
            blocks.append(Block(channels, c_out, k, stride, dilation, shortcut))
        channels = c_out
    pools = {int(i) for i in rng.integers(0, len(blocks), int(rng.integers(0, 2)))}
    return Net(stem, blocks, pools).eval()


def conv_layouts(compiled):
    """(input, output, residual) in channel blocks, per convolution of a compiled plan."""
    blocks = compiled.blocks
    seen = []
    for node in compiled.ir.nodes:
        if node.op in ("Conv", "FusedConv"):
            z = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else None
            seen.append((node.inputs[0] in blocks, node.outputs[0] in blocks, None if z is None else z in blocks))
    return seen


def plan_of(model, x, threads, monkeypatch, blocks):
    if not blocks:
        monkeypatch.setenv("PYCNN_CHANNEL_BLOCKS", "0")
    try:
        plan = pycnn.optimize_for_inference(model, x, threads=threads)
        out = plan(x).numpy()
        return plan, out
    finally:
        monkeypatch.delenv("PYCNN_CHANNEL_BLOCKS", raising=False)


@pytest.mark.parametrize("seed", range(12))
def test_random_networks_in_channel_blocks_match_eager(seed, monkeypatch):
    """Random blocks (13-52 channels, so the last block of vectors is ragged; 1x1, 3x3 and 5x5 kernels,
    stride 2, dilation 2, identity and projected shortcuts, pools between blocks), images of 7-21
    pixels a side, batches of 1-3 on 1-3 threads: the plan with channel blocks against the eager model
    and against the same plan kept in NCHW."""
    rng = np.random.default_rng(700 + seed)
    model = random_net(rng)
    size = [int(v) for v in rng.integers(7, 22, 2)]
    x = rng.standard_normal((int(rng.integers(1, 4)), 3) + tuple(size)).astype(np.float32)
    threads = int(rng.integers(1, 4))
    plan, out = plan_of(model, x, threads, monkeypatch, blocks=True)
    compiled = plan.compiled(x.shape)
    assert compiled.blocks, conv_layouts(compiled)
    assert plan.python_nodes(x.shape) == []
    expected = eager(model, x)
    assert_close(out, expected)
    plain, nchw = plan_of(model, x, threads, monkeypatch, blocks=False)
    assert plain.compiled(x.shape).blocks == {}
    assert_close(out, nchw)
    assert_close(plan(x).numpy(), out, rtol=0)  # a second run: halos from the first left no trace


def test_every_mix_of_layouts_meets_in_one_network(monkeypatch):
    """The NCHW (1x1) stem feeds a block whose output is in blocks (residual NCHW, output blocks), a pool
    reads the last block of a stage (residual blocks, output NCHW), the convolution after the pool reads
    NCHW: all four residual mixes and both inputs occur, and the numbers match on batches 1 and 3."""
    rng = np.random.default_rng(5)
    blocks = [Block(16, 16, 3, 1, 1, "identity"), Block(16, 16, 3, 1, 1, "identity"),
              Block(16, 32, 3, 1, 1, "project"), Block(32, 32, 3, 1, 1, "identity"),
              Block(32, 32, 3, 1, 1, "identity")]
    model = Net(16, blocks, {1}, stem_kernel=1).eval()
    for batch, threads in ((1, 2), (3, 3)):
        x = rng.standard_normal((batch, 3, 12, 11)).astype(np.float32)
        plan, out = plan_of(model, x, threads, monkeypatch, blocks=True)
        seen = set(conv_layouts(plan.compiled(x.shape)))
        for mix in [(True, True, False), (True, False, True), (True, True, True), (False, True, None)]:
            assert any(s[:3] == mix for s in seen), (mix, seen)
        assert (True, True, None) in seen or (True, False, None) in seen
        assert_close(out, eager(model, x))


@pytest.mark.parametrize("batch, threads, stride", [(1, 2, 1), (2, 3, 2), (1, 1, 2)])
def test_depthwise_layers_read_and_write_channel_blocks(batch, threads, stride, monkeypatch):
    """Inverted residual blocks on 12x11 images: the depthwise layer (the channel-vector path) reads its
    input's blocks in place, halo as padding, and stores its sums as blocks for the projection, where
    this vector width takes it there (out_w < 2 vw or stride 2); the numbers match eager's."""
    rng = np.random.default_rng(40 + batch + stride)
    model = Net(16, [Block(16, 16, 3, 1, 1, "identity"), Inverted(16, 16, 3, stride, 1, 4, "identity"
                                                                  if stride == 1 else "none"),
                     Inverted(16, 32, 5, 1, 1, 2, "none"), Block(32, 32, 3, 1, 1, "identity")], set()).eval()
    x = rng.standard_normal((batch, 3, 12, 11)).astype(np.float32)
    plan, out = plan_of(model, x, threads, monkeypatch, blocks=True)
    compiled = plan.compiled(x.shape)
    for node in compiled.ir.nodes:
        if node.op in ("Conv", "FusedConv") and node.attr("group", 1) > 1:
            shape = list(compiled.shapes[node.inputs[0]])
            w = list(compiled.ir.constants[node.inputs[1]].shape)
            stride_of = tuple(node.attr("strides", [1, 1]))
            pads = node.attr("pads", [0, 0, 0, 0])
            takes = pycnn._C.conv2d_takes_channel_blocks(shape, w, stride_of, (pads[0], pads[1]),
                                                          tuple(node.attr("dilations", [1, 1])), shape[1])
            assert (node.inputs[0] in compiled.blocks) == takes and (node.outputs[0] in compiled.blocks) == takes
    assert_close(out, eager(model, x))


def test_values_in_blocks_are_those_only_block_taking_convolutions_read():
    """channel_blocks: a value gets blocks when a convolution taking them computes it and only such
    convolutions read it (as input or residual), never a graph output; its halo is the largest padding
    among its readers as input."""
    from types import SimpleNamespace as NS

    def conv(x, y, padding=(1, 1), z="", blocks=True):
        native = NS(view=False, conv=NS(x=x, y=y, z=z, padding=padding, blocks=blocks))
        return NS(inputs=[x, "w", "bias"] + ([z] if z else []), outputs=[y]), native

    nodes = [conv("in", "a"), conv("a", "b", (2, 1)), conv("a", "c", (0, 0)), conv("b", "d", z="c"),
             conv("d", "e", blocks=False), conv("d", "f"), (NS(inputs=["f"], outputs=["g"]), None),
             conv("e", "out")]
    found = channel_blocks([n for n, _ in nodes], [native for _, native in nodes], {"out"})
    # a: read by two convolutions with paddings (2, 1) and (0, 0); b: input of d; c: d's residual;
    # d: read by a convolution that takes no blocks; e: made by it; f: read by a Python step.
    assert found == {"a": (2, 1), "b": (1, 1), "c": (0, 0)}


def test_squeeze_excitation_values_take_blocks_in_pairs():
    """channel_blocks with the squeeze-and-excitation steps: a global average pool (Native.channel_mean)
    reads blocks; a Mul by a channel scale (Native.scale) keeps its x and its product in blocks together
    or neither (its product read by a Python step, or its x by one, sends both back to NCHW), and the
    two share the larger of their halos."""
    from types import SimpleNamespace as NS

    def conv(x, y, padding=(1, 1)):
        native = NS(view=False, conv=NS(x=x, y=y, z="", padding=padding, blocks=True))
        return NS(inputs=[x, "w", "bias"], outputs=[y]), native

    def scale(x, s, y):
        return NS(inputs=[s, x], outputs=[y]), NS(view=False, scale=NS(x=x, s=s, y=y, images=1))

    def pool(x, y):
        return NS(inputs=[x], outputs=[y]), NS(view=False, channel_mean=x)

    nodes = [conv("in", "a"), pool("a", "p"), conv("p", "s", (0, 0)), scale("a", "s", "b"), conv("b", "c", (2, 0)),
             conv("c", "d"), pool("d", "q"), scale("d", "q", "e"), (NS(inputs=["e"], outputs=["f"]), None),
             conv("f", "g"), scale("g", "q", "h"), conv("h", "out", (0, 3)), (NS(inputs=["g"], outputs=["k"]), None)]
    found = channel_blocks([n for n, _ in nodes], [native for _, native in nodes], {"out"})
    # a and b: a Mul's pair, halo (2, 0) from b's reader; s: read as a scale, not as x; c: read by
    # a convolution and a pool; d, e: e read in Python; g, h: g read in Python.
    assert found == {"a": (2, 0), "b": (2, 0), "c": (1, 1)}


def test_add_conv2d_refuses_channel_blocks_it_cannot_run():
    vw = pycnn._C.channel_block_width()
    assert vw in (4, 8, 16)
    plan = pycnn._C.InferencePlan(10**6)
    w = np.zeros((16, 16, 3, 3), np.float32)
    args = dict(name="c", y=0, x=200_000, weight=w, bias=None, input_shape=[1, 16, 20, 20], stride=(1, 1),
                padding=(1, 1), dilation=(1, 1), groups=1, residual=-1, clamp_min=0.0, clamp_max=1.0)
    assert pycnn._C.conv2d_row_tiles([1, 16, 20, 20], [16, 16, 3, 3], (1, 1), (1, 1), (1, 1), 1)
    plan.add_conv2d(**args, input_blocks=(1, 1), output_blocks=(0, 2))
    with pytest.raises(ValueError, match="must cover the padding"):
        plan.add_conv2d(**args, input_blocks=(0, 1))
    with pytest.raises(ValueError, match="at least"):
        plan.add_conv2d(**args, output_blocks=(-1, 0))
    with pytest.raises(ValueError, match="in \\[0, 64\\]"):
        plan.add_conv2d(**args, output_blocks=(65, 0))
    # a 1x1 layer of 3 channels: 3 taps are too few for row tiles (a 3x3 stem's 27 take them)
    stem = dict(args, weight=np.zeros((16, 3, 1, 1), np.float32), input_shape=[1, 3, 20, 20], padding=(0, 0))
    assert not pycnn._C.conv2d_takes_channel_blocks([1, 3, 20, 20], [16, 3, 1, 1], (1, 1), (0, 0), (1, 1), 1)
    assert pycnn._C.conv2d_takes_channel_blocks([1, 3, 20, 20], [16, 3, 3, 3], (1, 1), (1, 1), (1, 1), 1)
    assert not pycnn._C.conv2d_row_tiles([1, 3, 20, 20], [16, 3, 3, 3], (1, 1), (1, 1), (1, 1), 1)
    with pytest.raises(ValueError, match="row-tile or the depthwise"):
        plan.add_conv2d(**stem, output_blocks=(1, 1))
    # a depthwise layer at stride 3 would read past the slack after a block
    depthwise = dict(args, weight=np.zeros((16, 1, 3, 3), np.float32), groups=16, stride=(3, 3))
    assert not pycnn._C.conv2d_takes_channel_blocks([1, 16, 20, 20], [16, 1, 3, 3], (3, 3), (1, 1), (1, 1), 16)
    assert pycnn._C.conv2d_takes_channel_blocks([1, 16, 20, 20], [16, 1, 3, 3], (2, 2), (1, 1), (1, 1), 16)
    with pytest.raises(ValueError, match="row-tile or the depthwise"):
        plan.add_conv2d(**depthwise, input_blocks=(1, 1))
    # The range checks count the blocks' floats: 16 x 22 x 22 padded pixels, not 16 x 20 x 20, and
    # the slack after the last block.
    padded = -(-16 // vw) * vw * 22 * 22 + 8 * vw
    assert pycnn._C.channel_blocks_floats([1, 16, 20, 20], (1, 1)) == padded
    for shape in ([3, 1, 3, 2**63 - 1], [1, 2**62, 1, 1], [2**40, 2**20, 2**10, 2**10], [1, -1, 2, 2]):
        with pytest.raises(ValueError):  # sizes that would wrap the padded product (the fuzzer's)
            pycnn._C.channel_blocks_floats(shape, (3, 3))
    with pytest.raises(ValueError, match="arena"):
        plan.add_conv2d(**dict(args, y=10**6 - padded + 1), output_blocks=(1, 1))
    plan.add_conv2d(**dict(args, y=10**6 - padded), output_blocks=(1, 1))
    assert plan.step_names == ["c", "c"]


@pytest.mark.parametrize("batch, threads", [(1, 2), (2, 3), (1, 1)])
def test_mobile_layers_of_large_images_switch_to_channel_blocks(batch, threads, monkeypatch):
    """Layers whose NCHW path is another (1x1 expansions of a 33-pixel-wide image: the packed path;
    stride-1 depthwise layers that wide: the per-plane kernel; the 3x3 stem) take row tiles and the
    depthwise channel-vector path where the plan keeps their values in blocks; 24 and 40 outputs (the
    last panel partly empty, or one vector wide), SiLU and Hardswish gates (x * sigmoid(x) as PyTorch
    exports it: the plan fuses it into the convolution, whose value stays in blocks); the numbers match
    eager and the NCHW plan."""
    rng = np.random.default_rng(90 + batch)
    silu, hardswish = nn.functional.silu, nn.functional.hardswish
    model = Net(16, [Inverted(16, 24, 3, 1, 1, 6, "none"), Inverted(24, 24, 3, 1, 1, 6, "identity", silu),
                     Inverted(24, 40, 5, 2, 1, 4, "none", hardswish),
                     Inverted(40, 40, 3, 1, 1, 3, "identity")], set()).eval()
    x = rng.standard_normal((batch, 3, 33, 34)).astype(np.float32)
    plan, out = plan_of(model, x, threads, monkeypatch, blocks=True)
    compiled = plan.compiled(x.shape)
    switched = 0
    convs = [node for node in compiled.ir.nodes if node.op in ("Conv", "FusedConv")]
    for node in convs:
        shape = list(compiled.shapes[node.inputs[0]])
        w = list(compiled.ir.constants[node.inputs[1]].shape)
        geometry = (tuple(node.attr("strides", [1, 1])), tuple(node.attr("pads", [0, 0, 0, 0])[:2]),
                    tuple(node.attr("dilations", [1, 1])), node.attr("group", 1))
        assert pycnn._C.conv2d_takes_channel_blocks(shape, w, *geometry), (node.name, shape, w)
        assert node.outputs[0] in compiled.blocks  # the last one's too: the global pool reads blocks
        nchw_path = pycnn._C.conv2d_row_tiles(shape, w, *geometry) or \
            (geometry[3] > 1 and (shape[3] < 2 * pycnn._C.channel_block_width() or geometry[0][1] > 1))
        switched += not nchw_path
    assert switched >= 5  # the stem, the large expansions and the stride-1 depthwise layers
    gates = [node.attr("activation") for node in convs]
    assert gates.count("Silu") == 2 and gates.count("HardSwish") == 2, gates
    assert_close(out, eager(model, x))
    plain, nchw = plan_of(model, x, threads, monkeypatch, blocks=False)
    assert_close(out, nchw)


def to_blocks(a, vw, halo):
    """NCHW -> [N][C / vw][H + 2 halo_h][W + 2 halo_w][vw], zero in the halo and past the channels."""
    n, c, h, w = a.shape
    blocks, (hh, hw) = -(-c // vw), halo
    out = np.zeros((n, blocks * vw, h + 2 * hh, w + 2 * hw), a.dtype)
    out[:, :c, hh:hh + h, hw:hw + w] = a
    return out.reshape(n, blocks, vw, h + 2 * hh, w + 2 * hw).transpose(0, 1, 3, 4, 2)


def run_in_blocks(x, weight, bias, z, stride, pad, dilation, threads, input_halo=None, halo=(1, 2),
                  res_halo=(0, 1), floor=0.5):
    """One convolution as a native plan step with its output (and residual z, and input where
    input_halo is given) in channel blocks; the arena read back as blocks, and what they should hold:
    clamp(conv + bias + z, floor, 4) in float64, zero in the halo and past the channels."""
    import torch
    vw = pycnn._C.channel_block_width()
    groups = x.shape[1] // weight.shape[1]
    t = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(weight).double(),
                                   torch.from_numpy(bias).double(), stride, pad, dilation, groups).numpy()
    y_shape = list(t.shape)
    xb = to_blocks(x, vw, input_halo) if input_halo else x
    x_floats = pycnn._C.channel_blocks_floats(list(x.shape), input_halo) if input_halo else x.size
    y_floats = pycnn._C.channel_blocks_floats(y_shape, halo)
    z_floats = pycnn._C.channel_blocks_floats(y_shape, res_halo)
    y_at, z_at = x_floats, x_floats + y_floats
    plan = pycnn._C.InferencePlan(z_at + z_floats)
    plan.add_conv2d(name="c", y=y_at, x=0, weight=weight, bias=bias, input_shape=list(x.shape), stride=stride,
                    padding=pad, dilation=dilation, groups=groups, residual=z_at if z is not None else -1,
                    clamp_min=floor, clamp_max=4.0, input_blocks=input_halo, output_blocks=halo,
                    residual_blocks=res_halo if z is not None else None)
    arena = np.full(plan.arena_floats, np.nan, np.float32)  # the output's halo must be written too
    arena[:xb.size] = xb.ravel()
    if z is not None:
        zb = to_blocks(z, vw, res_halo)
        arena[z_at:z_at + zb.size] = zb.ravel()
        t = t + z
    plan.run(arena, 0, 1, threads)
    expected = to_blocks(np.clip(t, floor, 4.0), vw, halo)
    return arena[y_at:y_at + expected.size].reshape(expected.shape), expected


@pytest.mark.parametrize("kernel, batch, threads, residual", [(1, 1, 1, False), (1, 2, 2, True), (3, 3, 2, True),
                                                                (3, 1, 3, False)])
def test_row_tiles_store_blocks_from_registers(kernel, batch, threads, residual):
    """A row-tile convolution whose sums are final in one K slice (at most 256 taps) stores them into
    channel blocks straight from its registers (cpu::RowTileEpilogue), not through store_rows' copy:
    the arena itself read back, 20 outputs (the last block partly empty on 8 and 16 lanes) with a clamp
    whose floor is 0.5 and a residual in blocks of another halo. Every real lane is clamp(conv + bias +
    residual) in float64; every lane past the 20 channels, and the halo, is zero (a clamp of the empty
    lanes' zero sums would make them 0.5). 5x5 images at batch 3 pair rows across images."""
    rng = np.random.default_rng(kernel * 10 + batch)
    h, w = (5, 5) if kernel == 3 else (9, 11)
    x = rng.standard_normal((batch, 16, h, w)).astype(np.float32)
    weight = rng.standard_normal((20, 16, kernel, kernel)).astype(np.float32) * 0.3
    bias = rng.standard_normal(20).astype(np.float32)
    z = rng.standard_normal((batch, 20, h, w)).astype(np.float32) if residual else None
    pad = (kernel // 2,) * 2
    assert pycnn._C.conv2d_takes_channel_blocks(list(x.shape), list(weight.shape), (1, 1), pad, (1, 1), 1)
    got, expected = run_in_blocks(x, weight, bias, z, (1, 1), pad, (1, 1), threads)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)  # the empty lanes and halo: 0


@pytest.mark.parametrize("kernel, stride, width, outputs, inputs", [(1, 1, 101, 20, 16), (1, 1, 64, 40, 16),
                                                                    (3, 1, 75, 16, 16), (1, 2, 131, 20, 16),
                                                                    (3, 2, 90, 33, 16), (3, 1, 80, 40, 40)])
def test_row_tiles_of_a_wide_row_in_one_call(kernel, stride, width, outputs, inputs):
    """Rows of 4 to 14 tiles (ConvTileKernel::row_tile's tiles: those of one width whose taps all read
    inside the row go in one call): every tile's pixels land where they belong, the residual read at
    each tile's own pixels, in channel blocks (the arena read back) against float64; two ragged widths
    in a row (101 pixels: tiles of 14 and 15 on 16 lanes), stride 2, 3x3 layers whose first and last
    tiles leave edge products out and go alone, and 40 input channels (360 taps: two K slices, the
    sums through the task's buffer, not the tiles' registers)."""
    rng = np.random.default_rng(width)
    x = rng.standard_normal((1, inputs, 3, width)).astype(np.float32)
    weight = rng.standard_normal((outputs, inputs, kernel, kernel)).astype(np.float32) * 0.3
    bias = rng.standard_normal(outputs).astype(np.float32)
    pad = (kernel // 2,) * 2
    out_w = (width + 2 * pad[1] - kernel) // stride + 1
    z = rng.standard_normal((1, outputs, (3 + 2 * pad[0] - kernel) // stride + 1, out_w)).astype(np.float32)
    for threads in (1, 2):
        got, expected = run_in_blocks(x, weight, bias, z, (stride, stride), pad, (1, 1), threads)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, stride, dilation, width", [(3, 1, 1, 29), (3, 2, 1, 30), (5, 1, 1, 7), (5, 2, 1, 17),
                                                             (7, 1, 1, 12), (7, 2, 1, 9), (3, 1, 2, 19), (4, 1, 1, 10),
                                                             (3, 1, 1, 8)])
def test_depthwise_layers_in_blocks_by_kernel_size(kernel, stride, dilation, width):
    """The channel-vector depthwise path between channel blocks: 3, 5 and 7 wide windows at stride 1
    and 2 take the kernel that loads each input vector of a kernel row once (8 pixels at a time, the
    rest of a row one by one: widths 7-30 leave 0-7 over); a dilated or 4-wide window the general one.
    20 channels (a partly empty block on 8 and 16 lanes), a residual in blocks, a clamp floor of 0.5,
    batches of 2 on 1-3 threads (the rows of a block split between the threads), against float64."""
    rng = np.random.default_rng(kernel * 100 + stride * 10 + width)
    pad = dilation * (kernel // 2)
    x = rng.standard_normal((2, 20, 11, width)).astype(np.float32)
    weight = rng.standard_normal((20, 1, kernel, kernel)).astype(np.float32) * 0.3
    bias = rng.standard_normal(20).astype(np.float32)
    out_h = (11 + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    out_w = (width + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    z = rng.standard_normal((2, 20, out_h, out_w)).astype(np.float32)
    geometry = ((stride, stride), (pad, pad), (dilation, dilation))
    assert pycnn._C.conv2d_takes_channel_blocks(list(x.shape), list(weight.shape), *geometry, 20)
    for threads in (1, 2, 3):
        got, expected = run_in_blocks(x, weight, bias, z, *geometry, threads, input_halo=(pad, pad + 1))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


class SqueezeExcite(nn.Module):
    """EfficientNet's block after its expansion: depthwise k x k with SiLU, then the squeeze-and-excitation
    product (global average pool, 1x1 down, SiLU, 1x1 up, sigmoid, times the depthwise output: y * s or
    s * y), read by a 1x1 projection and by a 3x3 layer (padding 1), whose sum is the output."""

    def __init__(self, c_in, hidden, c_out, k, stride, scale_first):
        super().__init__()
        self.expand = nn.Conv2d(c_in, hidden, 1)
        self.depthwise = nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden)
        self.down, self.up = nn.Conv2d(hidden, 5, 1), nn.Conv2d(5, hidden, 1)
        self.project, self.side = nn.Conv2d(hidden, c_out, 1), nn.Conv2d(hidden, c_out, 3, 1, 1)
        self.scale_first = scale_first

    def forward(self, x):
        silu = nn.functional.silu
        y = silu(self.depthwise(silu(self.expand(x))))
        s = nn.functional.sigmoid(self.up(silu(self.down(nn.functional.adaptive_avg_pool2d(y, 1)))))
        y = s * y if self.scale_first else y * s
        return self.project(y) + self.side(y)


@pytest.mark.parametrize("batch, threads, hidden, size, stride, scale_first",
                         [(1, 2, 20, 9, 1, False), (3, 3, 37, 12, 2, True), (2, 1, 16, 7, 1, True),
                          (1, 2, 48, 23, 2, False)])
def test_squeeze_excitation_stays_in_channel_blocks(batch, threads, hidden, size, stride, scale_first,
                                                    monkeypatch):
    """The depthwise output, which only the global average pool and the Mul read, and the Mul's product,
    which only convolutions read, are kept in channel blocks (channel_blocks_mean and channel_blocks_scale
    run on them), both with the halo of the product's 3x3 reader; ragged last blocks (20, 37 channels),
    batches sharing no scale; the numbers match eager's and the NCHW plan's."""
    rng = np.random.default_rng(90 + hidden)
    model = SqueezeExcite(6, hidden, 8, 3, stride, scale_first).eval()
    x = rng.standard_normal((batch, 6, size, size + 1)).astype(np.float32)
    plan, out = plan_of(model, x, threads, monkeypatch, blocks=True)
    compiled = plan.compiled(x.shape)
    ops = {node.outputs[0]: node for node in compiled.ir.nodes}
    mul = next(node for node in compiled.ir.nodes if node.op == "Mul")
    depthwise = next(name for name in mul.inputs if ops[name].op in ("Conv", "FusedConv"))
    assert compiled.blocks[mul.outputs[0]] == compiled.blocks[depthwise] == (1, 1), compiled.blocks
    assert plan.python_nodes(x.shape) == []
    assert_close(out, eager(model, x))
    plain, nchw = plan_of(model, x, threads, monkeypatch, blocks=False)
    assert plain.compiled(x.shape).blocks == {}
    assert_close(out, nchw)
    assert_close(plan(x).numpy(), out, rtol=0)


@pytest.mark.parametrize("batch, channels, size, threads", [(1, 20, (6, 7), 1), (3, 5, (6, 7), 2),
                                                           (2, 33, (13, 17), 3), (1, 40, (45, 50), 2)])
def test_channel_blocks_scale_and_mean_steps(batch, channels, size, threads):
    """The two steps on a value in channel blocks (halo (1, 2)) as native plan steps, the arena read back:
    the mean of each channel's plane against float64, and x * s into another buffer and in place: the
    pixels scaled, the halo and the lanes past the channels zero whatever the scale (inf, NaN: 0 * inf
    would be NaN in the padding a next convolution reads), a [1, C, 1, 1] scale shared by the batch;
    values large enough for the threads to split the blocks (the mean) and the rows (the scale)."""
    vw, halo = pycnn._C.channel_block_width(), (1, 2)
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((batch, channels) + size).astype(np.float32)  # 15 K and 90 K floats: split
    xb = to_blocks(x, vw, halo)
    floats = pycnn._C.channel_blocks_floats(list(x.shape), halo)
    for images in sorted({1, batch}):
        s = rng.standard_normal((images, channels)).astype(np.float32)
        s[0, 0], s[-1, -1] = np.inf, np.nan
        mean_at, s_at, y_at = floats, floats + batch * channels, floats + batch * channels + images * channels
        plan = pycnn._C.InferencePlan(y_at + floats)
        plan.add_channel_blocks_mean(name="mean", y=mean_at, x=0, input_shape=list(x.shape), halo=halo)
        plan.add_channel_blocks_scale(name="apart", y=y_at, x=0, scale=s_at, scale_images=images,
                                      input_shape=list(x.shape), halo=halo)
        plan.add_channel_blocks_scale(name="in place", y=0, x=0, scale=s_at, scale_images=images,
                                      input_shape=list(x.shape), halo=halo)
        arena = np.full(plan.arena_floats, np.nan, np.float32)  # y's halo must be written
        arena[:xb.size] = xb.ravel()
        arena[s_at:s_at + s.size] = s.ravel()
        plan.run(arena, 0, 3, threads)
        np.testing.assert_allclose(arena[mean_at:mean_at + batch * channels].reshape(batch, channels),
                                   x.astype(np.float64).mean(axis=(2, 3)), rtol=1e-6, atol=1e-7)
        with np.errstate(invalid="ignore"):
            expected = to_blocks(x * np.broadcast_to(s, (batch, channels))[:, :, None, None], vw, halo)
        for at in (y_at, 0):
            np.testing.assert_array_equal(arena[at:at + expected.size].reshape(expected.shape), expected)
    plan = pycnn._C.InferencePlan(10**5)
    args = dict(name="s", y=0, x=0, scale=9000, scale_images=1, input_shape=[3, 5, 6, 7], halo=(1, 1))
    with pytest.raises(ValueError, match="scale for 1 or 3 images, got 2"):
        plan.add_channel_blocks_scale(**dict(args, scale_images=2))
    with pytest.raises(ValueError, match="add_channel_blocks_scale: expected a halo of at least"):
        plan.add_channel_blocks_scale(**dict(args, halo=(-1, 0)))
    with pytest.raises(ValueError, match="arena"):
        plan.add_channel_blocks_scale(**dict(args, scale=10**5 - 4))
    with pytest.raises(ValueError, match="positive sizes"):
        plan.add_channel_blocks_mean(name="m", y=0, x=10, input_shape=[1, 0, 6, 7], halo=(1, 1))
    with pytest.raises(ValueError, match="arena"):
        plan.add_channel_blocks_mean(name="m", y=0, x=10**5 - 10, input_shape=[1, 5, 6, 7], halo=(1, 1))
