"""pycnn.viz: pictures people would rather look at than read, saved as PNG (needs matplotlib).

    plot_filters(weight, path)                      first-layer filters as an image grid
    plot_feature_maps(model, layer, image, path)    one layer's feature maps for one input
    plot_history(history, path)                     loss and accuracy curves, train vs validation
"""
import math

import numpy as np

from .autograd import no_grad
from .files import atomic_write
from .tensor import Tensor, tensor


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('pycnn.viz needs matplotlib: pip install "pycnn[train]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    """Writes the PNG atomically (a temporary file renamed over ``path``) and closes the figure."""
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"), "plot")
    finally:
        fig.clear()
        _pyplot().close(fig)


def filter_grid(weight, pad=1):
    """Filters (C_out, C_in, KH, KW) as one image: RGB when C_in == 3, else each filter's first
    channel in grey. Each filter is scaled to [0, 1] on its own. Returns (H, W) or (H, W, 3)."""
    w = weight.numpy() if isinstance(weight, Tensor) else np.asarray(weight)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: expected a 4-d conv weight (C_out, C_in, KH, KW), got shape {w.shape}")
    cout, cin, kh, kw = w.shape
    tiles = w.transpose(0, 2, 3, 1) if cin == 3 else w[:, :1].transpose(0, 2, 3, 1)
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    hi = tiles.max(axis=(1, 2, 3), keepdims=True)
    tiles = (tiles - lo) / np.where(hi > lo, hi - lo, 1)
    cols = math.ceil(math.sqrt(cout))
    rows = math.ceil(cout / cols)
    grid = np.ones((rows * (kh + pad) + pad, cols * (kw + pad) + pad, tiles.shape[3]), dtype=np.float32)
    for i in range(cout):
        r, c = divmod(i, cols)
        top, left = pad + r * (kh + pad), pad + c * (kw + pad)
        grid[top:top + kh, left:left + kw] = tiles[i]
    return grid if grid.shape[2] == 3 else grid[:, :, 0]


def plot_filters(weight, path, title="first-layer filters"):
    """Saves :func:`filter_grid` of ``weight`` as a PNG."""
    plt = _pyplot()
    grid = filter_grid(weight)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(grid, cmap=None if grid.ndim == 3 else "gray", interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
    _save(fig, path)


def feature_maps(model, layer, image):
    """The output of ``model``'s submodule named ``layer`` (as in named_modules) for one image
    (C, H, W): returns a numpy array (C_out, H_out, W_out)."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"feature_maps: no layer named {layer!r}; layers: {[n for n in modules if n]}")
    captured = {}

    def capture(module, inputs, output):
        captured["out"] = output

    x = image if isinstance(image, Tensor) else tensor(np.asarray(image, dtype=np.float32))
    if x.ndim != 3:
        raise ValueError(f"feature_maps: expected one image (C, H, W), got shape {tuple(x.shape)}")
    x = x.reshape(1, *x.shape)
    first = next(iter(model.parameters()), None)
    if first is not None and x.device != first.device:
        x = x.to(first.device)
    handle = modules[layer].register_forward_hook(capture)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(x)
    finally:
        handle.remove()
        model.train(was_training)
    if "out" not in captured:
        raise ValueError(f"feature_maps: layer {layer!r} was not called in the model's forward")
    out = captured["out"]
    out = out[0] if isinstance(out, tuple) else out
    return out.numpy()[0]


def plot_feature_maps(model, layer, image, path, max_maps=64):
    """Saves a grid of layer ``layer``'s feature maps for one image as a PNG."""
    plt = _pyplot()
    maps = feature_maps(model, layer, image)
    maps = maps[:max_maps] if maps.ndim == 3 else maps.reshape(1, 1, -1)
    cols = math.ceil(math.sqrt(len(maps)))
    rows = math.ceil(len(maps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, fmap in zip(axes.flat, maps):
        ax.imshow(fmap, cmap="viridis", interpolation="nearest")
    fig.suptitle(f"feature maps of {layer}")
    _save(fig, path)


def plot_history(history, path):
    """Loss and accuracy per epoch, train vs validation, as a PNG."""
    plt = _pyplot()
    records = history.records if hasattr(history, "records") else list(history)
    epochs = [r["epoch"] for r in records]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in records], label="train")
    if records and "val_loss" in records[0]:
        ax_loss.plot(epochs, [r["val_loss"] for r in records], label="validation")
    ax_acc.plot(epochs, [r["train_acc"] for r in records], label="train")
    if records and "val_top1" in records[0]:
        ax_acc.plot(epochs, [r["val_top1"] for r in records], label="validation")
    for ax, name in ((ax_loss, "loss"), (ax_acc, "top-1 accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)
