"""tools/reference_models.py: parameter counts, layouts, shapes and MACs of the reference CNNs.

Parameter counts are torchvision's published numbers (or, for the paper models, hand arithmetic
from the papers' layer tables); the big models are built on the meta device, so counting them costs
no memory. Forward passes use batch 1 and only the cheap models run at full resolution.
"""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import reference_models as rm  # noqa: E402

PARAMS = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "zfnet": 62_357_608,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "googlenet": 6_998_552,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "resnet20": 269_722,
    "resnet56": 853_018,
}


def meta_model(name, **kwargs):
    with torch.device("meta"):
        return rm.MODELS[name](**kwargs)


def test_registry_holds_every_counted_model():
    assert set(rm.MODELS) == set(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_param_count(name):
    assert rm.count_params(meta_model(name)) == PARAMS[name]


@pytest.mark.parametrize("kwargs, expected", [
    (dict(original=True), 60_965_224),
    (dict(num_classes=10), 61_100_840 - 990 * 4097),
])
def test_alexnet_variants_param_count(kwargs, expected):
    assert rm.count_params(meta_model("alexnet", **kwargs)) == expected


@pytest.mark.parametrize("kwargs, expected", [
    # the paper's net plus two aux heads of 128*(512 or 528)+128 + 2048*1024+1024 + 1024*1000+1000
    (dict(aux_logits=True), 6_998_552 + 65_664 + 67_712 + 2 * (2_098_176 + 1_025_000)),
    # torchvision's published counts
    (dict(torchvision=True), 6_624_904),
    (dict(torchvision=True, aux_logits=True), 13_004_888),
])
def test_googlenet_variants_param_count(kwargs, expected):
    assert rm.count_params(meta_model("googlenet", **kwargs)) == expected


def test_alexnet_original_per_layer_weights():
    model = meta_model("alexnet", original=True)
    weights = {name: p.numel() for name, p in model.named_parameters() if name.endswith("weight")}
    assert weights == {
        "features.0.weight": 34_848,         # conv1 96x3x11x11
        "features.4.weight": 307_200,        # conv2 256x48x5x5, groups 2
        "features.8.weight": 884_736,        # conv3 384x256x3x3
        "features.10.weight": 663_552,       # conv4 384x192x3x3, groups 2
        "features.12.weight": 442_368,       # conv5 256x192x3x3, groups 2
        "classifier.1.weight": 37_748_736,   # fc6 9216->4096
        "classifier.4.weight": 16_777_216,   # fc7
        "classifier.6.weight": 4_096_000,    # fc8
    }


def test_googlenet_inception_block_weights():
    model = meta_model("googlenet")
    expected = {"inception3a": 163_328, "inception3b": 388_096, "inception4a": 375_552,
                "inception4e": 867_328, "inception5b": 1_442_816}
    for block, count in expected.items():
        module = getattr(model, block)
        weights = sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))
        assert weights == count, block
    # the same from the table's columns: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj
    for block, (c, a, r3, b3, r5, b5, pp) in rm.GOOGLENET_BLOCKS.items():
        from_table = c * (a + r3 + r5 + pp) + r3 * b3 * 9 + r5 * b5 * 25
        module = getattr(model, block)
        assert sum(p.numel() for n, p in module.named_parameters()
                   if n.endswith("weight")) == from_table, block


