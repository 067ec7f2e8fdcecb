"""Run directories as searches, sweeps and trainings leave them, written by hand for report tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def search_dir(path: Path, ops: list[str], lam: float, latency: float, acc: float | None, *, weights: bool,
               measurement: bool = True, summary: dict[str, Any] | None = None,
               cost: dict[str, Any] | None = None) -> Path:
    """A finished search of the tiny space; ``summary``/``cost`` add to its summary.json and its cost entry."""
    (path / "genotypes").mkdir(parents=True)
    for e in range(3):
        (path / "genotypes" / f"epoch_{e:03d}.json").write_text(json.dumps({"space": "tiny", "ops": ops[e:] + ops[:e]}))
    (path / "genotype.json").write_text(json.dumps({"space": "tiny", "ops": ops}))
    rows = [
        {"stage": 0, "epoch": e, "train_loss": 2.0 - 0.3 * e, "train_acc": 0.3 + 0.1 * e, "val_loss": 2.1 - 0.3 * e,
         "val_acc": 0.25 + 0.1 * e, "cost_term": lam * (3 - e), "derived_cost": {"tiny-lat": latency + 1 - e / 2},
         **({"arch_weights": {"alpha": [[0.1 * e, 0.0, -0.1 * e]] * 4}} if weights else {})}
        for e in range(3)
    ]  # fmt: skip
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    (path / "config.json").write_text(json.dumps({"search": {"space": "tiny", "lambda": lam, "seed": 0},
                                                  "costs": [{"name": "tiny-lat", "unit": "ms", "lambda": lam, **(cost or {})}]}))  # fmt: skip
    (path / "summary.json").write_text(json.dumps({"space": "tiny", "genotype": {"ops": ops},
                                                   "predicted_cost": {"tiny-lat": {"value": latency * 0.9, "unit": "ms"}},
                                                   **(summary or {})}))  # fmt: skip
    if measurement:
        (path / "measurement.json").write_text(json.dumps({"measurer": "cpu-timer", "median": latency, "unit": "ms",
                                                           "iqr": 0.1, "n": 20, "predicted": {"tiny-lat": latency * 0.9}}))  # fmt: skip
    torch.save({"supernet": {"alpha": torch.randn(4, 3), "w": torch.randn(3)}}, path / "checkpoint.pt")
    if acc is not None:
        (path / "train").mkdir()
        (path / "train" / "summary.json").write_text(json.dumps({"test_acc": acc, "params": 1234, "macs": 56789}))
        (path / "train" / "metrics.jsonl").write_text(
            "".join(json.dumps({"epoch": e + 1, "train_loss": 1.5 - 0.2 * e, "test_loss": 1.6 - 0.2 * e,
                                "train_acc": 40 + 5 * e, "test_acc": acc - 5 + 2.5 * e}) + "\n" for e in range(3)))  # fmt: skip
    return path
