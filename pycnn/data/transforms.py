"""Batch image transforms: augmentation and preprocessing on whole (N, C, H, W) float32 batches.

Every transform takes a batch `x` of shape (N, C, H, W), float32, values usually in [0, 1], and
returns a new float32 array (the input is never modified). Work is vectorised over the batch: no
Python loop over images or pixels. Geometric transforms use inverse mapping: for every output pixel
we compute where it comes from in the input and gather those pixels with one numpy fancy-index over
the whole batch.

Randomness is explicit. A random transform draws from the `rng` (np.random.Generator) passed to
`__call__(batch, rng)`; without one it uses its own generator built from `seed` at construction.
The DataLoader passes one generator per epoch, so a seeded run is reproducible.

Names that match torchvision behave like their namesakes, with these differences: transforms work
on batches, `RandomCrop.padding` is one int for all four sides, `RandomTranslation` is ours
(shifts in whole pixels), `ColorJitter` applies its adjustments in a fixed order (brightness,
contrast, saturation) instead of a random one, and `TenCrop` returns one stacked array.

Conventions:
- rows are y (downwards), columns are x (to the right);
- a positive rotation angle turns the image counter-clockwise (as torchvision and np.rot90), about
  the pixel-grid centre ((H - 1) / 2, (W - 1) / 2), so 90 degrees equals np.rot90(x, 1, axes=(2, 3));
- a positive translation (dx, dy) moves the content right and down.
"""

import numpy as np

# AlexNet's PCA lighting noise constants for ImageNet RGB in [0, 1] (as used by fb.resnet.torch):
# eigenvalues of the RGB pixel covariance and the matching eigenvectors as columns.
IMAGENET_EIGVALS = np.array([0.2175, 0.0188, 0.0045], dtype=np.float32)
IMAGENET_EIGVECS = np.array([[-0.5675, 0.7192, 0.4009],
                             [-0.5808, -0.0045, -0.8140],
                             [-0.5836, -0.6948, 0.4203]], dtype=np.float32)

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


class Compose:
    """Apply transforms in order, passing the same rng to each: Compose([RandomCrop(28, 2), ...])."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, batch, rng=None):
        for transform in self.transforms:
            batch = transform(batch, rng)
        return batch

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class RandomTransform:
    """Base of the random transforms: keeps a default generator built from `seed`."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def _generator(self, rng):
        return self._rng if rng is None else rng


class RandomCrop(RandomTransform):
    """Crop each image at its own random position, after zero-padding every side by `padding`.

    (N, C, H, W) -> (N, C, h, w). Draws, in this order, tops = rng.integers(0, H + 2p - h + 1, N)
    then lefts = rng.integers(0, W + 2p - w + 1, N), and returns crop(padded, tops, lefts, h, w).
    """

    def __init__(self, size, padding=0, seed=None):
        super().__init__(seed)
        self.size = _size_pair(size, "RandomCrop")
        if int(padding) != padding or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        self.padding = int(padding)

    def __call__(self, batch, rng=None):
        rng = self._generator(rng)
        batch = _as_batch(batch, "RandomCrop")
        p = self.padding
        if p:
            batch = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)))
        n, _, h, w = batch.shape
        out_h, out_w = self.size
        if out_h > h or out_w > w:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"size {(h, w)}")
        tops = rng.integers(0, h - out_h + 1, size=n)
        lefts = rng.integers(0, w - out_w + 1, size=n)
        return crop(batch, tops, lefts, out_h, out_w)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(RandomTransform):
    """Mirror each image left-right with probability p (one rng.random(N) draw per batch)."""

    def __init__(self, p=0.5, seed=None):
        super().__init__(seed)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, batch, rng=None):
        rng = self._generator(rng)
        batch = _as_batch(batch, "RandomHorizontalFlip")
        flip = rng.random(batch.shape[0]) < self.p
        return np.where(flip[:, None, None, None], batch[..., ::-1], batch)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class ColorShift(RandomTransform):
    """AlexNet's PCA lighting noise: add eigvecs @ (alpha * eigvals) to every pixel of an image.

    alpha ~ Normal(0, std), three numbers per image. eigvals (3,) and eigvecs (3, 3, one
    eigenvector per column) default to the ImageNet constants; compute your own with rgb_pca.
    Needs RGB: (N, 3, H, W) -> (N, 3, H, W). Values are not clipped.
    """

    def __init__(self, std=0.1, eigvals=IMAGENET_EIGVALS, eigvecs=IMAGENET_EIGVECS, seed=None):
        super().__init__(seed)
        self.std = std
        self.eigvals = np.asarray(eigvals, dtype=np.float32)
        self.eigvecs = np.asarray(eigvecs, dtype=np.float32)
        if self.eigvals.shape != (3,) or self.eigvecs.shape != (3, 3):
            raise ValueError(f"ColorShift: expected eigvals (3,) and eigvecs (3, 3), got "
                             f"{self.eigvals.shape} and {self.eigvecs.shape}")

    def __call__(self, batch, rng=None):
        rng = self._generator(rng)
        batch = _as_batch(batch, "ColorShift")
        _need_rgb(batch, "ColorShift")
        alpha = rng.normal(0.0, self.std, size=(batch.shape[0], 3)).astype(np.float32)
        shift = (alpha * self.eigvals) @ self.eigvecs.T  # (N, 3): row n is eigvecs @ (alpha_n * eigvals)
        return batch + shift[:, :, None, None]

    def __repr__(self):
        return f"ColorShift(std={self.std})"


