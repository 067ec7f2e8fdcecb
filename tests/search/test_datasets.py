"""The datasets plugin: digits, synthetic, imagefolder, cifar (offline failure mocked)."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from nascost import plugins
from nascost.errors import NascostError


def test_digits_is_offline_single_channel_and_split_deterministically() -> None:
    ds = plugins.get_dataset("digits")
    assert (ds.num_classes, ds.input_size, ds.in_channels) == (10, 8, 1)
    train, test = ds.load("train"), ds.load("test")
    assert len(train) + len(test) == 1797 and len(test) == 360
    x, y = train[0]
    assert x.shape == (1, 8, 8) and 0 <= int(y) < 10
    again = plugins.get_dataset("digits").load("test")
    assert torch.equal(test.tensors[0], again.tensors[0])
    assert abs(float(train.tensors[0].mean())) < 1e-4  # standardised with the training statistics


def test_synthetic_has_learnable_structure_and_options() -> None:
    ds = plugins.get_dataset("synthetic", {"size": 200, "test_size": 100, "classes": 4, "input_size": 6, "channels": 2})
    train, test = ds.load("train"), ds.load("test")
    assert len(train) == 200 and len(test) == 100 and train[0][0].shape == (2, 6, 6)
    xs, ys = train.tensors
    centroids = torch.stack([xs[ys == c].mean(0) for c in range(4)])
    xt, yt = test.tensors
    pred = torch.cdist(xt.flatten(1), centroids.flatten(1)).argmin(1)
    assert float((pred == yt).float().mean()) > 0.9  # far above chance (0.25)
    assert torch.equal(ds.load("train").tensors[0], xs)


def _png(path: Path, value: int, size: int = 10) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size, size, 3), value, dtype=np.uint8)
    Image.fromarray(arr).save(path)


def test_imagefolder_reads_train_and_test_class_folders(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for c, value in (("cat", 20), ("dog", 220)):
            for i in range(3):
                _png(tmp_path / split / c / f"{i}.png", value)
    ds = plugins.get_dataset(f"imagefolder:{tmp_path}")
    assert ds.num_classes == 2 and ds.input_size == 10 and ds.in_channels == 3
    train = ds.load("train", augment=True)
    assert len(train) == 6
    x, y = train[0]
    assert x.shape == (3, 10, 10) and y in (0, 1)
    test = ds.load("test")
    dark, _ = test[0]
    bright, _ = test[5]
    assert float(dark.mean()) < float(bright.mean())


def test_imagefolder_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(NascostError, match="not a directory"):
        plugins.get_dataset(f"imagefolder:{tmp_path / 'nope'}")
    _png(tmp_path / "train" / "cat" / "0.png", 10)
    with pytest.raises(NascostError, match="missing test/"):
        plugins.get_dataset(f"imagefolder:{tmp_path}")
    _png(tmp_path / "test" / "dog" / "0.png", 10)
    with pytest.raises(NascostError, match="different class folders"):
        plugins.get_dataset(f"imagefolder:{tmp_path}")
    (tmp_path / "test" / "cat").mkdir()
    (tmp_path / "train" / "dog").mkdir()
    _png(tmp_path / "train" / "dog" / "0.png", 10)
    with pytest.raises(NascostError, match="holds no images"):
        plugins.get_dataset(f"imagefolder:{tmp_path}")
    with pytest.raises(NascostError, match="needs an argument"):
        plugins.get_dataset("imagefolder")


def test_cifar10_offline_failure_suggests_alternatives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    ds = plugins.get_dataset("cifar10")
    with pytest.raises(NascostError) as info:
        ds.load("train")
    msg = str(info.value)
    assert "imagefolder:PATH" in msg and "digits" in msg and "\n" not in msg
    # the cache lives under NASCOST_HOME (set per test by conftest)
    assert "datasets" in msg


def test_cutout_zeroes_a_square() -> None:
    from nascost_datasets import Cutout

    img = torch.ones(3, 16, 16)
    out = Cutout(8, generator=torch.Generator().manual_seed(0))(img)
    zeros = int((out == 0).all(0).sum())
    assert 0 < zeros <= 64 and torch.equal(img, torch.ones(3, 16, 16))
