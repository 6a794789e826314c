"""DistributedSampler against torch.utils.data.DistributedSampler, and DataLoader(sampler=...)."""
import numpy as np
import pytest
import torch.utils.data

from pycnn import data


class _Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


@pytest.mark.parametrize("n", [1, 2, 7, 10, 23])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_shards_match_torch(n, replicas, drop_last):
    for rank in range(replicas):
        ours = data.DistributedSampler(_Sized(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = torch.utils.data.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("n, replicas", [(10, 3), (23, 4), (2, 5), (64, 8)])
def test_shuffled_shards_cover_the_data_set_and_set_epoch_reshuffles(n, replicas):
    shards = [list(data.DistributedSampler(_Sized(n), replicas, r, seed=5)) for r in range(replicas)]
    assert len({len(s) for s in shards}) == 1  # equal shards: every rank takes as many steps
    everything = sorted(i for s in shards for i in s)
    assert set(everything) == set(range(n))  # the union is the data set
    assert len(everything) == -(-n // replicas) * replicas  # padded by repeating, as torch
    sampler = data.DistributedSampler(_Sized(n), replicas, 0, seed=5)
    first = list(sampler)
    assert list(sampler) == first  # the same epoch gives the same order
    sampler.set_epoch(1)
    if n > 3:
        assert list(sampler) != first
    dropped = [list(data.DistributedSampler(_Sized(n), replicas, r, seed=5, drop_last=True)) for r in range(replicas)]
    flat = [i for s in dropped for i in s]
    assert len(flat) == len(set(flat)) == (n // replicas) * replicas  # no repeats, the tail dropped


def test_data_loader_takes_a_sampler_and_sets_its_epoch():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    dataset = data.ArrayDataset(images, np.arange(10))
    seen = []
    for rank in range(2):
        sampler = data.DistributedSampler(dataset, num_replicas=2, rank=rank, seed=1)
        loader = data.DataLoader(dataset, batch_size=2, sampler=sampler, prefetch=False)
        assert len(loader) == 3
        epoch0 = [labels.tolist() for _, labels in loader]
        epoch1 = [labels.tolist() for _, labels in loader]
        assert sampler.epoch == 1 and epoch0 != epoch1
        seen.append(sum(epoch0, []))
    assert sorted(seen[0] + seen[1]) == list(range(10))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        data.DataLoader(dataset, sampler=sampler, shuffle=True)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval \[0, 1\]"):
        data.DistributedSampler(_Sized(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        data.DistributedSampler(_Sized(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank must be an int"):
        data.DistributedSampler(_Sized(4), num_replicas=2, rank=1.0)
    # Without a process group, a world of one: the whole data set.
    assert list(data.DistributedSampler(_Sized(3), shuffle=False)) == [0, 1, 2]
