"""Issue 12's architectures, exported by PyTorch (random weights, 64x64 inputs) at opsets 13 and 17
(and by the dynamo exporter at opset 18) and imported by pycnn: ShuffleNetV2 (5-d channel-shuffle
Reshape/Transpose, Split), MobileNetV3 (HardSwish, HardSigmoid, squeeze-excitation), ConvNeXt-Tiny
(NHWC permutes, LayerNorm, MatMul on 4-d tensors, GELU, layer scale), LR-ASPP and FCN segmentation
heads (bilinear Resize to the input size). Each matches onnxruntime within 1e-4 (relative to the
output's scale), its input gradient matches PyTorch's within 1e-3, and one SGD step on the imported
graph lowers the loss. The errors are printed (pytest -s). Only ShuffleNetV2 and LR-ASPP at opset 13
run by default; the rest are marked slow (tens of seconds to minutes each on two cores)."""
import numpy as np
import pytest

import pycnn
from pycnn.nn import functional as F

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from helpers.onnx_torch import check_torch_export  # noqa: E402
from helpers.torchvision_import import import_torchvision  # noqa: E402


class SegmentationOut(torch.nn.Module):
    """A torchvision segmentation model's ``out`` map (the model returns a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def _build(name):
    tv = import_torchvision()
    seg = tv.models.segmentation
    make = {
        "shufflenet_v2_x0_5": lambda: tv.models.shufflenet_v2_x0_5(num_classes=10),
        "mobilenet_v3_small": lambda: tv.models.mobilenet_v3_small(num_classes=10),
        "lraspp_mobilenet_v3_large": lambda: SegmentationOut(seg.lraspp_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=3)),
        "convnext_tiny": lambda: tv.models.convnext_tiny(num_classes=10),
        "fcn_resnet50": lambda: SegmentationOut(seg.fcn_resnet50(weights=None, weights_backbone=None, num_classes=3,
                                                                  aux_loss=False)),
    }[name]
    torch.manual_seed(0)
    net = make().eval()
    with torch.no_grad():  # batch norm statistics and affines away from identity, linear layers of unit gain,
        for m in net.modules():  # so that the outputs are not near zero at random weights
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
                m.running_mean.copy_(0.1 * torch.randn_like(m.running_mean))
                m.running_var.copy_(1 + torch.rand_like(m.running_var))  # >= 1: deep nets stay in range
            elif isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=m.in_features ** -0.5)
    return net


def _fine_tune_step_lowers_the_loss(graph, x):
    """Cross entropy of the (pooled) logits against fixed labels, one SGD step, the loss again."""
    graph.eval()  # batch norm on its running statistics: the step changes the weights only
    params = [p for p in graph.parameters() if p.requires_grad]
    optimizer = pycnn.optim.SGD(params, lr=0.01)
    xp = pycnn.tensor(x)

    def loss():
        out = graph(xp)
        logits = out if out.ndim == 2 else F.adaptive_avg_pool2d(out, 1).reshape((out.shape[0], out.shape[1]))
        return F.cross_entropy(logits, pycnn.tensor(np.arange(x.shape[0]) % logits.shape[1]))

    before = loss()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after = loss()
    assert after.item() < before.item(), f"loss {before.item():.6g} -> {after.item():.6g}"
    return before.item(), after.item()


def _check(name, opset, dynamo=False):
    net = _build(name)
    x = np.random.default_rng(opset).standard_normal((2, 3, 64, 64)).astype(np.float32)
    graph, out_err, grad_err = check_torch_export(net, x, opset, dynamo=dynamo)
    before, after = _fine_tune_step_lowers_the_loss(graph, x)
    print(f"\n{name} opset {opset}{' (dynamo)' if dynamo else ''}: output vs onnxruntime {out_err:.2g}, input "
          f"gradient vs torch {grad_err:.2g}, fine-tune loss {before:.4f} -> {after:.4f}")


@pytest.mark.parametrize("name,opset", [("shufflenet_v2_x0_5", 13), ("lraspp_mobilenet_v3_large", 13)])
def test_architecture_matches_onnxruntime_and_torch_and_fine_tunes(name, opset):
    _check(name, opset)


@pytest.mark.slow
@pytest.mark.parametrize("name,opset", [("shufflenet_v2_x0_5", 17), ("mobilenet_v3_small", 13),
                                        ("mobilenet_v3_small", 17),
                                        ("lraspp_mobilenet_v3_large", 17), ("convnext_tiny", 13),
                                        ("convnext_tiny", 17), ("fcn_resnet50", 13), ("fcn_resnet50", 17)])
def test_architecture_matches_onnxruntime_and_torch_and_fine_tunes_slow(name, opset):
    _check(name, opset)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "mobilenet_v3_small", "convnext_tiny"])
def test_dynamo_exports_match_onnxruntime_and_torch_and_fine_tune(name):
    pytest.importorskip("onnxscript")
    _check(name, 18, dynamo=True)
