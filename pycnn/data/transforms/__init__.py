"""Batch image transforms: augmentation and preprocessing on whole (N, C, H, W) float32 batches.

Every transform takes a batch `x` of shape (N, C, H, W), float32, values usually in [0, 1], and
returns a new float32 array (the input is never modified). Work is vectorised over the batch: no
Python loop over images or pixels. As in torchvision, the batch operations (hflip, crop, resize,
rotate, ...) are in functional.py and the transform objects built on them (RandomCrop, ColorJitter,
Normalize, ...) in transforms.py; both are importable from here.

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
from .functional import crop, hflip, resize, rgb_pca, rotate, translate, vflip
from .transforms import (IMAGENET_EIGVALS, IMAGENET_EIGVECS, CenterCrop, ColorJitter, ColorShift, Compose,
                         Grayscale, Normalize, RandomCrop, RandomHorizontalFlip, RandomRotation,
                         RandomTransform, RandomTranslation, Resize, TenCrop)
