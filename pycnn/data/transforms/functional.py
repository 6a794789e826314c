"""Batch image operations, as torchvision.transforms.functional but on whole batches: each takes
(N, C, H, W) float32 and returns a new float32 array (the input is never modified), vectorised over
the batch (no Python loop over images or pixels). Geometric operations use inverse mapping: for every
output pixel we compute where it comes from in the input and gather those pixels with one numpy
fancy-index over the whole batch. Conventions (rows are y, angles, translations): see
pycnn.data.transforms.
"""

import numpy as np

# ITU-R 601 luma weights, the ones torchvision's rgb_to_grayscale uses.
_GRAY_WEIGHTS = np.array([0.2989, 0.587, 0.114], dtype=np.float32)


def _as_batch(batch, name):
    """Check that `batch` is an (N, C, H, W) real array and return it as float32."""
    batch = np.asarray(batch)
    if batch.ndim != 4:
        raise ValueError(f"{name}: expected a batch of shape (N, C, H, W), got shape {batch.shape}")
    if not (np.issubdtype(batch.dtype, np.floating) or np.issubdtype(batch.dtype, np.integer)):
        raise TypeError(f"{name}: expected a float32 batch, got dtype {batch.dtype}")
    return batch.astype(np.float32, copy=False)


def _size_pair(size, name):
    """Turn an int or (h, w) into a pair of positive ints."""
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    if len(size) != 2 or any(int(s) != s or s <= 0 for s in size):
        raise ValueError(f"{name}: size must be a positive int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def _need_rgb(batch, name):
    if batch.shape[1] != 3:
        raise ValueError(f"{name}: expected 3 (RGB) channels, got a batch of shape {batch.shape}")


def _grayscale(batch):
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    return np.einsum("nchw,c->nhw", batch, _GRAY_WEIGHTS)[:, None].astype(np.float32)


def hflip(batch):
    """Mirror every image left-right: out[..., x] = batch[..., W - 1 - x]. (N, C, H, W) -> same."""
    return np.ascontiguousarray(_as_batch(batch, "hflip")[..., ::-1])


def vflip(batch):
    """Mirror every image top-bottom: out[..., y, :] = batch[..., H - 1 - y, :]."""
    return np.ascontiguousarray(_as_batch(batch, "vflip")[..., ::-1, :])


def crop(batch, top, left, height, width):
    """Cut a height x width window from each image.

    batch: (N, C, H, W); top, left: ints, or (N,) int arrays giving each image its own window.
    Returns (N, C, height, width) with out[n] = batch[n, :, top[n]:top[n]+height, left[n]:left[n]+width].
    """
    batch = _as_batch(batch, "crop")
    n, _, h, w = batch.shape
    top = np.broadcast_to(np.asarray(top, dtype=np.int64), (n,))
    left = np.broadcast_to(np.asarray(left, dtype=np.int64), (n,))
    if n and (top.min() < 0 or left.min() < 0 or top.max() + height > h or left.max() + width > w):
        raise ValueError(f"crop: a {height}x{width} window at top {top.tolist()}, left {left.tolist()} "
                         f"does not fit in images of size {h}x{w}")
    # A view of every height x width window; picking one window per image copies whole rows.
    windows = np.lib.stride_tricks.sliding_window_view(batch, (height, width), axis=(2, 3))
    return np.ascontiguousarray(windows[np.arange(n), :, top, left])  # (N, C, height, width)


def _interpolation_matrix(in_size, out_size, antialias):
    """(out_size, in_size) weights of 1-D bilinear resampling with half-pixel centres.

    Output pixel i is centred at input coordinate (i + 0.5) * scale. The weights are a triangle
    filter of radius 1 (plain bilinear, as PyTorch's align_corners=False) or, when downsampling
    with antialias, of radius `scale` (as PIL and torchvision's antialias=True), normalised to sum 1.
    """
    scale = in_size / out_size
    radius = max(scale, 1.0) if antialias else 1.0
    centres = (np.arange(out_size) + 0.5) * scale  # (out,)
    positions = np.arange(in_size) + 0.5  # (in,)
    weights = np.maximum(0.0, 1.0 - np.abs(positions[None, :] - centres[:, None]) / radius)
    # Where the filter falls outside the image (borders), the row is renormalised; this equals
    # clamping the sampling position to the edge pixel for plain bilinear.
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(batch, size, antialias=True):
    """Bilinear resize of every image to size = (height, width). (N, C, H, W) -> (N, C, h, w).

    Separable: out = Wy @ image @ Wx.T with one (h, H) and one (w, W) weight matrix, so the whole
    batch is two matrix products. antialias widens the filter when shrinking (as torchvision).
    """
    batch = _as_batch(batch, "resize")
    out_h, out_w = _size_pair(size, "resize")
    rows = _interpolation_matrix(batch.shape[2], out_h, antialias)  # (h, H)
    cols = _interpolation_matrix(batch.shape[3], out_w, antialias)  # (w, W)
    return np.ascontiguousarray(rows @ batch @ cols.T, dtype=np.float32)


def _sample(batch, src_y, src_x, interpolation, fill):
    """Gather batch at fractional source positions. src_y, src_x: (N, h, w) -> (N, C, h, w).

    Positions outside the image read `fill`: the batch is padded by one pixel of fill and indices
    are clipped into that border.
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    n, c, h, w = batch.shape
    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill).reshape(n, c, -1)

    def gather(y, x):  # integer positions (N, h, w) in input coordinates -> (N, C, h, w)
        flat = (np.clip(y, -1, h) + 1) * (w + 2) + np.clip(x, -1, w) + 1  # index into padded rows
        out = np.take_along_axis(padded, flat.reshape(n, 1, -1), axis=2)
        return out.reshape(n, c, *y.shape[1:])

    if interpolation == "nearest":
        return gather(np.floor(src_y + 0.5).astype(np.int64), np.floor(src_x + 0.5).astype(np.int64))
    y0 = np.floor(src_y)
    x0 = np.floor(src_x)
    wy = (src_y - y0).astype(np.float32)[:, None]
    wx = (src_x - x0).astype(np.float32)[:, None]
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64)
    top = gather(y0, x0) * (1 - wx) + gather(y0, x0 + 1) * wx
    bottom = gather(y0 + 1, x0) * (1 - wx) + gather(y0 + 1, x0 + 1) * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def rotate(batch, angles, interpolation="bilinear", fill=0.0):
    """Rotate each image counter-clockwise by angles[n] degrees about its centre.

    batch: (N, C, H, W); angles: a number or (N,) array of degrees. Returns (N, C, H, W); corners
    that come from outside the image are `fill`. rotate(x, 90) == np.rot90(x, 1, axes=(2, 3)) for
    square images.
    """
    batch = _as_batch(batch, "rotate")
    n, _, h, w = batch.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(angles, dtype=np.float64), (n,)))
    cos = np.cos(theta)[:, None, None]
    sin = np.sin(theta)[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = (np.arange(h) - cy)[None, :, None]
    dx = (np.arange(w) - cx)[None, None, :]
    # Inverse mapping: output pixel (y, x) reads the input at the position rotated back.
    src_x = cx + cos * dx - sin * dy
    src_y = cy + sin * dx + cos * dy
    return _sample(batch, src_y, src_x, interpolation, fill)


def translate(batch, dx, dy, interpolation="nearest", fill=0.0):
    """Shift each image by (dx[n], dy[n]) pixels: out[n, :, y, x] = batch[n, :, y - dy, x - dx].

    dx, dy: numbers or (N,) arrays; positive dx moves the content right, positive dy down.
    Uncovered pixels are `fill`. (N, C, H, W) -> (N, C, H, W).
    """
    batch = _as_batch(batch, "translate")
    n, _, h, w = batch.shape
    dx = np.broadcast_to(np.asarray(dx, dtype=np.float64), (n,))[:, None, None]
    dy = np.broadcast_to(np.asarray(dy, dtype=np.float64), (n,))[:, None, None]
    src_y = np.broadcast_to(np.arange(h)[None, :, None] - dy, (n, h, w))
    src_x = np.broadcast_to(np.arange(w)[None, None, :] - dx, (n, h, w))
    return _sample(batch, src_y, src_x, interpolation, fill)


def rgb_pca(images):
    """Eigen-decomposition of the RGB covariance of a set of images, for ColorShift.

    images: (N, 3, H, W). Returns (eigvals (3,), eigvecs (3, 3)) with eigenvalues in descending
    order and eigenvector k in column eigvecs[:, k].
    """
    images = _as_batch(images, "rgb_pca")
    _need_rgb(images, "rgb_pca")
    pixels = images.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64)
    eigvals, eigvecs = np.linalg.eigh(np.cov(pixels))
    order = np.argsort(eigvals)[::-1]
    return eigvals[order].astype(np.float32), eigvecs[:, order].astype(np.float32)
