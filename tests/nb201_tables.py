"""Small NAS-Bench-201 tables made on the spot (fixtures for tests/tables and tests/transfer).

Devices with known costs, and accuracies.

Costs are built to be close to, not exactly, additive in the operations (a
per-operation cost per device plus a topology term), so rank-based checks
have something to find; accuracies rise with convolutions and fall with
``none`` edges, like the real benchmark's.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from nascost import plugins
from nascost_nb201.cell import effective_edges

DEVICES = {"phone": [0.2, 0.3, 2.0, 5.0, 1.0], "gpu": [0.1, 0.2, 0.6, 1.0, 0.5], "cpu": [0.1, 0.4, 1.5, 3.0, 1.2]}


def cell_costs(space, archs, per_op: list[float]) -> np.ndarray:
    enc = space.encode(archs).numpy().reshape(len(archs), 6, 5)
    counts = enc.sum(1)
    live = np.array([len(effective_edges(space.cell(a))) for a in archs])
    return 3.0 + counts @ np.asarray(per_op) + 0.4 * live


def accuracies(space, archs) -> np.ndarray:
    enc = space.encode(archs).numpy().reshape(len(archs), 6, 5)
    counts = enc.sum(1)
    return 60.0 + 5.0 * counts[:, 3] + 3.0 * counts[:, 2] + 1.0 * counts[:, 1] - 4.0 * counts[:, 0]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def nb201():
    return plugins.get_space("nb201")


@pytest.fixture(scope="session")
def cells(nb201):
    """300 distinct cells, always including the all-conv and all-none cells."""
    archs = {a.key(): a for a in nb201.sample_many(400, 7)}
    for name in ("all-conv3x3", "resnet"):
        a = nb201.resolve(name)
        archs[a.key()] = a
    return list(archs.values())[:300]


@pytest.fixture(scope="session")
def device_table(tmp_path_factory, nb201, cells) -> Path:
    """``latency.csv.gz``: arch_str plus one column per device of :data:`DEVICES` (ms)."""
    cols = {d: cell_costs(nb201, cells, per_op) for d, per_op in DEVICES.items()}
    rows = [[nb201.format_arch(a), *(f"{cols[d][i]:.4f}" for d in DEVICES)] for i, a in enumerate(cells)]
    return write_csv(tmp_path_factory.mktemp("tables") / "latency.csv.gz", ["arch_str", *DEVICES], rows)


@pytest.fixture(scope="session")
def accuracy_table(tmp_path_factory, nb201, cells) -> Path:
    acc = accuracies(nb201, cells)
    rows = [[nb201.format_arch(a), f"{acc[i]:.2f}", f"{acc[i] - 20:.2f}"] for i, a in enumerate(cells)]
    return write_csv(tmp_path_factory.mktemp("acc") / "accuracy.csv", ["arch_str", "cifar10_test", "cifar100_test"], rows)


@pytest.fixture(scope="session")
def full_tables(tmp_path_factory, nb201) -> tuple[Path, Path]:
    """Every one of the 15,625 cells: a two-device table (``phone``, ``gpu``) and an accuracy table."""
    archs = list(nb201.enumerate())
    root = tmp_path_factory.mktemp("full")
    phone, gpu = cell_costs(nb201, archs, DEVICES["phone"]), cell_costs(nb201, archs, DEVICES["gpu"])
    acc = accuracies(nb201, archs)
    names = [nb201.format_arch(a) for a in archs]
    lat = write_csv(root / "latency.csv", ["arch_str", "phone", "gpu"],
                    [[n, f"{p:.4f}", f"{g:.4f}"] for n, p, g in zip(names, phone, gpu, strict=True)])
    accp = write_csv(root / "accuracy.csv", ["arch_str", "cifar10_test"],
                     [[n, f"{a:.2f}"] for n, a in zip(names, acc, strict=True)])
    return lat, accp