def _factor_range(value, name):
    """torchvision's convention: v -> [max(0, 1 - v), 1 + v], or an explicit (low, high)."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        return None if value == 0 else (max(0.0, 1.0 - value), 1.0 + value)
    low, high = value
    if not 0 <= low <= high:
        raise ValueError(f"ColorJitter: {name} range must satisfy 0 <= low <= high, got {value}")
    return (float(low), float(high))


class ColorJitter(RandomTransform):
    """Random brightness, contrast and saturation per image, as torchvision, results in [0, 1].

    Each argument v draws a factor f in [max(0, 1 - v), 1 + v] (or pass (low, high)); 0 disables it.
    brightness: x * f; contrast: blend with the image's mean luma; saturation: blend with the
    image's luma (RGB only; a no-op on 1 channel). Applied in that fixed order. (N, C, H, W) -> same.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, seed=None):
        super().__init__(seed)
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")

    def __call__(self, batch, rng=None):
        rng = self._generator(rng)
        batch = _as_batch(batch, "ColorJitter")
        n, c = batch.shape[:2]
        if c not in (1, 3):
            raise ValueError(f"ColorJitter: expected 1 or 3 channels, got a batch of shape {batch.shape}")

        def factors(bounds):
            return rng.uniform(bounds[0], bounds[1], size=n).astype(np.float32)[:, None, None, None]

        if self.brightness:
            batch = np.clip(batch * factors(self.brightness), 0, 1)
        if self.contrast:
            luma = _grayscale(batch) if c == 3 else batch
            mean = luma.mean(axis=(1, 2, 3), keepdims=True)
            f = factors(self.contrast)
            batch = np.clip(f * batch + (1 - f) * mean, 0, 1)
        if self.saturation and c == 3:
            f = factors(self.saturation)
            batch = np.clip(f * batch + (1 - f) * _grayscale(batch), 0, 1)
        return batch.astype(np.float32, copy=False)

    def __repr__(self):
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation})")


class RandomRotation(RandomTransform):
    """Rotate each image counter-clockwise by an angle drawn uniformly from degrees.

    degrees: d (meaning [-d, d]) or (low, high). See rotate() for the geometry; (N, C, H, W) -> same.
    """

    def __init__(self, degrees, interpolation="bilinear", fill=0.0, seed=None):
        super().__init__(seed)
        if isinstance(degrees, (int, float)):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0 when a single number, got {degrees}")
            degrees = (-degrees, degrees)
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation = interpolation
        self.fill = fill

    def __call__(self, batch, rng=None):
        rng = self._generator(rng)
        batch = _as_batch(batch, "RandomRotation")
        angles = rng.uniform(self.degrees[0], self.degrees[1], size=batch.shape[0])
        return rotate(batch, angles, self.interpolation, self.fill)

    def __repr__(self):
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r})"


class RandomTranslation(RandomTransform):
    """Shift each image by whole pixels dx in [-max_dx, max_dx], dy in [-max_dy, max_dy].

    Draws dx = rng.integers(-max_dx, max_dx + 1, N) then dy likewise; see translate().
    """

    def __init__(self, max_dx, max_dy, fill=0.0, seed=None):
        super().__init__(seed)
        if int(max_dx) != max_dx or int(max_dy) != max_dy or max_dx < 0 or max_dy < 0:
            raise ValueError(f"RandomTranslation: max_dx and max_dy must be ints >= 0, "
                             f"got {max_dx!r}, {max_dy!r}")
        self.max_dx, self.max_dy = int(max_dx), int(max_dy)
        self.fill = fill

    def __call__(self, batch, rng=None):
        rng = self._generator(rng)
        batch = _as_batch(batch, "RandomTranslation")
        n = batch.shape[0]
        dx = rng.integers(-self.max_dx, self.max_dx + 1, size=n)
        dy = rng.integers(-self.max_dy, self.max_dy + 1, size=n)
        return translate(batch, dx, dy, "nearest", self.fill)

    def __repr__(self):
        return f"RandomTranslation(max_dx={self.max_dx}, max_dy={self.max_dy})"


