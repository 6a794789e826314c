"""pycnn.models and pycnn.summary against tools/reference_models.py (the PyTorch twins).

Layout: every model's state_dict keys and shapes equal the twin's, in order, and its parameter count
is the published one. Numbers: summary's MACs and shapes (ResNet-18/34/50 at 224, the paper's
AlexNet at 227, LeNet-5 row by row). Parity: each family runs forward in eval mode and in training
mode (batch norm on batch statistics, dropout p=0) on the twin's weights, the twin in float64, at a
small input, within 1e-4 relative; LeNet-5, ResNet-20 and ResNet-18 also match the twin's gradients
(tools/parity.py's gradient_error, the 99th percentile) and one SGD step within 1e-4, the twin taking
pycnn's branch at every ReLU and max-pool (see follow_branches). Training: ResNet-20 halves its loss
on a learnable synthetic set.
Each big model is built once; the twins that only give keys and shapes live on the meta device.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pycnn
from pycnn import models
from pycnn.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import reference_models as rm  # noqa: E402
from parity import gradient_error  # noqa: E402

# The models test_forward_parity builds are counted there.
PARAMS = {
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "resnet56": 853_018,
}


def count(model):
    return sum(p.numel() for p in model.parameters())


def check_layout(model, name, **kwargs):
    """state_dict keys and shapes equal the torch twin's, in the same order."""
    with torch.device("meta"):
        twin = rm.MODELS[name](**kwargs)
    ours = [(key, tuple(value.shape)) for key, value in model.state_dict(keep_vars=True).items()]
    theirs = [(key, tuple(value.shape)) for key, value in twin.state_dict().items()]
    assert ours == theirs


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_count_and_layout(name):
    model = models.MODELS[name]()
    assert count(model) == PARAMS[name]
    check_layout(model, name)


@pytest.mark.parametrize("kwargs, params", [
    (dict(aux_logits=True), 13_378_280),
    (dict(torchvision=True), 6_624_904),
])
def test_googlenet_variants(kwargs, params):
    model = models.googlenet(**kwargs)
    assert count(model) == params
    check_layout(model, "googlenet", **kwargs)


def test_googlenet_inception_weights():
    """The paper's table 1, biases excluded: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj."""
    model = models.googlenet()
    weights = {}
    for key, value in model.named_parameters():
        block = key.split(".")[0]
        if block.startswith("inception") and key.endswith(".weight"):
            weights[block] = weights.get(block, 0) + value.numel()
    assert weights["inception3a"] == 163_328
    assert weights["inception3b"] == 388_096
    assert weights["inception4a"] == 375_552
    assert weights["inception4e"] == 867_328
    assert weights["inception5b"] == 1_442_816


def test_registry():
    assert models.list_models() == list(rm.MODELS)
    assert models.get_model("resnet20", num_classes=4).fc.out_features == 4
    with pytest.raises(ValueError, match="get_model: unknown model 'resnet19'.*resnet20"):
        models.get_model("resnet19")


def test_default_classes():
    assert models.lenet5().classifier[4].out_features == 10
    assert models.resnet56().fc.out_features == 10
    assert models.densenet121(num_classes=7).classifier.out_features == 7


# ----- summary ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, params, macs", [
    ("resnet18", 11_689_512, 1.8e9),
    ("resnet34", 21_797_672, 3.6e9),
    ("resnet50", 25_557_032, 4.09e9),
])
def test_resnet_summary(name, params, macs):
    model = models.MODELS[name]()
    check_layout(model, name)
    result = pycnn.summary(model, (3, 224, 224))
    assert result.total_params == result.trainable_params == params
    assert abs(result.total_macs - macs) / macs < 0.02
    with torch.device("meta"):
        assert result.total_macs == rm.macs(rm.MODELS[name](), (1, 3, 224, 224))
    assert result.rows[0].name == "conv1" and result.rows[0].output_shape == (1, 64, 112, 112)
    assert result.rows[-1].name == "fc" and result.rows[-1].output_shape == (1, 1000)


