"""Datasets for search and training: a train and a test split of images.

A dataset name may carry an argument after a colon (``imagefolder:PATH``);
the registry looks up the part before the colon and passes the rest as
``argument``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch.utils.data import Dataset as TorchDataset

from nascost.base import Plugin


class Dataset(Plugin, ABC):
    """An image-classification dataset with train and test splits."""

    #: True if the name takes an argument (``imagefolder:PATH``).
    takes_argument: ClassVar[bool] = False

    def __init__(self, options=None, argument: str | None = None, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.argument = argument

    @classmethod
    def kind_label(cls) -> str:
        return "dataset"

    @abstractmethod
    def load(self, split: str, augment: bool = False) -> TorchDataset:
        """``split`` is "train" or "test"; items are ``(image tensor CxHxW, label)``."""

    @property
    @abstractmethod
    def num_classes(self) -> int: ...

    @property
    @abstractmethod
    def input_size(self) -> int: ...

    @property
    def in_channels(self) -> int:
        return 3
