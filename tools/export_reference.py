"""Exports PyTorch reference models to ONNX with both of torch's exporters, for tools/parity.py.

    python3 tools/export_reference.py --out /tmp/onnx_ref [--models lenet5,resnet_small]
        [--exporters torchscript,dynamo] [--opsets 13,17,18,21]

For each model, exporter and opset it writes MODEL_EXPORTER_opN.onnx and, next to it, an .npz with
``input``, ``output`` (PyTorch, eval mode), ``loss_weights`` R and ``grad/<parameter>`` for every
parameter under the fixed loss sum(output * R). Exporters: 'torchscript' (torch.onnx.export with
dynamo=False; opsets 13-20) and 'dynamo' (dynamo=True, needs onnxscript; opsets 18-21, the ones it
has implementations for). Both keep batch norm as its own node: the TorchScript exporter runs with
TrainingMode.PRESERVE on a model in eval mode (EVAL would fold batch norm into the convolutions and
rename the weights) and the dynamo exporter with optimize=False.
"""
import argparse
import contextlib
import io
import logging
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_models  # noqa: E402  (tools/ is not a package)

EXPORTER_OPSETS = {"torchscript": range(13, 21), "dynamo": range(18, 22)}
logging.getLogger("torch.onnx").setLevel(logging.ERROR)


# torch.nn.LocalResponseNorm is a Python decomposition (pad, avg_pool3d, pow, div), so both exporters
# would write a dozen primitive ops instead of LRN. A custom op with its own ONNX translation keeps
# it one LRN node, as AlexNet-era files have it. Its window equals ONNX's for the odd sizes used here.
@torch.library.custom_op("pycnn_ref::lrn", mutates_args=())
def lrn(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    return torch.nn.functional.local_response_norm(x, size, alpha, beta, k)


@lrn.register_fake
def _lrn_fake(x, size, alpha, beta, k):
    return torch.empty_like(x)


def _lrn_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])
    ctx.args = inputs[1:]


def _lrn_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    with torch.enable_grad():
        leaf = x.detach().requires_grad_()
        (dx,) = torch.autograd.grad(torch.nn.functional.local_response_norm(leaf, *ctx.args), leaf, grad)
    return dx, None, None, None, None


lrn.register_autograd(_lrn_backward, setup_context=_lrn_setup)


@torch.onnx.symbolic_helper.parse_args("v", "i", "f", "f", "f")
def _lrn_symbolic(g, x, size, alpha, beta, k):
    return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


torch.onnx.register_custom_op_symbolic("pycnn_ref::lrn", _lrn_symbolic, 9)


def _lrn_dynamo(x, size: int, alpha: float, beta: float, k: float):
    from onnxscript import opset18 as op

    return op.LRN(x, size=size, alpha=alpha, beta=beta, bias=k)


class LRN(nn.Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return lrn(x, self.size, self.alpha, self.beta, self.k)


class ResNetSmall(nn.Module):
    """Two residual stages (3x3 convs, batch norm, a strided 1x1 projection shortcut)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.conv1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.shortcut = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.stem(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = torch.relu(y + self.shortcut(x))
        return self.fc(torch.flatten(self.pool(y), 1))


class InceptionSmall(nn.Module):
    """One inception block: 1x1, 1x1->3x3, 1x1->5x5 and maxpool->1x1 branches concatenated."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b2 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(8, 4, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(18, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
        return self.fc(torch.flatten(self.pool(torch.relu(x)), 1))


class DenseSmall(nn.Module):
    """A DenseNet block of three BN-ReLU-conv layers, each seeing every earlier output, and a transition."""

    def __init__(self, num_classes=10, growth=4):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(8 + i * growth), nn.ReLU(), nn.Conv2d(8 + i * growth, growth, 3, padding=1,
                                                                               bias=False))
            for i in range(3))
        self.transition = nn.Sequential(nn.BatchNorm2d(20), nn.ReLU(), nn.Conv2d(20, 10, 1, bias=False),
                                        nn.AvgPool2d(2))
        self.fc = nn.Linear(10, num_classes)

    def forward(self, x):
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        x = self.transition(torch.cat(features, 1))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


