"""DataLoader: batches of (images (B, C, H, W) float32, labels (B,) int64) from a dataset.

Each pass (epoch) over the loader draws all its randomness, the shuffle order first and then the
transforms batch by batch, from one generator np.random.default_rng(seed + epoch), where epoch
counts the passes started so far. So a seeded run is reproducible, and each epoch differs.

With prefetch=True one daemon thread prepares the next batch (indexing, transforms) while the
consumer trains on the current one; numpy releases the GIL in its heavy loops, so the two overlap.
The thread stops when the pass ends, when the consumer breaks out early or drops the iterator, and an
exception raised in it is re-raised in the consumer.
"""

import math
import queue
import threading

import numpy as np

_END = object()  # the worker's end-of-pass marker


class DataLoader:
    """Iterate over `dataset` in batches.

    dataset: len(dataset) samples; an ArrayDataset (or anything with get_batch(indices, rng)) is
    indexed a whole batch at a time, anything else through dataset[i] -> (image, label).
    transform: a batch transform called as transform(images, rng) after the dataset's own.
    to_tensor: optional callable applied to the images and to the labels array just before a batch
    is yielded, in the consumer's thread (e.g. pycnn.from_numpy).
    sampler: the indices to draw from, in order (e.g. DistributedSampler; then shuffle must be False);
    each pass calls its set_epoch(epoch) when it has one.
    len(loader) is the number of batches per pass.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 transform=None, prefetch=True, to_tensor=None, sampler=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.transform = transform
        self.prefetch = prefetch
        self.to_tensor = to_tensor
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        self.sampler = sampler
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch):
        """Make the next pass use seed + epoch (to resume a run at a given epoch)."""
        self.epoch = int(epoch)

    def __iter__(self):
        rng = np.random.default_rng(None if self.seed is None else self.seed + self.epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        batches = self._batches(rng)
        if self.prefetch:
            batches = _prefetched(batches)
        if self.to_tensor is None:
            return batches
        return ((self.to_tensor(images), self.to_tensor(labels)) for images, labels in batches)

    def _batches(self, rng):
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        else:
            n = len(self.dataset)
            order = rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._load(order[start:start + self.batch_size], rng)

    def _load(self, indices, rng):
        """indices (B,) -> (images (B, C, H, W) float32 contiguous, labels (B,) int64)."""
        if hasattr(self.dataset, "get_batch"):
            images, labels = self.dataset.get_batch(indices, rng)
        else:
            samples = [self.dataset[int(i)] for i in indices]
            images = np.stack([np.asarray(image) for image, _ in samples])
            labels = np.array([label for _, label in samples])
        if self.transform is not None:
            images = self.transform(images, rng)
        images = np.ascontiguousarray(images, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        if images.ndim != 4 or labels.shape != (images.shape[0],):
            raise ValueError(f"DataLoader: expected images (B, C, H, W) and labels (B,), got "
                             f"{images.shape} and {labels.shape}")
        return images, labels


def _prefetched(batches):
    """Run the `batches` generator one step ahead in a daemon thread; yield what it produces."""
    ready = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item):  # blocks until there is room, or gives up once the consumer has gone
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for batch in batches:
                if not put((None, batch)):
                    return
            put((None, _END))
        except BaseException as error:  # handed to the consumer, which re-raises it
            put((error, None))

    worker = threading.Thread(target=work, name="pycnn-data-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            error, batch = ready.get()
            if error is not None:
                raise error
            if batch is _END:
                return
            yield batch
    finally:
        stop.set()
        worker.join()
