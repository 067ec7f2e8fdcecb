"""Transfer between devices: ten target rows plus full campaigns of other devices.

The devices are the synthetic NAS-Bench-201 tables of ``tests/tables/conftest.py``
(three devices on 300 cells, two on every cell): costs near-additive in the
operations with device-specific per-operation costs, so devices rank alike
but not identically, as real ones do.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from nb201_tables import DEVICES, cell_costs, write_csv
from scipy import stats

from nascost import plugins
from nascost.data import import_table
from nascost.fit import load_data
from nascost.tables import read_table
from nascost.transfer import Source, d_optimal, fit_transfer, load_sources, plan_architectures

FAST = {"epochs": 40, "finetune_steps": 60}


@pytest.fixture
def three_devices(tmp_path, device_table, nb201):
    """A database with the three synthetic devices (300 cells each) imported."""
    db = tmp_path / "src.db"
    import_table(read_table(device_table, nb201), db, space=nb201, setting=nb201.setting("cifar10"))
    return db


def _target(tmp_path, nb201, cells, per_op, n=10, seed=0, name="newdev"):
    """A database holding ``n`` rows of a new device (other per-operation costs)."""
    values = cell_costs(nb201, cells, per_op)
    idx = np.random.default_rng(seed).choice(len(cells), n, replace=False)
    path = write_csv(tmp_path / f"{name}.csv", ["arch_str", name],
                     [[nb201.format_arch(cells[i]), f"{values[i]:.4f}"] for i in idx])
    db = tmp_path / f"{name}.db"
    import_table(read_table(path, nb201), db, space=nb201, setting=nb201.setting("cifar10"))
    return db, values


@pytest.mark.parametrize("method", ["mixture", "embedding", "ridge", "finetune"])
def test_every_method_ranks_a_new_device_from_ten_rows(tmp_path, three_devices, nb201, cells, method) -> None:
    target_db, truth = _target(tmp_path, nb201, cells, [0.15, 0.35, 1.8, 4.0, 1.1])
    data = load_data(target_db, space="nb201")
    model, meta, report = fit_transfer(data, [str(three_devices)], space=nb201,
                                       options={"method": method, **FAST})
    with torch.no_grad():
        pred = model.predict(nb201.encode(cells)).numpy()
    rho = stats.spearmanr(pred, truth).statistic
    assert rho > 0.85, f"{method}: Spearman {rho:.3f}"
    assert np.all(pred > 0)
    assert [s["name"] for s in meta.sources] == [f"src.db:{d}" for d in DEVICES]
    assert meta.n_train == 10 and meta.predictor == "transfer" and meta.device.name == "newdev"
    assert report["leave_one_out"]["n"] == 10 and "loo_spearman" in meta.metrics
    assert report["closest_source"]["spearman"] > 0.5 and not report["warnings"]
    # an ordinary, code-free predictor file that predicts the same after loading
    from nascost.cost import load_cost
    from nascost.predict import save_predictor

    path = save_predictor(model, tmp_path / "t.nascost", meta)
    loaded, meta2 = load_cost(path, space=nb201)
    assert torch.allclose(loaded.predict(nb201.encode(cells[:20])), model.predict(nb201.encode(cells[:20])))
    assert meta2.sources == meta.sources
    # differentiable in the encoding (the search's straight-through estimator needs it)
    enc = nb201.encode(cells[:4]).requires_grad_(True)
    loaded.predict(enc).sum().backward()
    assert enc.grad is not None and enc.grad.abs().sum() > 0


def test_a_device_unlike_every_source_is_warned_about(tmp_path, three_devices, nb201, cells) -> None:
    values = cell_costs(nb201, cells, DEVICES["phone"])
    rng = np.random.default_rng(1)
    idx = rng.choice(len(cells), 12, replace=False)
    scrambled = rng.permutation(values[idx])  # costs that no source's ranking explains
    path = write_csv(tmp_path / "odd.csv", ["arch_str", "odd"],
                     [[nb201.format_arch(cells[i]), f"{v:.4f}"] for i, v in zip(idx, scrambled, strict=True)])
    db = tmp_path / "odd.db"
    import_table(read_table(path, nb201), db, space=nb201, setting=nb201.setting("cifar10"))
    _, _, report = fit_transfer(load_data(db, space="nb201"), [str(three_devices)], space=nb201, options=FAST)
    assert report["warnings"] and "unlike every source" in " ".join(report["warnings"])


def test_fit_transfer_from_the_cli_stores_an_ordinary_cost(run_cli, tmp_path, three_devices, nb201, cells) -> None:
    target_db, _truth = _target(tmp_path, nb201, cells, [0.15, 0.35, 1.8, 4.0, 1.1])
    code, out, err = run_cli("fit", "--db", str(target_db), "--transfer-from", f"{three_devices}:phone",
                             "--transfer-from", f"{three_devices}:gpu", "--opt", "epochs=40", "--as-cost", "new-t")
    assert code == 0, err
    assert "transferred from 2 source(s) with 10 target rows (method mixture)" in out
    assert "leave-one-out on the target rows: Spearman" in out and "closest source: src.db:" in out
    listed = tmp_path / "archs.txt"
    listed.write_text("# two cells\n" + nb201.format_arch(cells[0]) + "\n\nresnet\n")
    code, out, err = run_cli("predict", "--cost", "new-t", "--space", "nb201", nb201.format_arch(cells[5]),
                             "--file", str(listed), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert [p["arch"] for p in res["predictions"]][1:] == [nb201.format_arch(cells[0]),
                                                          nb201.format_arch(nb201.resolve("resnet"))]
    assert res["sources"] == ["src.db:phone", "src.db:gpu"] and all(p["predicted"] > 0 for p in res["predictions"])
    # bad input: one line, exit 2
    listed.write_text("|nope~0|\n")
    code, _, err = run_cli("predict", "--cost", "new-t", "--space", "nb201", "--file", str(listed))
    assert code == 2 and "archs.txt line 1" in err
    code, _, err = run_cli("predict", "--cost", "missing-cost", "--space", "nb201", "resnet")
    assert code == 2 and "no cost 'missing-cost'" in err
    code, _, err = run_cli("fit", "--db", str(target_db), "--transfer-from", f"{three_devices}:watch")
    assert code == 2 and "no device 'watch'" in err
    code, _, err = run_cli("fit", "--db", str(target_db), "--predictor", "lpm", "--transfer-from", str(three_devices))
    assert code == 2 and "transfers between devices" in err


def test_a_cost_store_name_is_a_source(run_cli, tmp_path, three_devices, nb201, cells) -> None:
    assert run_cli("fit", "--db", str(three_devices), "--device", "gpu", "--predictor", "ridge",
                   "--as-cost", "gpu-ridge")[0] == 0
    sources = load_sources("gpu-ridge", nb201)
    assert len(sources) == 1 and sources[0].name == "cost:gpu-ridge" and len(sources[0].y) == 15625
    target_db, truth = _target(tmp_path, nb201, cells, [0.15, 0.35, 1.8, 4.0, 1.1])
    model, meta, _ = fit_transfer(load_data(target_db, space="nb201"), "gpu-ridge", space=nb201, options=FAST)
    with torch.no_grad():
        rho = stats.spearmanr(model.predict(nb201.encode(cells)).numpy(), truth).statistic
    assert rho > 0.85 and meta.sources[0]["cost"] == "gpu-ridge"


def test_d_optimal_design_picks_spread_rows() -> None:
    f = np.array([[1, 0.0], [1, 0.1], [1, -0.1], [1, 5.0], [1, -5.0], [1, 0.05]])
    assert sorted(d_optimal(f, 2)) == [3, 4]
    assert 0 not in d_optimal(f, 3, exclude={0})


def test_collect_plan_transfer_is_deterministic_and_resumable(run_cli, tmp_path, device_table, full_tables,
                                                              nb201) -> None:
    latency, _ = full_tables
    src_db = tmp_path / "src.db"  # 300 cells of a phone; the plan chooses among all 15,625
    import_table(read_table(device_table, nb201, columns=["phone"]), src_db, space=nb201,
                 setting=nb201.setting("cifar10"))
    target = tmp_path / "gpu.db"
    args = ["collect", "--space", "nb201", "--plan", "transfer", "--transfer-from", str(src_db), "--n", "8",
            "--db", str(target), "--measurer", "table", "--opt", f"path={latency}", "--opt", "device=gpu",
            "--quiet", "--json"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert json.loads(out)["measured"] == 8
    code, out, err = run_cli(*args)
    summary = json.loads(out)
    assert code == 0 and summary["measured"] == 0 and summary["already_present"] == 8
    planned = plan_architectures(nb201, load_sources(str(src_db), nb201), 8)
    assert {a.key() for a in planned} == set(load_data(target, space="nb201").keys)
    code, _, err = run_cli("collect", "--space", "nb201", "--plan", "transfer", "--n", "8", "--db", str(target),
                           "--measurer", "table", "--opt", f"path={latency}", "--opt", "device=gpu")
    assert code == 2 and "--transfer-from" in err


def test_transfer_works_in_another_space(register_plugin, tmp_path) -> None:
    """The toy chain space of the measurement tests: a campaign at one size transfers to another."""
    from measure.fakes import CostModelMeasurer, ToyPlugin

    from nascost.collect import run_campaign

    register_plugin(ToyPlugin, "toy-transfer")
    space = plugins.get_space("toy")
    db = tmp_path / "toy.db"
    run_campaign(db, space=space, measurer=CostModelMeasurer(), setting="tiny", n=256, seed=0, progress=False,
                 reference_every=0)
    target_db = tmp_path / "toy-small.db"
    run_campaign(target_db, space=space, measurer=CostModelMeasurer(), setting="small", n=10, seed=5,
                 progress=False, reference_every=0)
    model, meta, _report = fit_transfer(load_data(target_db, space="toy"), str(db), space=space, options=FAST)
    truth = load_data(db, space="toy")  # at the small setting the costs scale but rank alike
    with torch.no_grad():
        pred = model.predict(space.encode(truth.archs)).numpy()
    assert stats.spearmanr(pred, truth.values).statistic > 0.9
    assert meta.setting.name == "small" and meta.sources[0]["setting"] == "tiny"


def test_sources_without_positive_costs_are_refused(nb201, cells) -> None:
    x = nb201.encode(cells[:20])
    bad = [Source(name="zero", x=x, y=torch.zeros(20), unit="ms")]
    model = plugins.get_predictor("transfer", FAST)
    with pytest.raises(Exception, match="positive costs"):
        model.fit(x[:5], torch.ones(5), sources=bad, space=nb201)
