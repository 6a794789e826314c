"""DistributedSampler: each rank's share of a data set's indices (torch.utils.data's, same numbers).

With ``shuffle`` the order is a permutation drawn from seed + epoch (numpy's generator, so the same
on every rank, but not torch's permutation); without it, 0..N-1. The order is padded to a multiple
of the number of replicas by repeating its first indices (or cut to one, with ``drop_last``), and
rank r takes every num_replicas-th index starting at r: the shards are disjoint and their union is
the data set. ``set_epoch(e)`` changes the shuffle; DataLoader(sampler=...) calls it at every pass.
"""
import math

import numpy as np


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"DistributedSampler: {what} must be an int, got {type(value).__name__}")
    return int(value)


class DistributedSampler:
    """Indices of ``dataset`` for replica ``rank`` of ``num_replicas`` (defaults: the default process
    group's rank and world size). Iterating yields ``len(self)`` indices."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from ..distributed import get_rank, get_world_size

            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        num_replicas, rank = _positive_int(num_replicas, "num_replicas"), _positive_int(rank, "rank")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = bool(shuffle), _positive_int(seed, "seed"), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Shuffle differently for epoch ``epoch`` (the same way on every rank)."""
        self.epoch = _positive_int(epoch, "epoch")

    def indices(self):
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if not self.drop_last:
            padding = self.total_size - n
            if padding > 0:
                order = np.concatenate([order, np.resize(order, padding)])  # repeats the head as often as needed
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())