@pytest.mark.parametrize("name, kwargs, keys", [
    ("lenet5", {}, ["features.0.weight", "features.3.bias", "classifier.0.weight",
                    "classifier.2.weight", "classifier.4.bias"]),
    ("alexnet", {}, ["features.0.weight", "features.10.bias", "classifier.1.weight",
                     "classifier.4.weight", "classifier.6.bias"]),
    ("vgg11_bn", {}, ["features.0.weight", "features.1.running_var",
                      "features.1.num_batches_tracked", "features.25.weight",
                      "classifier.0.weight", "classifier.3.weight", "classifier.6.bias"]),
    ("vgg16", {}, ["features.28.weight", "classifier.6.weight"]),
    ("googlenet", {"aux_logits": True},
     ["conv1.conv.weight", "conv1.conv.bias", "conv3.conv.weight",
      "inception3a.branch1.conv.weight", "inception3a.branch2.1.conv.weight",
      "inception3a.branch3.1.conv.bias", "inception5b.branch4.1.conv.weight",
      "aux1.conv.conv.weight", "aux2.fc1.weight", "aux2.fc2.bias", "fc.weight"]),
    ("googlenet", {"torchvision": True},
     ["conv1.conv.weight", "conv1.bn.running_mean", "inception4a.branch3.1.bn.weight",
      "inception4a.branch4.1.conv.weight", "fc.bias"]),
    ("resnet18", {}, ["conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
                      "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
                      "layer4.1.bn2.bias", "fc.weight"]),
    ("resnet50", {}, ["layer1.0.downsample.0.weight", "layer1.2.conv3.weight",
                      "layer4.2.bn3.weight", "fc.bias"]),
    ("densenet121", {}, ["features.conv0.weight", "features.norm0.running_mean",
                         "features.denseblock1.denselayer1.norm1.weight",
                         "features.denseblock1.denselayer6.conv2.weight",
                         "features.transition1.norm.weight", "features.transition3.conv.weight",
                         "features.denseblock4.denselayer16.norm2.running_var",
                         "features.norm5.bias", "classifier.weight"]),
    ("resnet20", {}, ["conv1.weight", "bn1.weight", "layer2.0.conv1.weight",
                      "layer3.2.bn2.running_mean", "fc.weight"]),
])
def test_state_dict_keys(name, kwargs, keys):
    state = meta_model(name, **kwargs).state_dict()
    for key in keys:
        assert key in state, key


def test_state_dict_keys_exclude_variant_parts():
    paper = meta_model("googlenet").state_dict()
    assert not any(".bn." in k or k.startswith("aux") for k in paper)
    assert not any("downsample" in k or "shortcut" in k for k in meta_model("resnet56").state_dict())
    conv_weights = [k for k in meta_model("densenet121").state_dict() if k.endswith("conv2.weight")]
    assert len(conv_weights) == 6 + 12 + 24 + 16


def feature_shapes(features, x):
    shapes = []
    for layer in features:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


def test_alexnet_original_shapes():
    model = rm.alexnet(original=True).eval()
    shapes = feature_shapes(model.features, torch.randn(1, 3, 227, 227))
    assert shapes[0] == (96, 55, 55)
    assert shapes[3] == (96, 27, 27)
    assert shapes[7] == (256, 13, 13)
    assert shapes[-1] == (256, 6, 6)
    assert [model.features[i].groups for i in (0, 4, 8, 10, 12)] == [1, 2, 1, 2, 2]


def test_zfnet_shapes_follow_the_paper():
    model = rm.zfnet().eval()
    shapes = feature_shapes(model.features, torch.randn(1, 3, 224, 224))
    assert [shapes[i] for i in (0, 2, 4, 6, 14)] == [
        (96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13), (256, 6, 6)]


@pytest.mark.parametrize("name, kwargs, shape, out", [
    ("lenet5", {}, (1, 1, 28, 28), (1, 10)),
    ("alexnet", {"original": True}, (1, 3, 227, 227), (1, 1000)),
    ("alexnet", {"num_classes": 7}, (1, 3, 224, 224), (1, 7)),
    ("zfnet", {}, (1, 3, 224, 224), (1, 1000)),
    ("vgg11_bn", {"num_classes": 10}, (1, 3, 32, 32), (1, 10)),
    ("googlenet", {}, (1, 3, 224, 224), (1, 1000)),
    ("googlenet", {"torchvision": True, "num_classes": 5}, (1, 3, 224, 224), (1, 5)),
    ("resnet18", {}, (1, 3, 224, 224), (1, 1000)),
    ("resnet50", {"num_classes": 10}, (1, 3, 64, 64), (1, 10)),
    ("densenet121", {"num_classes": 10}, (1, 3, 64, 64), (1, 10)),
    ("resnet20", {}, (1, 3, 32, 32), (1, 10)),
    ("resnet56", {}, (1, 3, 32, 32), (1, 10)),
])
def test_forward_shape(name, kwargs, shape, out):
    torch.manual_seed(0)
    model = rm.MODELS[name](**kwargs).eval()
    with torch.no_grad():
        y = model(torch.randn(shape))
    assert tuple(y.shape) == out
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("torchvision", [False, True])
def test_googlenet_aux_outputs_in_train_mode_only(torchvision):
    torch.manual_seed(0)
    model = rm.googlenet(num_classes=10, aux_logits=True, torchvision=torchvision)
    x = torch.randn(2, 3, 224, 224)  # batch 2: train-mode batch norm needs more than one value
    with torch.no_grad():
        main, aux2, aux1 = model.train()(x)
        assert [tuple(t.shape) for t in (main, aux2, aux1)] == [(2, 10)] * 3
        assert tuple(model.eval()(x).shape) == (2, 10)


