"""Datasets for the data-pipeline tests: one odd sample among many, in every sample layout.

Factories (no arguments) serve ``shapetrace data tests.models.data_models:NAME``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

ODD_INDEX = 37


def image(index: int, odd_channels: int = 1, odd_index: int | None = ODD_INDEX) -> torch.Tensor:
    return torch.full((odd_channels if index == odd_index else 3, 8, 8), float(index))


class DictImages(Dataset):
    """64 samples ``{"image": (3, 8, 8), "label": int}``; index 37's image has ``odd_channels``."""

    def __init__(self, size: int = 64, odd_channels: int = 1, odd_index: int | None = ODD_INDEX) -> None:
        self.size, self.odd_channels, self.odd_index = size, odd_channels, odd_index

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        return {"image": image(index, self.odd_channels, self.odd_index), "label": index % 10}


class TupleImages(DictImages):
    def __getitem__(self, index: int) -> tuple:  # type: ignore[override]
        return image(index, self.odd_channels, self.odd_index), index % 10


@dataclasses.dataclass
class Sample:
    image: torch.Tensor
    label: int


def collate_samples(batch: list[Sample]) -> Sample:
    """A user's collate for dataclass samples: ``torch.stack`` of the images."""
    return Sample(torch.stack([sample.image for sample in batch]), torch.tensor([s.label for s in batch]))


class DataclassImages(DictImages):
    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return Sample(image(index, self.odd_channels, self.odd_index), index % 10)


class NestedImages(DictImages):
    def __getitem__(self, index: int) -> dict:
        return {"inputs": {"image": image(index, self.odd_channels, self.odd_index), "mask": torch.ones(8, 8)},
                "target": index % 10}


class Sentences(Dataset):
    """Token sequences of lengths 3 to 9: a variable length that needs padding."""

    def __init__(self, size: int = 64) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.arange(3 + index % 7)


def pad_collate(batch: list[torch.Tensor]) -> torch.Tensor:
    """The correct collate for ``Sentences``."""
    return pad_sequence(batch, batch_first=True)


def cat_collate(batch: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
    """A user's collate that concatenates images along a new batch axis with ``torch.cat``."""
    return torch.cat([item[0].unsqueeze(0) for item in batch])


class StreamOfImages(IterableDataset):
    """An iterable dataset whose 37th sample (counting from 0) is grayscale."""

    def __init__(self, size: int = 64) -> None:
        self.size = size

    def __iter__(self):
        for index in range(self.size):
            yield {"image": image(index)}


def odd_image_loader() -> DataLoader:
    """1,000 samples with a grayscale image at index 37, batches of 32 (short last batch: 8)."""
    return DataLoader(DictImages(1000), batch_size=32)


def sentence_dataset() -> Dataset:
    return Sentences(100)


def sharded_loader() -> DataLoader:
    dataset = DictImages(100, odd_index=None)
    return DataLoader(dataset, batch_size=8, sampler=DistributedSampler(dataset, num_replicas=3, rank=0))


def stream() -> IterableDataset:
    return StreamOfImages(64)


def not_data() -> int:
    return 3
