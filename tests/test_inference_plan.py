"""pycnn.optimize_for_inference: the C++ plan against the eager model, each graph pass against the graph
without it, the arena planner, threads, and hostile calls into _C.InferencePlan."""
import threading

import numpy as np
import pytest

import pycnn
import pycnn.models as zoo
from pycnn import nn
from pycnn.graph import CONSTANT, DYNAMIC, GraphIR, Node, passes
from pycnn.inference.arena import plan_arena
from pycnn.inference.plan import python_reference

RNG = np.random.default_rng(0)


def randomize_batch_norm(model, rng):
    """Running statistics and affine parameters away from their defaults, so that folding them is tested."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.numpy()[...] = rng.standard_normal(c).astype(np.float32) * 0.1
            module.running_var.numpy()[...] = rng.uniform(0.5, 1.5, c).astype(np.float32)
            module.weight.numpy()[...] = rng.uniform(0.5, 1.5, c).astype(np.float32)
            module.bias.numpy()[...] = rng.standard_normal(c).astype(np.float32) * 0.1
    return model


def eager(model, x):
    model.eval()
    with pycnn.no_grad():
        return model(pycnn.tensor(x)).numpy()


def assert_close(actual, expected, rtol=1e-4):
    """Relative to the output's scale: a float32 network's error grows with its values."""
    scale = max(float(np.abs(expected).max()), 1e-6)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


# (name, classes, input shape, second batch size or None); the classifiers with a 7x7 adaptive pool
# run at 224x224, where the pool is exact (ONNX has no overlapping adaptive pool to trace into).
ZOO = [("lenet5", 10, (2, 1, 28, 28), 5), ("resnet20", 10, (2, 3, 32, 32), 3), ("resnet18", 7, (1, 3, 64, 64), 2),
       ("alexnet", 5, (1, 3, 224, 224), None), ("vgg11", 5, (1, 3, 224, 224), None),
       ("googlenet", 6, (1, 3, 96, 96), None), ("densenet121", 4, (1, 3, 64, 64), None)]


@pytest.mark.parametrize("name, classes, shape, batch", ZOO, ids=[z[0] for z in ZOO])
def test_optimize_for_inference_zoo_matches_eager(name, classes, shape, batch):
    if not hasattr(zoo, name):
        pytest.skip(f"pycnn.models has no {name}")
    model = randomize_batch_norm(getattr(zoo, name)(num_classes=classes), np.random.default_rng(1))
    model.eval()
    x = RNG.standard_normal(shape).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, x)
    out = plan(x)
    assert isinstance(out, pycnn.Tensor) and not out.requires_grad
    assert_close(out.numpy(), eager(model, x))
    assert plan.python_nodes(shape) == [], "every zoo layer should run in the C++ plan"
    if batch:  # another batch size compiles again and still agrees
        x2 = RNG.standard_normal((batch,) + shape[1:]).astype(np.float32)
        assert_close(plan(x2).numpy(), eager(model, x2))


def test_plan_takes_tensors_and_arrays_and_keeps_its_own_weights():
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 36, 4))
    model.eval()
    x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, pycnn.tensor(x))
    expected = eager(model, x)
    assert_close(plan(pycnn.tensor(x)).numpy(), expected)
    assert_close(plan(x.astype(np.float64)).numpy(), expected)
    model[0].weight.numpy()[...] = 0  # the plan copied the weights
    assert_close(plan(x).numpy(), expected)
    with pytest.raises(TypeError, match="float32"):
        plan(np.zeros((2, 3, 6, 6), np.int64))
    with pytest.raises(ValueError, match="expected 1 input"):
        plan(x, x)
    with pytest.raises(TypeError, match="pycnn Module"):
        pycnn.optimize_for_inference(lambda t: t, x)
    with pytest.raises(TypeError, match="example_input"):
        pycnn.optimize_for_inference(model, [[1.0]])


class ChannelsLast(nn.Module):  # a Transpose: the plan's strided copy
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class ChannelsFirst(nn.Module):
    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class Upsample(nn.Module):  # a Resize: the C++ plan has no step for it
    def forward(self, x):
        return nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_ops_without_a_plan_kernel_run_in_python_between_native_steps():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), ChannelsLast(), nn.Hardswish(), ChannelsFirst(), Upsample(),
                          nn.Conv2d(4, 2, 1), nn.PReLU(2))
    model.eval()
    x = RNG.standard_normal((2, 3, 7, 7)).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, x)
    assert_close(plan(x).numpy(), eager(model, x))
    python = plan.python_nodes(x.shape)
    assert len(python) == 1 and "Resize" in python[0], \
        f"Resize has no plan kernel; Transpose, HardSwish and PRelu have: {python}"


def test_two_threads_share_one_plan():
    model = randomize_batch_norm(zoo.resnet20(num_classes=10), np.random.default_rng(2))
    xs = [RNG.standard_normal((2, 3, 32, 32)).astype(np.float32) for _ in range(2)]
    expected = [eager(model, x) for x in xs]
    plan = pycnn.optimize_for_inference(model, xs[0])
    errors = []

    def work(i):
        for _ in range(10):
            if not np.allclose(plan(xs[i]).numpy(), expected[i], atol=1e-4 * np.abs(expected[i]).max()):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ----- the passes, each against the graph without it -----------------------------------------------
def _ir(nodes, constants, outputs=("y",)):
    ir = GraphIR(nodes, ["x"], list(outputs), constants)
    ir.kinds = {"x": DYNAMIC, **{name: CONSTANT for name in constants}}
    for node in nodes:
        for out in node.outputs:
            ir.kinds[out] = DYNAMIC
    return ir


def _run(ir, x):
    return pycnn.inference.InferencePlan(_copy(ir)).run([x])[0]


def _python(ir, x):
    return python_reference(ir, [x])[0]


def _copy(ir):
    nodes = [n.copy() for n in ir.nodes]
    return _ir(nodes, dict(ir.constants), ir.outputs)


def _conv_bn_relu_graph(rng, with_add=True):
    f32 = np.float32
    constants = {"w": rng.standard_normal((4, 3, 3, 3)).astype(f32), "b": rng.standard_normal(4).astype(f32),
                 "w2": rng.standard_normal((4, 4, 3, 3)).astype(f32),
                 "scale": rng.uniform(0.5, 2, 4).astype(f32), "shift": rng.standard_normal(4).astype(f32),
                 "mean": rng.standard_normal(4).astype(f32), "var": rng.uniform(0.5, 2, 4).astype(f32)}
    pads = {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}
    nodes = [Node("c1", "Conv", 17, dict(pads), ["x", "w", "b"], ["a"]),
             Node("r1", "Relu", 17, {}, ["a"], ["ra"]),
             Node("c2", "Conv", 17, dict(pads), ["ra", "w2"], ["c"]),
             Node("bn", "BatchNormalization", 17, {"epsilon": 1e-3}, ["c", "scale", "shift", "mean", "var"], ["d"]),
             Node("drop", "Dropout", 17, {}, ["d"], ["e"])]
    if with_add:
        nodes.append(Node("add", "Add", 17, {}, ["e", "ra"], ["f"]))
    nodes += [Node("r2", "Relu", 17, {}, ["f" if with_add else "e"], ["g"]),
              Node("id", "Identity", 17, {}, ["g"], ["y"])]
    return _ir(nodes, constants)


def test_remove_identity_drops_identity_and_dropout_and_keeps_the_output_name():
    ir = _conv_bn_relu_graph(np.random.default_rng(3))
    reference = _copy(ir)
    assert passes.remove_identity(ir) == 2
    assert [n.op for n in ir.nodes] == ["Conv", "Relu", "Conv", "BatchNormalization", "Add", "Relu"]
    assert ir.nodes[-1].outputs == ["y"]
    x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    assert_close(_python(ir, x), _python(reference, x), rtol=1e-6)


def test_fold_batch_norm_matches_the_unfolded_graph():
    ir = _conv_bn_relu_graph(np.random.default_rng(4))
    passes.remove_identity(ir)
    unfolded = _copy(ir)
    assert passes.fold_batch_norm(ir) == 1
    assert "BatchNormalization" not in [n.op for n in ir.nodes]
    x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    assert_close(_python(ir, x), _python(unfolded, x), rtol=1e-5)


def test_fold_batch_norm_leaves_a_conv_output_that_is_read_twice():
    ir = _conv_bn_relu_graph(np.random.default_rng(5))
    ir.nodes.append(Node("also", "Relu", 17, {}, ["c"], ["other"]))
    ir.outputs.append("other")
    ir.kinds["other"] = DYNAMIC
    assert passes.fold_batch_norm(ir) == 0


def test_fuse_conv_takes_the_residual_add_and_relu_and_matches():
    ir = _conv_bn_relu_graph(np.random.default_rng(6))
    x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    plan = pycnn.inference.InferencePlan(_copy(ir))
    compiled = plan.compiled(x.shape)
    ops = [n.op for n in compiled.ir.nodes]
    assert ops == ["FusedConv", "FusedConv"], ops
    second = compiled.ir.nodes[1]
    assert second.attr("activation") == "Relu" and len(second.inputs) == 4 and second.inputs[3]
    assert_close(plan.run([x])[0], _python(ir, x))


def test_fuse_conv_does_not_fuse_a_broadcast_add():
    f32 = np.float32
    constants = {"w": RNG.standard_normal((4, 3, 1, 1)).astype(f32)}
    nodes = [Node("c", "Conv", 17, {}, ["x", "w"], ["a"]), Node("pool", "GlobalAveragePool", 17, {}, ["a"], ["p"]),
             Node("c2", "Conv", 17, {}, ["x", "w"], ["b"]), Node("add", "Add", 17, {}, ["b", "p"], ["y"])]
    ir = _ir(nodes, constants)
    x = RNG.standard_normal((1, 3, 5, 5)).astype(np.float32)
    plan = pycnn.inference.InferencePlan(ir)
    assert "Add" in [n.op for n in plan.compiled(x.shape).ir.nodes]
    a = np.einsum("oc,nchw->nohw", constants["w"][:, :, 0, 0], x)
    assert_close(plan.run([x])[0], a + a.mean(axis=(2, 3), keepdims=True))


def _swish_graph(gate_op, gate_attrs, gate_input="a", second_reader=False, producer="Conv"):
    """conv (or x + x) -> a; gate = gate_op(gate_input); y = a * gate (the gate on the left), plus a
    Relu of the gate as a second output when ``second_reader``."""
    constants = {"w": RNG.standard_normal((3, 3, 3, 3)).astype(np.float32)}  # a has x's shape
    nodes = [Node("c", "Conv", 17, {"pads": [1, 1, 1, 1]}, ["x", "w"], ["a"]) if producer == "Conv" else
             Node("c", "Add", 17, {}, ["x", "x"], ["a"]),
             Node("gate", gate_op, 17, dict(gate_attrs), [gate_input], ["g"]),
             Node("mul", "Mul", 17, {}, ["g", "a"], ["y"])]
    outputs = ["y"]
    if second_reader:
        nodes.append(Node("also", "Relu", 17, {}, ["g"], ["z"]))
        outputs.append("z")
    return _ir(nodes, constants, outputs)


@pytest.mark.parametrize("producer", ["Conv", "Add"])
@pytest.mark.parametrize("gate_op, attrs, fused_op", [
    ("Sigmoid", {}, "Silu"),
    ("HardSigmoid", {"alpha": float(np.float32(1 / 6)), "beta": 0.5}, "HardSwish"),
])
def test_fuse_swish_makes_one_activation_and_matches(gate_op, attrs, fused_op, producer):
    """fuse_swish, then in the plan: after a convolution, fuse_conv takes the activation into it (the
    convolution's gate, over its stored output); after an Add, the plan's own silu / hardswish step."""
    ir = _swish_graph(gate_op, attrs, producer=producer)
    x = (RNG.standard_normal((2, 3, 7, 6)) * 3).astype(np.float32)
    expected = _python(ir, x)
    fused = _copy(ir)
    assert passes.fuse_swish(fused) == 1
    assert [n.op for n in fused.nodes] == [producer, fused_op] and fused.nodes[1].inputs == ["a"]
    assert_close(_python(fused, x), expected, rtol=1e-6)  # the fused node run by the Python executor
    plan = pycnn.inference.InferencePlan(_copy(ir))
    nodes = plan.compiled(x.shape).ir.nodes
    if producer == "Conv":
        assert [n.op for n in nodes] == ["FusedConv"] and nodes[0].attr("activation") == fused_op
        fused_conv = pycnn.inference.plan.OPS["FusedConv"]  # and its Python twin
        y = fused_conv.on_tensors(nodes[0], [pycnn.tensor(x), pycnn.tensor(ir.constants["w"])], False)[0]
        assert_close(y.numpy(), expected, rtol=1e-6)
    else:
        assert [n.op for n in nodes] == ["Add", fused_op]
    assert plan.python_nodes(x.shape) == []
    assert_close(plan.run([x])[0], expected, rtol=1e-6)


@pytest.mark.parametrize("gate", ["silu", "hardswish"])
@pytest.mark.parametrize("c_in, c_out, k, stride, groups, hw", [
    (3, 8, 3, 2, 1, 20),     # the packed path
    (16, 16, 3, 1, 1, 9),    # row tiles, gated row by row as they are stored (NCHW here)
    (64, 64, 3, 1, 1, 30),   # Winograd
    (6, 8, 5, 1, 1, 24),     # the wide path
    (32, 32, 3, 1, 32, 40),  # depthwise, per plane
    (32, 32, 3, 1, 32, 9),   # depthwise, channel vectors (gated as they are stored)
], ids=["packed", "row-tiles", "winograd", "wide", "depthwise-plane", "depthwise-vectors"])
def test_conv_gate_on_every_path_matches_eager(gate, c_in, c_out, k, stride, groups, hw):
    """A convolution then SiLU or Hardswish, the graph's output (NCHW): one FusedConv whose gate runs on
    whichever path the shape takes, against the eager model, batches of 1 and 3 (chunks of images)."""
    conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups)
    conv.weight.numpy()[...] *= 3  # outputs of a few units, so the gates' curves matter
    model = nn.Sequential(conv, nn.SiLU() if gate == "silu" else nn.Hardswish()).eval()
    for n in (1, 3):
        x = RNG.standard_normal((n, c_in, hw, hw)).astype(np.float32)
        plan = pycnn.optimize_for_inference(model, x)
        nodes = plan.compiled(x.shape).ir.nodes
        assert [node.op for node in nodes] == ["FusedConv"]
        assert nodes[0].attr("activation") == {"silu": "Silu", "hardswish": "HardSwish"}[gate]
        assert_close(plan(x).numpy(), eager(model, x), rtol=1e-5)


@pytest.mark.parametrize("case", ["gate of another value", "gate read twice", "not hardswish's constants"])
def test_fuse_swish_leaves_other_gates(case):
    if case == "gate of another value":  # a squeeze-and-excitation scale multiplies x by a gate of x's pool
        ir = _swish_graph("Sigmoid", {}, gate_input="x")
    elif case == "gate read twice":
        ir = _swish_graph("Sigmoid", {}, second_reader=True)
    else:
        ir = _swish_graph("HardSigmoid", {"alpha": 0.2, "beta": 0.5})
    x = RNG.standard_normal((1, 3, 5, 4)).astype(np.float32)
    expected = _python(ir, x)
    before = [n.op for n in ir.nodes]
    assert passes.fuse_swish(ir) == 0
    assert [n.op for n in ir.nodes] == before
    assert_close(_run(ir, x), expected, rtol=1e-6)


def _stem(rng, c_out, kernel, stride, padding, dilation, groups, pool, activation="relu", bias=True):
    """A network's stem as a zoo model would build it: conv (3 input channels), activation, max pool."""
    conv = nn.Conv2d(3, c_out, kernel, stride, padding, dilation, groups=groups, bias=bias)
    conv.weight.numpy()[...] = rng.standard_normal(conv.weight.shape).astype(np.float32) * 0.3
    layers = [conv] + ({"relu": [nn.ReLU()], "relu6": [nn.ReLU6()], None: []}[activation]) + [pool]
    return nn.Sequential(*layers).eval()


def _fused_pool_steps(plan, shape):
    compiled = plan.compiled(shape)
    return [n for n in compiled.ir.nodes if n.op == "FusedConv" and n.attr("max_pool") is not None], compiled


@pytest.mark.parametrize("seed", range(14))
def test_conv_max_pool_fusion_matches_eager_on_random_stems(seed):
    """fuse_conv_max_pool and the plan's conv + max pool step (PreparedConv2d::forward_max_pool: the
    convolution's rows each band of pool rows reads computed into a thread's buffer, the rows shared
    with the band before carried over) against the eager layers, on random stems: kernel, stride,
    padding and dilation of both, ceil_mode, groups, channels that leave ragged weight panels, batches
    of 1-3, 1-3 threads. Only packed-path convolutions fuse; the others keep a pool step."""
    rng = np.random.default_rng(300 + seed)
    k = [int(v) for v in rng.integers(1, 8, 2)]
    dilation = [int(v) for v in rng.integers(1, 3, 2)]
    stride = [int(v) for v in rng.integers(1, 5, 2)]
    padding = [int(rng.integers(0, kk // 2 + 1)) for kk in k]
    pk = [int(v) for v in rng.integers(1, 5, 2)]
    pool = nn.MaxPool2d(pk, [int(v) for v in rng.integers(1, 4, 2)], [int(rng.integers(0, v // 2 + 1)) for v in pk],
                        [int(v) for v in rng.integers(1, 3, 2)], ceil_mode=bool(seed % 2))
    groups = 3 if seed % 5 == 4 else 1
    c_out = int(rng.choice([5, 12, 16, 24, 64])) * groups
    model = _stem(rng, c_out, k, stride, padding, dilation, groups, pool,
                  activation=[None, "relu", "relu6"][seed % 3], bias=seed % 4 != 0)
    size = [int(v) for v in rng.integers(24, 90, 2)]
    x = rng.standard_normal((int(rng.integers(1, 4)), 3) + tuple(size)).astype(np.float32)
    expected = eager(model, x)
    plan = pycnn.optimize_for_inference(model, x, threads=int(rng.integers(1, 4)))
    assert plan.python_nodes(x.shape) == []
    assert_close(plan(x).numpy(), expected)
    fused, compiled = _fused_pool_steps(plan, x.shape)
    w = model[0].weight.shape
    packs = pycnn._C.conv2d_packs_panels(list(x.shape), list(w), tuple(stride), tuple(padding), tuple(dilation),
                                         groups)
    assert len(fused) == int(packs), (packs, [n.op for n in compiled.ir.nodes])
    assert len(compiled.native.step_names) == (1 if packs else 2)
    # The fused node run by Python (FusedConv's op: conv, activation, then the pool) agrees too.
    assert_close(python_reference(compiled.ir, [x])[0], expected)


@pytest.mark.parametrize("batch, threads", [(1, 1), (1, 2), (1, 3), (2, 2), (3, 4), (4, 2), (6, 3)])
def test_resnet_stem_fuses_its_pool_and_matches_at_full_size(batch, threads):
    """ResNet's stem at 224x224 (7x7 stride-2 convolution, 64 channels, ReLU, 3x3 stride-2 pool with
    padding 1): one step, many bands (each thread carries the shared row from band to band), the same
    numbers as the layers apart. Batches of 4 on 2 threads and 6 on 3 go to the threads an image at a
    time (each copies its own)."""
    rng = np.random.default_rng(batch * 10 + threads)
    model = _stem(rng, 64, 7, 2, 3, 1, 1, nn.MaxPool2d(3, 2, 1))
    x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, x, threads=threads)
    fused, compiled = _fused_pool_steps(plan, x.shape)
    assert len(fused) == 1 and compiled.native.step_names == [fused[0].name]
    assert_close(plan(x).numpy(), eager(model, x))


def test_conv_max_pool_fusion_leaves_what_it_cannot_fold():
    """No fold where the convolution's output is read again, where the convolution adds a residual, or
    where it takes another path than the packed one (a 16-channel 3x3 layer: row tiles); the pool
    stays a step of its own and the numbers still match."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 3, 40, 40)).astype(np.float32)

    class TwoReaders(nn.Module):  # the conv's output goes on past the pool too
        def __init__(self):
            super().__init__()
            self.conv, self.pool = nn.Conv2d(3, 8, 3, 2, 1), nn.MaxPool2d(2, 2)

        def forward(self, x):
            y = self.conv(x)
            return self.pool(y).sum() + y.sum()

    for model, shape in ((TwoReaders().eval(), x.shape),
                         (_stem(rng, 16, 3, 1, 1, 1, 1, nn.MaxPool2d(2, 2)), (1, 16, 40, 40))):
        data = rng.standard_normal(shape).astype(np.float32)
        if isinstance(model, nn.Sequential):  # the 16 -> 16 row-tile layer
            model[0] = nn.Conv2d(16, 16, 3, 1, 1).eval()
        plan = pycnn.optimize_for_inference(model, data)
        fused, compiled = _fused_pool_steps(plan, data.shape)
        assert fused == [] and "MaxPool" in [n.op for n in compiled.ir.nodes]
        assert_close(plan(data).numpy(), eager(model, data))
    # a residual add fused into the convolution keeps the pool apart (graph level)
    f32 = np.float32
    constants = {"w": rng.standard_normal((3, 3, 3, 3)).astype(f32)}
    nodes = [Node("c", "Conv", 17, {"pads": [1, 1, 1, 1], "strides": [2, 2]}, ["x", "w"], ["a"]),
             Node("p0", "MaxPool", 17, {"kernel_shape": [2, 2], "strides": [2, 2]}, ["x"], ["xs"]),
             Node("add", "Add", 17, {}, ["a", "xs"], ["s"]),
             Node("pool", "MaxPool", 17, {"kernel_shape": [2, 2], "strides": [2, 2]}, ["s"], ["y"])]
    ir = _ir(nodes, constants)
    plan = pycnn.inference.InferencePlan(_copy(ir))
    ops = [(n.op, n.attr("max_pool") is not None) for n in plan.compiled(x.shape).ir.nodes]
    assert ("FusedConv", False) in ops and ops[-1] == ("MaxPool", False), ops
    assert_close(plan.run([x])[0], _python(ir, x))


def test_add_conv2d_max_pool_refuses_what_it_cannot_run():
    plan = pycnn._C.InferencePlan(10**6)
    w = np.zeros((8, 3, 3, 3), np.float32)
    args = dict(name="s", y=0, x=200_000, weight=w, bias=None, input_shape=[1, 3, 64, 64], stride=(2, 2),
                padding=(1, 1), dilation=(1, 1), groups=1, clamp_min=0.0, clamp_max=1.0, kernel=(3, 3),
                pool_stride=(2, 2), pool_padding=(1, 1), pool_dilation=(1, 1), ceil_mode=False)
    plan.add_conv2d_max_pool(**args)
    with pytest.raises(ValueError, match="packed path"):  # 16 -> 16 3x3 at stride 1 takes row tiles
        plan.add_conv2d_max_pool(**dict(args, weight=np.zeros((16, 16, 3, 3), np.float32),
                                        input_shape=[1, 16, 32, 32], stride=(1, 1)))
    with pytest.raises(ValueError, match="padding should be at most half"):
        plan.add_conv2d_max_pool(**dict(args, pool_padding=(2, 2)))
    with pytest.raises(ValueError, match="arena"):
        plan.add_conv2d_max_pool(**dict(args, y=10**6 - 10))
    with pytest.raises(ValueError, match="input channels"):
        plan.add_conv2d_max_pool(**dict(args, weight=np.zeros((8, 2, 3, 3), np.float32)))
    assert plan.step_names == ["s"]


# ----- the arena -------------------------------------------------------------------------------------
def test_plan_arenas_start_on_a_cache_line():
    """The planner aligns every value to 16 floats; the arena itself must start on a 64-byte line for
    that to line values up with cache lines and vectors (numpy's buffers start 16 bytes into one)."""
    model = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 8, 3, 1, 1)).eval()
    x = RNG.standard_normal((1, 16, 9, 9)).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, x)
    compiled = plan.compiled(x.shape)
    slots = [compiled._take_arena() for _ in range(5)]  # a pool of several, as threads take them
    for arena, _, _ in slots:
        assert arena.ctypes.data % 64 == 0 and arena.size == compiled.native.arena_floats
    compiled._arenas.extend(slots)
    assert_close(plan(x).numpy(), eager(model, x))


def test_plan_arena_reuses_memory_and_never_overlaps_live_values():
    # a chain x -> a -> b -> c -> y with one skip (a is read again by the last step)
    steps = [(["x"], ["a"], False, False), (["a"], ["b"], False, False), (["b"], ["c"], True, False),
             (["c"], ["v"], False, True), (["v", "a"], ["y"], False, False)]
    sizes = {"x": 100, "a": 100, "b": 100, "c": 100, "v": 100, "y": 100}
    offsets, total = plan_arena(steps, ["x"], ["y"], sizes)
    assert offsets["c"] == offsets["b"], "an in-place step whose input dies should reuse its buffer"
    assert offsets["v"] == offsets["c"], "a view shares its input's memory"
    live = {"x": (0, 0), "a": (0, 4), "b": (1, 2), "c": (2, 4), "y": (4, 5)}
    for p, (ps, pe) in live.items():
        for q, (qs, qe) in live.items():
            if p < q and ps <= qe and qs <= pe and not (p, q) == ("b", "c"):
                lo, hi = sorted([(offsets[p], p), (offsets[q], q)])
                assert lo[0] + sizes[lo[1]] <= hi[0], f"{p} and {q} overlap while both live"
    assert total < sum(sizes.values()), "freed buffers should be reused"


def test_plan_arena_keeps_a_skip_connection_alive_through_in_place_steps():
    steps = [(["x"], ["a"], True, False), (["a"], ["b"], True, False), (["b", "x"], ["y"], False, False)]
    offsets, _ = plan_arena(steps, ["x"], ["y"], dict.fromkeys(["x", "a", "b", "y"], 64))
    assert offsets["a"] != offsets["x"], "x is read later: relu may not overwrite it"
    assert offsets["b"] == offsets["a"]


# ----- hostile calls into the C++ plan ---------------------------------------------------------------
def test_inference_plan_refuses_offsets_outside_its_arena():
    plan = pycnn._C.InferencePlan(100)
    with pytest.raises(ValueError, match="arena"):
        plan.add_unary("r", "relu", 90, 0, 20)
    with pytest.raises(ValueError, match="arena"):
        plan.add_copy("c", -1, 0, 4)
    with pytest.raises(ValueError, match="unknown activation"):
        plan.add_unary("r", "swish9", 0, 0, 4)
    with pytest.raises(ValueError):
        plan.add_conv2d("c", 0, 0, np.zeros((2, 3, 3, 3), np.float32), None, [1, 3, 2, 2], (1, 1), (0, 0), (1, 1), 1,
                        -1, 0.0, 1.0)
    with pytest.raises(ValueError, match="arena"):
        plan.add_conv2d("c", 0, 60, np.zeros((2, 3, 3, 3), np.float32), None, [1, 3, 5, 5], (1, 1), (1, 1), (1, 1), 1,
                        -1, 0.0, 1.0)
    with pytest.raises(ValueError, match="unknown gate 'swish'"):
        plan.add_conv2d("c", 0, 0, np.zeros((2, 3, 1, 1), np.float32), None, [1, 3, 2, 2], (1, 1), (0, 0), (1, 1), 1,
                        -1, 0.0, 1.0, gate="swish")
    plan.add_unary("r", "relu", 50, 0, 50)
    with pytest.raises(ValueError, match="arena of at least 100"):
        plan.run(np.zeros(10, np.float32), 0, 1)
    with pytest.raises(ValueError, match="begin"):
        plan.run(np.zeros(100, np.float32), 0, 5)
    with pytest.raises(ValueError, match="seconds"):
        plan.run(np.zeros(100, np.float32), 0, 1, 0, np.zeros(3))
    with pytest.raises(ValueError, match="begin <= end"):  # end - begin would overflow (UBSan, the fuzzer)
        plan.run(np.zeros(100, np.float32), 2**63 - 1, -2**63, 1, np.zeros(32))
    arena = np.arange(100, dtype=np.float32) - 50
    seconds = np.full(1, -1.0)
    plan.run(arena, 0, 1, 0, seconds)
    np.testing.assert_array_equal(arena[50:], np.maximum(np.arange(50) - 50, 0))
    assert plan.step_names == ["r"] and seconds[0] >= 0.0


def test_plan_profile_names_every_step_in_order():
    """profile(): one (node, op, seconds) per step, C++ and Python steps alike, in running order."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), Upsample(), ChannelsLast(), nn.Flatten(),
                          nn.Linear(4 * 144, 5))
    model.eval()
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, x)
    profile = plan.profile(x, runs=3)
    compiled = plan.compiled(x.shape)
    python = [node.name for node in compiled.python_nodes]
    assert [op for _, op, _ in profile] == [op for op in (n.op for n in compiled.ir.nodes)
                                             if op not in ("Flatten", "Reshape")]
    assert all(seconds >= 0.0 for _, _, seconds in profile)
    assert python and set(python) <= {name for name, _, _ in profile}
    np.testing.assert_allclose(plan(x).numpy(), eager(model, x), rtol=1e-5, atol=1e-6)


def test_plan_threads_apply_to_its_run_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    model.eval()
    x = RNG.standard_normal((1, 3, 9, 9)).astype(np.float32)
    before = pycnn.get_num_threads()
    plan = pycnn.optimize_for_inference(model, x, threads=1)
    assert_close(plan(x).numpy(), eager(model, x))
    assert pycnn.get_num_threads() == before, "a plan's threads= must not change the caller's setting"


@pytest.mark.parametrize("kernel, stride, dilation, shape", [
    (2, 2, 1, (3, 7, 28, 28)),     # LeNet's: non-overlapping windows, one run across rows and planes
    (2, 2, 1, (5, 16, 11, 10)),    # an odd height: the last input row is never read
    (1, 2, 1, (2, 3, 9, 7)),       # the row pitch (OW * stride = 8) past the width
    (3, 3, 1, (2, 4, 10, 11)),     # a dropped last column
    (2, 3, 2, (2, 3, 12, 13)),     # dilated taps inside the stride
    (2, 2, 1, (1, 1, 2, 600)),     # one long row
])
def test_plan_max_pool_fixed_windows_with_nan(kernel, stride, dilation, shape):
    """The plan's max pool where windows do not overlap along rows (its second pass runs across rows
    and planes at once) against the training kernel, with NaN and -inf in the input."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[rng.integers(0, x.size, 5)] = np.nan
    x.flat[rng.integers(0, x.size, 5)] = -np.inf
    model = nn.Sequential(nn.MaxPool2d(kernel, stride, 0, dilation))
    model.eval()
    plan = pycnn.optimize_for_inference(model, x)
    assert plan.python_nodes(x.shape) == []
    np.testing.assert_array_equal(plan(x).numpy(), eager(model, x))


@pytest.mark.parametrize("seed", range(12))
def test_plan_max_pool_matches_eager_on_random_windows(seed):
    """The plan's max pool (values only, vector selects across each row's interior windows) against the
    training kernel, on random kernel, stride, padding, dilation and ceil_mode, with NaN and -inf."""
    rng = np.random.default_rng(100 + seed)
    kernel = [int(k) for k in rng.integers(1, 5, 2)]
    dilation = [int(d) for d in rng.integers(1, 3, 2)]
    padding = [int(rng.integers(0, k // 2 + 1)) for k in kernel]
    stride = [int(v) for v in rng.integers(1, 4, 2)]
    size = [int(v) for v in rng.integers(7, 20, 2)]
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=bool(seed % 2))
    model = nn.Sequential(pool)
    model.eval()
    x = rng.standard_normal((2, 2) + tuple(size)).astype(np.float32)
    x[0, 0, 3, 4] = np.nan
    x[1, 1, :2, :] = -np.inf
    plan = pycnn.optimize_for_inference(model, x)
    assert plan.python_nodes(x.shape) == []
    np.testing.assert_array_equal(plan(x).numpy(), eager(model, x))


@pytest.mark.parametrize("batch, features_in, features_out, bias", [
    (1, 400, 120, True), (2, 37, 64, True), (3, 5, 1, False), (4, 130, 129, True), (1, 1, 200, True),
    (5, 64, 70, True), (9, 33, 17, False), (1, 700, 401, True), (4, 520, 515, False), (5, 700, 401, True),
])
def test_plan_linear_matches_torch(batch, features_in, features_out, bias):
    """The plan's linear (weight packed transposed once; a few rows along the outputs in vectors, more
    rows through the gemm) against torch float64: widths below, at and past one 64-output block; and
    weights past 2^18 floats at a batch of 1-4, which the plan keeps as they are (the gemm's dot
    products), next to the same weight at batch 5 (transposed)."""
    import torch

    rng = np.random.default_rng(features_out)
    layer = nn.Linear(features_in, features_out, bias=bias)
    model = nn.Sequential(layer)
    model.eval()
    x = rng.standard_normal((batch, features_in)).astype(np.float32)
    plan = pycnn.optimize_for_inference(model, x)
    assert plan.python_nodes(x.shape) == []
    w = torch.tensor(layer.weight.numpy(), dtype=torch.float64)
    b = torch.tensor(layer.bias.numpy(), dtype=torch.float64) if bias else None
    expected = torch.nn.functional.linear(torch.tensor(x, dtype=torch.float64), w, b).numpy()
    np.testing.assert_allclose(plan(x).numpy(), expected, rtol=1e-5, atol=1e-5 * np.sqrt(features_in))


def test_plan_activations_are_cpp_steps_matching_eager():
    """HardSwish, Hardsigmoid, GELU (both forms) and Softplus traced at the newest opset, one plan step each,
    equal to the eager modules (NaN kept, the kinks at +-3 included)."""
    model = nn.Sequential(nn.Hardswish(), nn.Hardsigmoid(), nn.GELU(), nn.GELU(approximate="tanh"), nn.Softplus())
    model.eval()
    x = (RNG.standard_normal((2, 3, 8, 8)) * 4).astype(np.float32)
    x[0, 0, 0, :4] = [np.nan, 3.0, -3.0, 2.9999998]
    plan = pycnn.optimize_for_inference(model, x)
    assert plan.python_nodes(x.shape) == []
    np.testing.assert_allclose(plan(x).numpy(), eager(model, x), rtol=1e-6, atol=1e-7, equal_nan=True)
    for act in (nn.Hardswish(), nn.Hardsigmoid()):
        single = nn.Sequential(act)
        single.eval()
        np.testing.assert_allclose(pycnn.optimize_for_inference(single, x)(x).numpy(), eager(single, x), rtol=1e-6,
                                   atol=1e-7, equal_nan=True)


def test_plan_sizes_whose_product_overflows_are_refused():
    # outer * channels * inner wrapped around int64 to a small count that passed the arena's range
    # check (found by tools/fuzz_bindings.py under UBSan); now every count is a checked product.
    plan = pycnn._C.InferencePlan(64)
    slope = np.ones(2, np.float32)
    with pytest.raises(ValueError,
                       match=r"InferencePlan: shape \(4611686018427387904, 2, 3\) has more elements than fit"):
        plan.add_prelu("p", 0, 0, slope, 2**62, 3)
    with pytest.raises(ValueError, match="more elements than fit in memory"):
        plan.add_channel_affine("a", 0, 0, slope, slope, 3, 2**62, -1.0, 1.0)
    with pytest.raises(ValueError, match=r"sizes must be non-negative, got shape \(1, 2, -9223372036854775808, 2\)"):
        plan.add_binary("b", "add", 0, 0, [1, 2, -2**63, 2], None, 0, [], slope[:1])
    plan.add_prelu("p", 0, 32, slope, 4, 4)  # 32 floats at 0 and at 32: inside the 64-float arena
    with pytest.raises(ValueError, match=r"prelu input \[40, 40 \+ 32\) does not lie inside the arena of 64"):
        plan.add_prelu("p", 0, 40, slope, 4, 4)


def _one_node(op, attrs, x_shape, extra=None, opset=17):
    """x -> op(x, *constant inputs) -> y, as a graph; extra: {input name: array}."""
    constants = dict(extra or {})
    node = Node("n", op, opset, dict(attrs), ["x"] + list(constants), ["y"])
    return _ir([node], constants)


@pytest.mark.parametrize("seed", range(8))
def test_plan_transpose_is_a_strided_copy_matching_python(seed):
    """Random permutations of rank 1-5 shapes (ShuffleNet's [N, 2, C/2, H, W] swap of axes 1 and 2
    among them), the default (reversed) included: one C++ step, the numbers bit for bit numpy's."""
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 6))
    shape = [int(d) for d in rng.integers(1, 7, rank)]
    if seed == 0:
        shape, perm = [2, 2, 24, 9, 7], [0, 2, 1, 3, 4]
    else:
        perm = [int(p) for p in rng.permutation(rank)]
    attrs = {} if seed == 1 else {"perm": perm}
    x = rng.standard_normal(shape).astype(np.float32)
    ir = _one_node("Transpose", attrs, shape)
    plan = pycnn.inference.InferencePlan(_copy(ir))
    assert plan.python_nodes(x.shape) == []
    expected = np.transpose(x, None if seed == 1 else perm)
    np.testing.assert_array_equal(plan.run([x])[0], expected)


@pytest.mark.parametrize("starts, ends, axes, steps", [
    ([0], [24], [1], None),                          # ShuffleNet's channel split: the first half
    ([24], [2**63 - 1], [1], None),                  # and the second, to the end
    ([-3, 1], [-1, 100], [3, 2], [1, 2]),            # negative starts, ends past the size, a step of 2
    ([5, -1], [0, -100], [1, 3], [-2, -1]),          # backwards, past the front
    ([0, 0, 0, 0], [1, 48, 9, 7], None, None),       # every axis, axes left out
    ([3], [3], [1], None),                           # empty
])
def test_plan_slice_is_a_strided_copy_matching_python(starts, ends, axes, steps):
    shape = [2, 48, 9, 7]
    extra = {"starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64)}
    if axes is not None:
        extra["axes"] = np.array(axes, np.int64)
    if steps is not None:
        extra["steps"] = np.array(steps, np.int64)
    ir = _one_node("Slice", {}, shape, extra)
    x = RNG.standard_normal(shape).astype(np.float32)
    expected = _python(ir, x)
    plan = pycnn.inference.InferencePlan(_copy(ir))
    assert plan.python_nodes(x.shape) == []
    out = plan.run([x])[0]
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("axes, keepdims, opset, native", [
    ([2, 3], 0, 13, True),      # MnasNet's and ShuffleNet's global mean
    ([-1, -2], 1, 13, True),
    ([1, 2, 3], 1, 18, True),   # axes as input 1
    (None, 0, 13, True),        # every axis
    ([3], 1, 18, True),
    ([1], 1, 13, False),        # not trailing: Python
    ([0, 2], 0, 18, False),
])
def test_plan_reduce_mean_over_trailing_axes_is_a_pool(axes, keepdims, opset, native):
    shape = [3, 5, 6, 7]
    attrs, extra = {"keepdims": keepdims}, None
    if axes is not None:
        if opset >= 18:
            extra = {"axes": np.array(axes, np.int64)}
        else:
            attrs["axes"] = axes
    ir = _one_node("ReduceMean", attrs, shape, extra, opset=opset)
    x = np.random.default_rng(opset + keepdims).standard_normal(shape).astype(np.float32)
    expected = _python(ir, x)
    plan = pycnn.inference.InferencePlan(_copy(ir))
    assert (plan.python_nodes(x.shape) == []) == native
    out = plan.run([x])[0]
    assert out.shape == expected.shape
    # means of a few hundred values that cancel: the error is the inputs' rounding, not the mean's
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6 * float(np.abs(x).max()))


def test_add_strided_copy_refuses_views_outside_the_input():
    plan = pycnn._C.InferencePlan(100)
    plan.add_strided_copy("t", 50, 0, 24, [4, 6], [1, 4], 0)  # a transpose of [6, 4]
    with pytest.raises(ValueError, match="reads floats"):
        plan.add_strided_copy("t", 50, 0, 24, [4, 6], [1, 4], 1)  # one past the end
    with pytest.raises(ValueError, match="reads floats"):
        plan.add_strided_copy("t", 50, 0, 24, [4, 6], [-1, 4], 0)  # before the start
    with pytest.raises(ValueError, match="one stride per dimension"):
        plan.add_strided_copy("t", 50, 0, 24, [4, 6], [1], 0)
    with pytest.raises(ValueError, match="2\\^62"):
        plan.add_strided_copy("t", 50, 0, 24, [3, 2], [2**62, 1], 0)
    with pytest.raises(ValueError, match="arena"):
        plan.add_strided_copy("t", 90, 0, 24, [4, 6], [1, 4], 0)  # the output past the arena
    arena = np.zeros(100, np.float32)
    arena[:24] = np.arange(24)
    plan.run(arena, 0, 1)
    np.testing.assert_array_equal(arena[50:74].reshape(4, 6), np.arange(24).reshape(6, 4).T)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_plan_strided_copy_splits_rows_over_threads(threads):
    """A transpose and a strided slice of ~100K floats: rows split over the threads, each starting its
    walk at its own first row; bit for bit numpy's."""
    x = RNG.standard_normal((3, 64, 30, 17)).astype(np.float32)
    ir = _one_node("Transpose", {"perm": [0, 2, 3, 1]}, list(x.shape))
    plan = pycnn.inference.InferencePlan(_copy(ir), threads=threads)
    np.testing.assert_array_equal(plan.run([x])[0], np.transpose(x, (0, 2, 3, 1)))
    extra = {"starts": np.array([1, 20], np.int64), "ends": np.array([64, 0], np.int64),
             "axes": np.array([1, 2], np.int64), "steps": np.array([2, -1], np.int64)}
    ir = _one_node("Slice", {}, list(x.shape), extra)
    plan = pycnn.inference.InferencePlan(_copy(ir), threads=threads)
    np.testing.assert_array_equal(plan.run([x])[0], x[:, 1:64:2, 20:0:-1])


@pytest.mark.parametrize("attrs, split, opset, outputs", [
    ({"axis": 1}, [16, 32], 13, 2),       # a CSP block's uneven halves, sizes as input 1
    ({"axis": 1}, None, 13, 3),           # equal thirds
    ({"axis": -1, "split": [2, 5]}, None, 11, 2),
    ({"axis": 2, "num_outputs": 3}, None, 18, 3),  # 9 rows as 3 + 3 + 3
])
def test_plan_split_is_one_strided_copy_a_part(attrs, split, opset, outputs):
    shape = [2, 48, 9, 7]
    constants = {"split": np.array(split, np.int64)} if split is not None else {}
    names = [f"y{k}" for k in range(outputs)]
    node = Node("n", "Split", opset, dict(attrs), ["x"] + list(constants), names)
    ir = _ir([node], constants, names)
    x = RNG.standard_normal(shape).astype(np.float32)
    expected = python_reference(ir, [x])
    plan = pycnn.inference.InferencePlan(_copy(ir))
    assert plan.python_nodes(x.shape) == []
    got = plan.run([x])
    assert len(got) == outputs
    for ours, theirs in zip(got, expected):
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