class AlexNetSmall(nn.Module):
    """AlexNet's ingredients at 32x32: LRN, grouped convolution, overlapping ceil-mode max pooling,
    dropout and a fully connected classifier."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(), LRN(5, alpha=1e-3, beta=0.75, k=2.0),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Conv2d(16, 24, 3, padding=1, groups=2), nn.ReLU(), LRN(3, alpha=1e-3, k=1.0),
            nn.MaxPool2d(2, stride=2))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(24 * 4 * 4, 32), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(32, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


MODELS = {
    "lenet5": (lambda: reference_models.lenet5(10), (2, 1, 28, 28)),
    "resnet_small": (ResNetSmall, (2, 3, 16, 16)),
    "inception_small": (InceptionSmall, (2, 3, 16, 16)),
    "dense_small": (DenseSmall, (2, 3, 16, 16)),
    "alexnet_small": (AlexNetSmall, (2, 3, 32, 32)),
}


def build(name, seed=0):
    """The model in eval mode with seeded weights and non-trivial batch-norm statistics, and its input."""
    torch.manual_seed(seed)
    builder, shape = MODELS[name]
    model = builder()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    x = torch.randn(shape, generator=gen)
    return model.eval(), x


def reference_npz(model, x, path):
    """input, output, loss_weights and grad/<param> under loss = sum(output * loss_weights)."""
    model.zero_grad()
    y = model(x)
    r = torch.randn(y.shape, generator=torch.Generator().manual_seed(7))
    (y * r).sum().backward()
    arrays = {"input": x.numpy(), "output": y.detach().numpy(), "loss_weights": r.numpy()}
    for name, p in model.named_parameters():
        arrays["grad/" + name] = p.grad.numpy()
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def export_one(model, x, path, exporter, opset):
    kwargs = {"input_names": ["input"], "output_names": ["output"], "opset_version": opset}
    if exporter == "torchscript":
        kwargs.update(dynamo=False, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    else:
        kwargs.update(dynamo=True, optimize=False,
                      custom_translation_table={torch.ops.pycnn_ref.lrn.default: _lrn_dynamo})
    # Exported under its final name in a temporary folder beside it, then moved: the dynamo exporter
    # writes the weights to "<name>.data" next to the model and records that name in it, so the data
    # file must be named for the final model, not for a temporary one.
    folder, name = os.path.split(os.path.abspath(path))
    staging = tempfile.mkdtemp(prefix=".tmp-export-", dir=folder)
    try:
        quiet = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), os.path.join(staging, name), **kwargs)
        # The weights first: the model never points at a data file that is not there yet.
        for written in sorted(os.listdir(staging), key=lambda n: n == name):
            os.replace(os.path.join(staging, written), os.path.join(folder, written))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--exporters", default="torchscript,dynamo")
    p.add_argument("--opsets", default="", help="comma-separated; default every opset each exporter supports")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    wanted = {int(o) for o in args.opsets.split(",") if o}
    written = []
    for name in args.models.split(","):
        if name not in MODELS:
            p.error(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        model, x = build(name)
        for exporter in args.exporters.split(","):
            if exporter not in EXPORTER_OPSETS:
                p.error(f"unknown exporter {exporter!r}; known: {', '.join(EXPORTER_OPSETS)}")
            for opset in EXPORTER_OPSETS[exporter]:
                if wanted and opset not in wanted:
                    continue
                stem = os.path.join(args.out, f"{name}_{exporter}_op{opset}")
                export_one(model, x, stem + ".onnx", exporter, opset)
                reference_npz(model, x, stem + ".npz")
                written.append(stem + ".onnx")
                print(f"wrote {stem}.onnx")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
