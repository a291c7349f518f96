"""Fast in-memory batching: one indexing op per batch instead of per-sample collation."""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler


def as_float(data: torch.Tensor) -> torch.Tensor:
    """Dataset tensors as the model sees them: uint8 images scaled to [0, 1], vectors as they are."""
    return data.float().div_(255.0) if data.dtype == torch.uint8 else data


class TensorImages(Dataset):
    """A tensor of samples indexed by a whole list of indices at once.

    ``uint8`` images are scaled to float in [0, 1] per batch, so a dataset stays compact.
    """

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: list[int] | int) -> torch.Tensor:
        return as_float(self.data[index])


class TensorIndices(Dataset):
    """The indices of a dataset of ``n`` rows, batched like :class:`TensorImages` (same sampler, same
    order): a graphed run gathers the rows on the device (maskaae_cli/graphed_step.py)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: list[int] | int) -> torch.Tensor:
        return torch.as_tensor(index, dtype=torch.long)


class ShardedRandomSampler(Sampler[int]):
    """One process's share of reshuffled passes over ``range(n)`` (distributed training).

    Every process draws the same permutations (from ``seed``) and keeps every
    ``world_size``-th index starting at ``rank``, so within a pass the processes see
    disjoint samples; it yields ``num_samples`` indices, passing over the data as often
    as that takes.
    """

    def __init__(self, n: int, num_samples: int, rank: int, world_size: int, seed: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.n, self.num_samples = n, num_samples
        self.rank, self.world_size, self.seed = rank, world_size, seed

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):  # noqa: ANN204
        g = torch.Generator().manual_seed(self.seed)
        left = self.num_samples
        while left > 0:
            share = torch.randperm(self.n, generator=g)[self.rank :: self.world_size][:left]
            left -= len(share)
            yield from share.tolist()


def batch_loader(data: torch.Tensor, batch_size: int, *, shuffle: bool, num_samples: int | None = None,
                 num_workers: int = 0, pin_memory: bool = False, drop_last: bool = False,
                 shard: tuple[int, int, int] | None = None, indices: bool = False) -> DataLoader:
    """A DataLoader over an in-memory tensor that yields whole batches.

    With ``shuffle`` and ``num_samples`` the loader draws ``num_samples`` indices as a run
    of reshuffled passes, so one "epoch" can span a whole training run. ``shard`` =
    ``(rank, world_size, seed)`` gives each process of a distributed run its own share.
    ``indices``: yield the rows' indices instead of the rows (the same ones, in the same order).
    """
    ds: Dataset = TensorIndices(len(data)) if indices else TensorImages(data)
    if shard is not None and shuffle:
        sampler: Sampler[int] = ShardedRandomSampler(len(ds), num_samples or len(ds), *shard)
    else:
        sampler = RandomSampler(ds, num_samples=num_samples) if shuffle else SequentialSampler(ds)
    return DataLoader(ds, sampler=BatchSampler(sampler, batch_size, drop_last=drop_last),
                      batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=num_workers > 0)
