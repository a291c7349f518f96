"""Fast in-memory batching: one indexing op per batch instead of per-sample collation."""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


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


def batch_loader(data: torch.Tensor, batch_size: int, *, shuffle: bool, num_samples: int | None = None,
                 num_workers: int = 0, pin_memory: bool = False, drop_last: bool = False) -> DataLoader:
    """A DataLoader over an in-memory tensor that yields whole batches.

    With ``shuffle`` and ``num_samples`` the loader draws ``num_samples`` indices as a run
    of reshuffled passes, so one "epoch" can span a whole training run.
    """
    ds = TensorImages(data)
    sampler = RandomSampler(ds, num_samples=num_samples) if shuffle else SequentialSampler(ds)
    return DataLoader(ds, sampler=BatchSampler(sampler, batch_size, drop_last=drop_last),
                      batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=num_workers > 0)
