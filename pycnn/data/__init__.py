"""pycnn.data: datasets, batch augmentation and a prefetching DataLoader, in numpy.

Images are float32 (N, C, H, W) in [0, 1], labels int64 (N,). Nothing here depends on the rest of
pycnn; DataLoader(to_tensor=pycnn.from_numpy) hands batches to the engine.
"""

from . import transforms
from .datasets import (CIFAR10_CLASSES, ArrayDataset, load_cifar10, load_digits_8x8, load_image_folder,
                       load_mnist, load_mnist_sample, read_cifar_batch, read_idx, split)
from .distributed import DistributedSampler
from .loader import DataLoader

__all__ = ["ArrayDataset", "CIFAR10_CLASSES", "DataLoader", "DistributedSampler", "load_cifar10", "load_digits_8x8",
           "load_image_folder", "load_mnist", "load_mnist_sample", "read_cifar_batch", "read_idx",
           "split", "transforms"]