def test_alexnet_paper_layers():
    model = models.alexnet(original=True)
    weights = {key: value.numel() for key, value in model.named_parameters() if key.endswith("weight")}
    assert weights["features.0.weight"] == 34_848          # conv1 11x11x3x96
    assert weights["features.4.weight"] == 307_200         # conv2 5x5x48x256 (two towers)
    assert weights["features.10.weight"] == 663_552        # conv4 3x3x192x384
    assert weights["features.12.weight"] == 442_368        # conv5 3x3x192x256
    assert weights["classifier.1.weight"] == 37_748_736    # fc6
    assert weights["classifier.4.weight"] == 16_777_216    # fc7
    assert weights["classifier.6.weight"] == 4_096_000     # fc8
    rows = {row.name: row for row in pycnn.summary(model, (3, 227, 227)).rows}
    assert rows["features.0"].output_shape == (1, 96, 55, 55)
    assert rows["features.3"].output_shape == (1, 96, 27, 27)
    assert rows["features.14"].output_shape == (1, 256, 6, 6)
    assert rows["features.0"].macs == 55 * 55 * 96 * 3 * 11 * 11
    assert rows["features.4"].macs == 27 * 27 * 256 * 48 * 5 * 5


def test_lenet5_summary_rows(device):
    model = models.lenet5().to(device)
    model.train()
    result = pycnn.summary(model, (1, 28, 28), device=device)
    assert model.training and all(m.training for m in model.modules())
    expected = [
        ("features.0", "Conv2d", (1, 6, 28, 28), 156, 28 * 28 * 6 * 25),
        ("features.1", "ReLU", (1, 6, 28, 28), 0, 0),
        ("features.2", "MaxPool2d", (1, 6, 14, 14), 0, 0),
        ("features.3", "Conv2d", (1, 16, 10, 10), 2_416, 10 * 10 * 16 * 6 * 25),
        ("features.4", "ReLU", (1, 16, 10, 10), 0, 0),
        ("features.5", "MaxPool2d", (1, 16, 5, 5), 0, 0),
        ("classifier.0", "Linear", (1, 120), 48_120, 120 * 400),
        ("classifier.1", "ReLU", (1, 120), 0, 0),
        ("classifier.2", "Linear", (1, 84), 10_164, 84 * 120),
        ("classifier.3", "ReLU", (1, 84), 0, 0),
        ("classifier.4", "Linear", (1, 10), 850, 10 * 84),
    ]
    assert [(r.name, r.type, r.output_shape, r.params, r.macs) for r in result.rows] == expected
    assert result.total_macs == 416_520
    assert result.activation_bytes == 4 * 14_602
    table = str(result).splitlines()
    assert table[6] == "features.3    Conv2d     [1, 16, 10, 10]   2,416  240,000"
    assert len({len(line) for line in table[:15]}) == 1  # the rule and every row align
    assert "Total params: 61,706" in table and "Total MACs: 416,520 (416.52 k)" in table


def test_summary_counts_a_reused_module_once(device):
    model = models.resnet20().to(device)
    model.layer1[0].requires_grad_(False)
    result = pycnn.summary(model, (3, 32, 32), device=device)
    relu_rows = [row for row in result.rows if row.name == "layer1.0.relu"]
    assert len(relu_rows) == 2
    shortcut = [row for row in result.rows if row.name == "layer2.0.shortcut"]
    assert shortcut[0].output_shape == (1, 32, 16, 16) and shortcut[0].type == "ChannelPadShortcut"
    assert sum(row.params for row in result.rows) == result.total_params == 269_722
    assert result.trainable_params == 269_722 - 2 * (16 * 16 * 9 + 32)
    assert result.total_macs == 40_551_040


def test_summary_bad_input_shape():
    with pytest.raises(ValueError, match="summary: expected input_shape"):
        pycnn.summary(models.lenet5(), 28)
    with pytest.raises(ValueError, match="summary: expected input_shape"):
        pycnn.summary(models.lenet5(), (1, 0, 28))


# ----- parity with the torch twins ----------------------------------------------------------------

def relative_error(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30)


def twins(name, **kwargs):
    """A float64 torch model with weights that keep activations O(1) through any depth (kaiming
    fan_in, non-trivial batch norm affine and running statistics), and a pycnn model loaded from it.
    float64 makes the twin the exact answer, so the tolerance measures pycnn's float32 error alone."""
    torch.manual_seed(0)
    theirs = rm.MODELS[name](**kwargs)
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    ours = models.MODELS[name](**kwargs)
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()})
    return ours, theirs.double()


