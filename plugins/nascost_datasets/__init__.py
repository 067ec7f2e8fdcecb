"""nascost built-in plugin: datasets for search and training.

- ``cifar10`` / ``cifar100``: torchvision's, downloaded once into a cache
  directory (``$NASCOST_HOME/datasets``, else ``~/.cache/nascost/datasets``).
- ``imagefolder:PATH``: ``PATH/train/<class>/*.png`` and ``PATH/test/<class>/*.png``.
- ``digits``: scikit-learn's bundled 8x8 handwritten digits; offline, tiny,
  for quick starts and tests.
- ``synthetic``: random tensors with learnable class structure.

Training augmentation (``augment=True``) for the image datasets is the
DARTS-family references' CIFAR recipe: random crop with 4 pixels of zero
padding and a horizontal flip, then per-channel normalisation. Cutout is
applied by the trainer; :class:`Cutout` is offered here for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import TensorDataset

from nascost.datasets import Dataset
from nascost.errors import NascostError
from nascost.hookspecs import hookimpl

#: Per-channel statistics used by quark0/darts (utils._data_transforms_cifar10).
CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
#: The statistics PC-DARTS and P-DARTS use for CIFAR-100.
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def cache_dir() -> Path:
    """Where downloaded datasets live: ``$NASCOST_HOME/datasets`` or the user cache."""
    home = os.environ.get("NASCOST_HOME")
    if home:
        return Path(home) / "datasets"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "nascost" / "datasets"


class Cutout:
    """Zero one random ``length`` x ``length`` square of a CxHxW tensor (DeVries & Taylor).

    As quark0/darts ``utils.Cutout``: the centre is uniform over the image and
    the square is clipped at the borders.
    """

    def __init__(self, length: int, generator: torch.Generator | None = None) -> None:
        self.length = length
        self.generator = generator

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        y = int(torch.randint(h, (1,), generator=self.generator))
        x = int(torch.randint(w, (1,), generator=self.generator))
        y1, y2 = max(0, y - self.length // 2), min(h, y + self.length // 2)
        x1, x2 = max(0, x - self.length // 2), min(w, x + self.length // 2)
        img = img.clone()
        img[..., y1:y2, x1:x2] = 0.0
        return img


def image_transform(size: int, mean: tuple[float, ...], std: tuple[float, ...], augment: bool) -> Any:
    """The references' CIFAR transform: (crop 4-padded + flip when augmenting), tensor, normalise."""
    from torchvision import transforms

    steps: list[Any] = []
    if augment:
        steps += [transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


class _Cifar(Dataset):
    """Shared code of CIFAR-10 and CIFAR-100."""

    classes_: int = 10
    mean: tuple[float, ...] = CIFAR10_MEAN
    std: tuple[float, ...] = CIFAR10_STD

    class Options(Dataset.Options):
        root: str | None = None
        download: bool = True

    @property
    def num_classes(self) -> int:
        return self.classes_

    @property
    def input_size(self) -> int:
        return 32

    def _torchvision_class(self) -> Any:
        raise NotImplementedError

    def load(self, split: str, augment: bool = False) -> TorchDataset:
        _check_split(split)
        root = Path(self.options.root) if self.options.root else cache_dir()
        try:
            root.mkdir(parents=True, exist_ok=True)
            return self._torchvision_class()(
                str(root),
                train=split == "train",
                download=self.options.download,
                transform=image_transform(32, self.mean, self.std, augment and split == "train"),
            )
        except Exception as exc:  # URLError, socket errors, integrity errors, missing files
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise NascostError(
                f"cannot load dataset {self.name!r} from {root} ({reason}); without internet use "
                f"'--dataset imagefolder:PATH' (train/ and test/ class folders) or '--dataset digits'"
            ) from None


class Cifar10(_Cifar):
    """CIFAR-10 (torchvision; downloaded to the nascost cache on first use)."""

    name = "cifar10"

    def _torchvision_class(self) -> Any:
        from torchvision.datasets import CIFAR10

        return CIFAR10


class Cifar100(_Cifar):
    """CIFAR-100 (torchvision; downloaded to the nascost cache on first use)."""

    name = "cifar100"
    classes_ = 100
    mean = CIFAR100_MEAN
    std = CIFAR100_STD

    def _torchvision_class(self) -> Any:
        from torchvision.datasets import CIFAR100

        return CIFAR100


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")


class ImageFolder(Dataset):
    """Images in PATH/train/<class>/ and PATH/test/<class>/ (e.g. a CIFAR-10 subset)."""

    name = "imagefolder"
    takes_argument = True

    class Options(Dataset.Options):
        #: Resize images to this size; None keeps the size of the first training image.
        input_size: int | None = None
        #: Normalisation statistics (default: CIFAR-10's, as the references).
        mean: tuple[float, float, float] = CIFAR10_MEAN
        std: tuple[float, float, float] = CIFAR10_STD

    def __init__(self, options: Any = None, argument: str | None = None, **kwargs: Any) -> None:
        super().__init__(options, argument=argument, **kwargs)
        self.root = Path(argument or "")
        self.classes = self._check_layout()
        self._size: int | None = self.options.input_size

    def _check_layout(self) -> list[str]:
        where = f"imagefolder:{self.argument}"
        if not self.argument or not self.root.is_dir():
            raise NascostError(f"{where}: {str(self.root)!r} is not a directory")
        found: dict[str, list[str]] = {}
        for split in ("train", "test"):
            sub = self.root / split
            if not sub.is_dir():
                raise NascostError(
                    f"{where}: missing {split}/ folder; expected PATH/train/<class>/*.png and PATH/test/<class>/*.png"
                )
            classes = sorted(d.name for d in sub.iterdir() if d.is_dir())
            if not classes:
                raise NascostError(f"{where}: {split}/ has no class folders (expected {split}/<class>/*.png)")
            empty = [c for c in classes if not any(_is_image(p) for p in (sub / c).iterdir())]
            if empty:
                raise NascostError(f"{where}: {split}/{empty[0]}/ holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found[split] = classes
        if found["train"] != found["test"]:
            only = sorted(set(found["train"]) ^ set(found["test"]))
            raise NascostError(f"{where}: train/ and test/ have different class folders (differ in: {', '.join(only)})")
        return found["train"]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> int:
        if self._size is None:
            from PIL import Image

            first_class = self.root / "train" / self.classes[0]
            first = sorted(p for p in first_class.iterdir() if _is_image(p))[0]
            with Image.open(first) as img:
                self._size = int(min(img.size))
        return self._size

    def load(self, split: str, augment: bool = False) -> TorchDataset:
        from torchvision import transforms
        from torchvision.datasets import ImageFolder as TvImageFolder

        _check_split(split)
        size = self.input_size
        base = image_transform(size, self.options.mean, self.options.std, augment and split == "train")
        transform = transforms.Compose(
            [_to_rgb, transforms.Resize(size), transforms.CenterCrop(size), base]
        )
        return TvImageFolder(str(self.root / split), transform=transform, is_valid_file=lambda p: _is_image(Path(p)))


def _to_rgb(img: Any) -> Any:
    """Grey or palette images become 3-channel (a module-level function, so loaders can pickle it)."""
    return img.convert("RGB")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise NascostError(f"unknown split {split!r} (use 'train' or 'test')")


class Digits(Dataset):
    """scikit-learn's bundled 8x8 handwritten digits: offline, 1 channel, 10 classes."""

    name = "digits"

    class Options(Dataset.Options):
        #: Share of the 1,797 images held out as the test split (seeded, stratified).
        test_fraction: float = 0.2
        seed: int = 0

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def input_size(self) -> int:
        return 8

    @property
    def in_channels(self) -> int:
        return 1

    def load(self, split: str, augment: bool = False) -> TorchDataset:
        """Pixels scaled to [0, 1] and standardised with the training split's mean and std.

        ``augment`` adds nothing: flips and crops change what a digit means.
        """
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        _check_split(split)
        data = load_digits()
        x = data.images.astype(np.float32) / 16.0
        y = data.target.astype(np.int64)
        x_tr, x_te, y_tr, y_te = train_test_split(
            x, y, test_size=self.options.test_fraction, random_state=self.options.seed, stratify=y
        )
        mean, std = float(x_tr.mean()), float(x_tr.std())
        xs, ys = (x_tr, y_tr) if split == "train" else (x_te, y_te)
        xs = (xs - mean) / std
        return TensorDataset(torch.from_numpy(xs).unsqueeze(1), torch.from_numpy(ys))


class Synthetic(Dataset):
    """Random tensors with learnable class structure (a per-class pattern plus noise)."""

    name = "synthetic"

    class Options(Dataset.Options):
        size: int = 512
        test_size: int = 128
        classes: int = 10
        input_size: int = 16
        channels: int = 3
        #: Standard deviation of the noise around each class pattern (patterns have std 1).
        noise: float = 1.0
        seed: int = 0

    @property
    def num_classes(self) -> int:
        return self.options.classes

    @property
    def input_size(self) -> int:
        return self.options.input_size

    @property
    def in_channels(self) -> int:
        return self.options.channels

    def load(self, split: str, augment: bool = False) -> TorchDataset:
        """Deterministic: the same options give the same tensors; train and test share patterns."""
        _check_split(split)
        o = self.options
        gen = torch.Generator().manual_seed(o.seed)
        shape = (o.channels, o.input_size, o.input_size)
        patterns = torch.randn(o.classes, *shape, generator=gen)
        n = o.size if split == "train" else o.test_size
        split_gen = torch.Generator().manual_seed(o.seed * 1000 + (1 if split == "train" else 2))
        labels = torch.arange(n) % o.classes
        labels = labels[torch.randperm(n, generator=split_gen)]
        x = patterns[labels] + o.noise * torch.randn(n, *shape, generator=split_gen)
        return TensorDataset(x, labels)


@hookimpl
def register_datasets(register: Any) -> None:
    for cls in (Cifar10, Cifar100, ImageFolder, Digits, Synthetic):
        register(cls)