def test_option_a_shortcut_is_strided_subsample_with_centred_zero_channels():
    x = torch.randn(2, 16, 32, 32)
    y = rm.ChannelPadShortcut(32)(x)
    assert torch.equal(y, F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 8, 8)))
    assert tuple(rm.ChannelPadShortcut(64)(torch.randn(1, 32, 16, 16)).shape) == (1, 64, 8, 8)


def test_resnet20_stage_shapes():
    model = rm.resnet20().eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        x = model.relu(model.bn1(model.conv1(x)))
        shapes = []
        for layer in (model.layer1, model.layer2, model.layer3):
            x = layer(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


class RecordTorchFunctions(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


ALLOWED_OPS = {"conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "linear", "relu",
               "batch_norm", "local_response_norm", "dropout", "cat", "add", "flatten", "zeros"}
# reading x.shape / x.dtype (__get__) and batch norm's input-rank check (dim) are not ops
BOOKKEEPING = {"__get__", "dim"}


@pytest.mark.parametrize("name, kwargs, shape", [
    ("lenet5", {}, (1, 1, 28, 28)),
    ("alexnet", {"original": True}, (1, 3, 227, 227)),
    ("zfnet", {}, (1, 3, 224, 224)),
    ("vgg11_bn", {}, (1, 3, 32, 32)),
    ("googlenet", {}, (1, 3, 224, 224)),
    ("googlenet", {"torchvision": True}, (1, 3, 224, 224)),
    ("resnet50", {}, (1, 3, 64, 64)),
    ("densenet121", {}, (1, 3, 64, 64)),
    ("resnet20", {}, (1, 3, 32, 32)),
])
def test_forward_uses_only_ops_pycnn_implements(name, kwargs, shape):
    model = rm.MODELS[name](**kwargs).eval()
    x = torch.randn(shape)
    recorder = RecordTorchFunctions()
    with torch.no_grad(), recorder:
        model(x)
    assert recorder.names - BOOKKEEPING <= ALLOWED_OPS, recorder.names - BOOKKEEPING - ALLOWED_OPS


def test_macs_counts_conv_and_linear():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, groups=1), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 5))
    # conv: 8*4*4 outputs x 3*3*3 each; linear: 5 outputs x 128 inputs
    assert rm.macs(model, (1, 3, 4, 4)) == 8 * 16 * 27 + 5 * 128
    grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
    assert rm.macs(grouped, (2, 4, 5, 5)) == 2 * 4 * 25 * 2 * 9


@pytest.mark.parametrize("name, gmacs", [
    ("resnet18", 1.8), ("resnet34", 3.6), ("resnet50", 4.1),
])
def test_resnet_macs_at_224(name, gmacs):
    model = rm.MODELS[name]()
    count = rm.macs(model, (1, 3, 224, 224))
    assert count / 1e9 == pytest.approx(gmacs, rel=0.02)
    assert model.training  # macs() restores the mode it found


def test_resnet_macs_match_torchvision_published_gflops():
    # torchvision's model tables list 1.81 / 3.66 / 4.09 "GFLOPS" (multiply-accumulates)
    counts = [rm.macs(meta_model(name), (1, 3, 224, 224)) / 1e9
              for name in ("resnet18", "resnet34", "resnet50")]
    assert counts == pytest.approx([1.81, 3.66, 4.09], abs=0.005)