def no_dropout(*nets):
    for net in nets:
        for m in net.modules():
            if type(m).__name__ == "Dropout":
                m.p = 0.0


def as_tuple(output):
    return output if isinstance(output, tuple) else (output,)


# (model, builder kwargs, input shape, parameters). The smallest input each family accepts, batch 2;
# 64x64 (GoogLeNet's BN variant 96x96) where batch norm in training mode would otherwise see two
# values per channel at the last layers, whose variance amplifies rounding by 100x and more.
PARITY = [
    ("lenet5", {}, (2, 1, 28, 28), 61_706),
    ("resnet20", {}, (2, 3, 32, 32), 269_722),
    ("resnet18", {}, (2, 3, 64, 64), 11_689_512),
    ("resnet50", {}, (2, 3, 64, 64), 25_557_032),
    ("densenet121", {}, (2, 3, 64, 64), 7_978_856),
    ("googlenet", {}, (2, 3, 32, 32), 6_998_552),
    ("googlenet", dict(torchvision=True, aux_logits=True), (2, 3, 96, 96), 13_004_888),
    ("vgg11", {}, (2, 3, 32, 32), 132_863_336),
    ("alexnet", {}, (2, 3, 64, 64), 61_100_840),
    ("alexnet", dict(original=True), (2, 3, 67, 67), 60_965_224),
    ("zfnet", {}, (2, 3, 67, 67), 62_357_608),
]


@pytest.mark.parametrize("name, kwargs, shape, params", PARITY,
                         ids=[n + "".join(f"-{k}" for k in kw) for n, kw, _, _ in PARITY])
def test_forward_parity(name, kwargs, shape, params, device):
    ours, theirs = twins(name, **kwargs)
    assert count(ours) == params
    check_layout(ours, name, **kwargs)
    ours.to(device)
    no_dropout(ours, theirs)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)

    ours.eval()
    theirs.eval()
    with pycnn.no_grad(), torch.no_grad():
        assert relative_error(ours(pycnn.tensor(x, device=device)).numpy(),
                              theirs(torch.from_numpy(x).double())) < 1e-4

    ours.train()
    theirs.train()
    with pycnn.no_grad(), torch.no_grad():
        outputs = as_tuple(ours(pycnn.tensor(x, device=device)))
        expected = as_tuple(theirs(torch.from_numpy(x).double()))
    assert len(outputs) == len(expected)
    for out, ref in zip(outputs, expected):
        assert relative_error(out.numpy(), ref) < 1e-4
    # batch norm's running statistics moved the same way
    state = ours.state_dict(keep_vars=True)
    for key, value in theirs.state_dict().items():
        if "running" in key:
            assert relative_error(state[key].numpy(), value) < 1e-4, key


def follow_branches(ours, theirs):
    """Makes the float64 twin take pycnn's branch at every ReLU and max-pool decision.

    A piecewise-linear network's gradient jumps where a ReLU input or a max-pool runner-up is within
    rounding of its rival. ResNet-20 at (4, 3, 32, 32) has ReLU inputs 1e-7 of the largest from zero;
    perturbing its input by 2e-7 (float32 rounding) moves a weight gradient 1e-3 to 3e-2 from float64
    in 4 runs of 20, on the CPU as on the GPU: any change of summation order (threads, ISA, device)
    can flip one. So pycnn's forward records each decision (ReLU: output > 0; max-pool: the argmax)
    and the twin replays them in call order (ReLU: x * mask; max-pool: gather at pycnn's argmax). The
    twin then differentiates the same linear piece pycnn took, in float64, and the tolerance measures
    float32 rounding alone. Call pycnn's forward first, then the twin's. Returns the hook handles."""
    decisions = []
    replay = iter(())

    def record_relu(module, args, output):
        decisions.append(output.numpy() > 0)

    def record_pool(module, args, output):
        with pycnn.no_grad():
            _, indices = F.max_pool2d(args[0], module.kernel_size, module.stride, module.padding,
                                      module.dilation, module.ceil_mode, return_indices=True)
        decisions.append(indices.numpy())

    def replay_relu(module, args, output):
        mask = next(replay)
        assert mask.shape == tuple(output.shape), "twins call their ReLUs in different orders"
        return args[0] * torch.from_numpy(mask).to(args[0].dtype)

    def replay_pool(module, args, output):
        indices = torch.from_numpy(next(replay))
        assert indices.shape == output.shape, "twins call their max-pools in different orders"
        x = args[0]
        return x.flatten(2).gather(2, indices.flatten(2)).view_as(output)

    def start_replay(module, args):
        nonlocal replay
        replay = iter(list(decisions))
        decisions.clear()

    handles = []
    for m in ours.modules():
        kind = type(m).__name__
        if kind == "ReLU":
            handles.append(m.register_forward_hook(record_relu))
        elif kind == "MaxPool2d":
            handles.append(m.register_forward_hook(record_pool))
    for m in theirs.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False  # the replay needs the input as it came
            handles.append(m.register_forward_hook(replay_relu))
        elif isinstance(m, torch.nn.MaxPool2d):
            handles.append(m.register_forward_hook(replay_pool))
    handles.append(theirs.register_forward_pre_hook(start_replay))
    return handles