class Grayscale:
    """RGB -> luma (0.2989 R + 0.587 G + 0.114 B), repeated to num_output_channels (1 or 3)."""

    def __init__(self, num_output_channels=1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got {num_output_channels}")
        self.num_output_channels = num_output_channels

    def __call__(self, batch, rng=None):
        batch = _as_batch(batch, "Grayscale")
        _need_rgb(batch, "Grayscale")
        return np.repeat(_grayscale(batch), self.num_output_channels, axis=1)

    def __repr__(self):
        return f"Grayscale(num_output_channels={self.num_output_channels})"


class Normalize:
    """out[:, c] = (x[:, c] - mean[c]) / std[c]; mean and std have one value per channel (or one)."""

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.ndim != 1 or np.any(self.std == 0):
            raise ValueError(f"Normalize: mean and std must be 1-D per-channel values with std != 0, "
                             f"got mean {self.mean.tolist()}, std {self.std.tolist()}")

    def __call__(self, batch, rng=None):
        batch = _as_batch(batch, "Normalize")
        c = batch.shape[1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values.size not in (1, c):
                raise ValueError(f"Normalize: {name} has {values.size} values, the batch has {c} channels")
        return (batch - self.mean[:, None, None]) / self.std[:, None, None]

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _center_offsets(batch, size, name):
    _, _, h, w = batch.shape
    out_h, out_w = size
    if out_h > h or out_w > w:
        raise ValueError(f"{name}: crop size {size} is larger than the image size {(h, w)}")
    # torchvision rounds the offset with Python's round().
    return int(round((h - out_h) / 2.0)), int(round((w - out_w) / 2.0))


class CenterCrop:
    """Cut the central (h, w) window of every image: (N, C, H, W) -> (N, C, h, w)."""

    def __init__(self, size):
        self.size = _size_pair(size, "CenterCrop")

    def __call__(self, batch, rng=None):
        batch = _as_batch(batch, "CenterCrop")
        top, left = _center_offsets(batch, self.size, "CenterCrop")
        return np.ascontiguousarray(batch[:, :, top:top + self.size[0], left:left + self.size[1]])

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class Resize:
    """Bilinear resize, as torchvision: size (h, w) is exact; an int sets the shorter side.

    With an int, the longer side becomes int(size * long / short). (N, C, H, W) -> (N, C, h, w).
    """

    def __init__(self, size, antialias=True):
        if isinstance(size, (int, np.integer)):
            if size <= 0:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size = int(size)
        else:
            self.size = _size_pair(size, "Resize")
        self.antialias = antialias

    def __call__(self, batch, rng=None):
        batch = _as_batch(batch, "Resize")
        size = self.size
        if isinstance(size, int):
            h, w = batch.shape[2:]
            size = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
        return resize(batch, size, self.antialias)

    def __repr__(self):
        return f"Resize(size={self.size}, antialias={self.antialias})"


class TenCrop:
    """AlexNet's test-time views: four corners and centre, then the same five of the mirrored batch.

    (N, C, H, W) -> (10, N, C, h, w), in torchvision's order: [top-left, top-right, bottom-left,
    bottom-right, centre] of the batch, then the same five crops of the flipped batch (so view 5 is
    the top-left crop of the mirrored image, i.e. the mirror of view 1). Flip is horizontal unless
    vertical_flip. To classify: logits = model(views.reshape(10 * N, C, h, w)), then average
    logits.reshape(10, N, K) over axis 0.
    """

    def __init__(self, size, vertical_flip=False):
        self.size = _size_pair(size, "TenCrop")
        self.vertical_flip = vertical_flip

    def _five_crop(self, batch):
        _, _, h, w = batch.shape
        out_h, out_w = self.size
        top, left = _center_offsets(batch, self.size, "TenCrop")
        corners = [(0, 0), (0, w - out_w), (h - out_h, 0), (h - out_h, w - out_w), (top, left)]
        return [batch[:, :, y:y + out_h, x:x + out_w] for y, x in corners]

    def __call__(self, batch, rng=None):
        batch = _as_batch(batch, "TenCrop")
        flipped = batch[..., ::-1, :] if self.vertical_flip else batch[..., ::-1]
        return np.stack(self._five_crop(batch) + self._five_crop(flipped))

    def __repr__(self):
        return f"TenCrop(size={self.size}, vertical_flip={self.vertical_flip})"
