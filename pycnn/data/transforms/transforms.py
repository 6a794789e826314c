"""Transform objects, as torchvision.transforms: each is called as ``transform(batch, rng=None)`` on
(N, C, H, W) float32 and returns a new float32 array. The random ones draw from ``rng`` (a numpy
Generator), else from their own generator seeded at construction; the work itself is done by the
batch operations of pycnn.data.transforms.functional.
"""
import numpy as np

from .functional import _as_batch, _grayscale, _need_rgb, _size_pair, crop, resize, rotate, translate

# AlexNet's PCA lighting noise constants for ImageNet RGB in [0, 1] (as used by fb.resnet.torch):
# eigenvalues of the RGB pixel covariance and the matching eigenvectors as columns.
IMAGENET_EIGVALS = np.array([0.2175, 0.0188, 0.0045], dtype=np.float32)
IMAGENET_EIGVECS = np.array([[-0.5675, 0.7192, 0.4009],
                             [-0.5808, -0.0045, -0.8140],
                             [-0.5836, -0.6948, 0.4203]], dtype=np.float32)


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