@pytest.mark.parametrize("name, shape", [
    ("lenet5", (4, 1, 28, 28)),
    ("resnet20", (4, 3, 32, 32)),
    ("resnet18", (8, 3, 64, 64)),
])
def test_training_step_parity(name, shape, device):
    """Loss, every parameter's gradient, and the parameters after one SGD step with momentum."""
    ours, theirs = twins(name, num_classes=10)
    ours.to(device)
    ours.train()
    theirs.train()
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    labels = rng.integers(0, 10, shape[0])
    follow_branches(ours, theirs)

    loss = F.cross_entropy(ours(pycnn.tensor(x, device=device)), pycnn.tensor(labels, device=device))
    loss.backward()
    ref_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x).double()),
                                                 torch.from_numpy(labels))
    ref_loss.backward()
    assert relative_error(loss.item(), ref_loss.item()) < 1e-4
    ref_params = dict(theirs.named_parameters())
    # The 99th percentile, not max-abs: a unit within rounding of a ReLU kink may flip in any float32 engine.
    for key, param in ours.named_parameters():
        assert gradient_error(param.grad.numpy(), ref_params[key].grad.numpy()) < 1e-4, key

    pycnn.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9).step()
    torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9).step()
    for key, param in ours.named_parameters():
        assert relative_error(param.numpy(), ref_params[key].detach()) < 1e-4, key


def test_follow_branches_replays_pycnn_decisions():
    """The twin really takes pycnn's branches: fed -x after pycnn saw x, its first ReLU passes the
    negated values where pycnn's were positive (a real ReLU never outputs a negative), and its
    max-pool picks pycnn's argmax, not its own."""
    ours, theirs = twins("lenet5", num_classes=10)
    x = np.random.default_rng(5).standard_normal((2, 1, 28, 28)).astype(np.float32)
    follow_branches(ours, theirs)
    seen = []
    for m in theirs.modules():
        if isinstance(m, (torch.nn.ReLU, torch.nn.MaxPool2d)):
            m.register_forward_hook(lambda mod, args, out: seen.append((type(mod).__name__, args[0], out)))
    with pycnn.no_grad(), torch.no_grad():
        ours(pycnn.tensor(x))
        theirs(-torch.from_numpy(x).double())
    kind, inp, out = seen[0]
    assert kind == "ReLU" and (out < 0).any() and torch.equal(out[out != 0], inp[out != 0])
    kind, inp, out = seen[1]
    assert kind == "MaxPool2d"
    assert (out < torch.nn.functional.max_pool2d(inp, 2, 2)).any()


def test_resnet20_learns_synthetic_patterns(device):
    """Four classes, each a fixed random 3x16x16 pattern under noise: SGD halves the loss fast."""
    pycnn.manual_seed(0)
    rng = np.random.default_rng(3)
    patterns = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    labels = np.arange(32) % 4
    images = patterns[labels] + 0.5 * rng.standard_normal((32, 3, 16, 16)).astype(np.float32)
    x, y = pycnn.tensor(images, device=device), pycnn.tensor(labels, device=device)

    model = models.resnet20(num_classes=4).to(device)
    optimizer = pycnn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if losses[-1] < losses[0] / 2:
            break
    assert losses[-1] < losses[0] / 2, losses
