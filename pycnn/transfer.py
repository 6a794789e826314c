"""Transfer learning in one call: a new classifier head on a pretrained network, and the frozen part
frozen completely.

    model = pycnn.onnx.load("lenet5.onnx")            # or any pycnn Module (zoo, Sequential, ...)
    pycnn.transfer.prepare(model, num_classes=10, strategy="feature_extractor")
    optimizer = pycnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

Strategies (the usual table: how much data, how similar the task):
- ``feature_extractor``: little data, similar task. Every pretrained layer is frozen; only the new
  head trains.
- ``partial``: the last ``trainable_layers`` layers with parameters (default 1) train with the head;
  the earlier ones are frozen.
- ``fine_tune``: more data. Everything trains, starting from the pretrained weights.

Frozen means: ``requires_grad`` False (no gradient is computed, so no optimizer updates it, even one
built from ``model.parameters()``), and batch normalization in a frozen layer normalizes with its
running statistics and never updates them, even after ``model.train()`` (PyTorch's requires_grad
leaves them moving: pytorch#86590). Dropout keeps whatever mode the user sets.
"""
import numbers

from . import nn
from .nn.layers import _BatchNorm

STRATEGIES = ("feature_extractor", "partial", "fine_tune")


def _keep_eval(module, args):
    object.__setattr__(module, "training", False)


def _module_head(model, num_classes):
    """Replaces the last Linear (else the last 1x1 Conv2d) with a fresh one for ``num_classes``."""
    candidates = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not candidates:
        candidates = [(name, m) for name, m in model.named_modules()
                      if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (1, 1)]
    if not candidates or candidates[-1][0] == "":
        raise ValueError(f"transfer.prepare: {type(model).__name__} has no Linear or 1x1 Conv2d layer to use as "
                         "the classifier head")
    name, old = candidates[-1]
    if isinstance(old, nn.Linear):
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, 1, groups=old.groups, bias=old.bias is not None)
    new.to(old.weight.device)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    parent._modules[child] = new
    return name, new


def prepare(model, num_classes, strategy="feature_extractor", trainable_layers=None):
    """Puts a new ``num_classes``-way head on ``model`` and freezes according to ``strategy``
    (see the module docstring); modifies ``model`` in place and returns it.

    For an imported :class:`pycnn.onnx.Graph` the head is the last Gemm/MatMul/1x1 Conv feeding the
    output (a trailing Softmax is dropped); for other Modules the last Linear (else 1x1 Conv2d).
    Layers are the nodes (Graph) or Modules holding parameters, in forward order."""
    from .onnx import Graph

    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"transfer.prepare: expected num_classes to be a positive int, got {num_classes!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"transfer.prepare: expected strategy in {STRATEGIES}, got {strategy!r}")
    if strategy == "partial":
        trainable_layers = 1 if trainable_layers is None else trainable_layers
        if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, numbers.Integral) \
                or trainable_layers < 0:
            raise ValueError(f"transfer.prepare: expected trainable_layers to be an int >= 0, got {trainable_layers!r}")
    elif trainable_layers is not None:
        raise ValueError(f"transfer.prepare: trainable_layers applies to strategy='partial', not {strategy!r}")
    for handle in model.__dict__.pop("_transfer_hooks", []):
        handle.remove()
    hooks = []
    if isinstance(model, Graph):
        head = model.replace_head(int(num_classes))
        layers = [(name, [getattr(model, p) for p in params], model.node(name))
                  for name, _, params in model.layers() if name != head]
    else:
        _, head_module = _module_head(model, int(num_classes))
        layers = [(name, list(m.parameters(recurse=False)), m) for name, m in model.named_modules()
                  if m is not head_module and any(p is not None for p in m._parameters.values())]
    count = {"feature_extractor": len(layers), "fine_tune": 0,
             "partial": max(len(layers) - (trainable_layers or 0), 0)}[strategy]
    for index, (_, params, owner) in enumerate(layers):
        frozen = index < count
        for p in params:
            p.requires_grad_(not frozen)
            if frozen:
                p.grad = None
        if isinstance(model, Graph):
            owner.frozen = frozen and owner.op == "BatchNormalization"
        elif frozen and isinstance(owner, _BatchNorm):
            hooks.append(owner.register_forward_pre_hook(_keep_eval))
            object.__setattr__(owner, "training", False)
    object.__setattr__(model, "_transfer_hooks", hooks)
    return model

