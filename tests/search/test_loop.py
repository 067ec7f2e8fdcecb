"""The search loop end to end on the chain supernet and digits: outputs, orders, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nascost.architect import Architect
from nascost.errors import NascostError
from nascost.search import (
    CHECKPOINT,
    ResolvedCost,
    SearchConfig,
    SearchInterrupted,
    run_search,
    weight_margins,
)
from search.fakes import OPS, ChainSpace, LinearCost

BASE = {"space": "chain", "dataset": "digits", "epochs": 2, "max_steps": 4, "batch_size": 16}


def search(out: Path, *, costs: bool = True, **options) -> object:
    cfg = SearchConfig.build({**BASE, "costs": ["fake-linear"] if costs else [], **options})
    resolved = [ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")] if costs else []
    return run_search(cfg, out, costs=resolved, space=ChainSpace(), show_progress=False, **_run_kwargs(options))


def _run_kwargs(options: dict) -> dict:
    return {}


def test_outputs_are_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = search(out, **{"lambda": 0.2})
    assert (out / "genotype.json").is_file()
    geno = json.loads((out / "genotype.json").read_text())
    assert geno["space"] == "chain" and len(geno["ops"]) == 3
    assert sorted(p.name for p in (out / "genotypes").iterdir()) == ["epoch_000.json", "epoch_001.json"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "cost_term", "derived_cost", "alpha_entropy", "epoch_time"):
        assert key in rows[0]
    assert rows[0]["cost_term"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["search"]["batch_size"] == 16 and config["search"]["learning_rate"] == 0.05
    assert config["costs"][0]["lambda"] == 0.2
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 2
    assert result.predicted["fake-linear"] == pytest.approx(
        float(LinearCost().predict(ChainSpace().encode([result.architecture]))[0])
    )


def expected_cost(out: Path) -> float:
    alpha = torch.load(out / CHECKPOINT, weights_only=True)["supernet"]["alpha"]
    return float(torch.softmax(alpha, -1).reshape(-1) @ LinearCost().weights + 1.0)


def test_cost_term_moves_search_to_cheaper_architectures(tmp_path: Path) -> None:
    opts = {"arch_learning_rate": 0.05, "epochs": 2, "max_steps": 8}
    search(tmp_path / "plain", costs=False, **opts)
    costly = search(tmp_path / "costly", **{"lambda": 1.0, **opts})
    assert expected_cost(tmp_path / "costly") < expected_cost(tmp_path / "plain") - 0.5
    assert costly.architecture.spec["ops"] == ["skip"] * 3


def test_refuses_non_empty_out_dir_and_resume_without_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    with pytest.raises(NascostError, match="not empty"):
        search(out)
    assert (out / "precious.txt").read_text() == "keep"
    cfg = SearchConfig.build({**BASE})
    with pytest.raises(NascostError, match="cannot resume"):
        run_search(cfg, out, space=ChainSpace(), resume=True, show_progress=False)


def test_resume_after_interruption_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    full = tmp_path / "full"
    search(full, epochs=3)
    part = tmp_path / "part"
    cfg = SearchConfig.build({**BASE, "epochs": 3, "costs": ["fake-linear"]})
    costs = [ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")]

    def stop(row: dict) -> None:
        if row["epoch"] == 1:
            raise SearchInterrupted

    with pytest.raises(SearchInterrupted):
        run_search(cfg, part, costs=costs, space=ChainSpace(), show_progress=False, on_epoch_end=stop)
    assert not (part / "genotype.json").exists()
    # a kill while writing the next metrics row leaves a partial line: resume drops it
    with open(part / "metrics.jsonl", "a") as f:
        f.write('{"stage": 0, "epo')
    run_search(cfg, part, costs=costs, space=ChainSpace(), show_progress=False, resume=True)
    a = torch.load(full / CHECKPOINT, weights_only=True)["supernet"]
    b = torch.load(part / CHECKPOINT, weights_only=True)["supernet"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    rows_full = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()]
    rows_part = [json.loads(line) for line in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows_part] == [0, 1, 2]
    assert [r["train_loss"] for r in rows_part] == pytest.approx([r["train_loss"] for r in rows_full])
    assert (full / "genotype.json").read_text() == (part / "genotype.json").read_text()


def test_a_resume_elsewhere_warns_and_config_keeps_both_environments(tmp_path: Path, monkeypatch) -> None:
    from nascost import device
    from nascost import search as search_module

    out = tmp_path / "run"
    cfg = SearchConfig.build({**BASE, "epochs": 2, "costs": ["fake-linear"]})
    costs = [ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")]

    def stop(row: dict) -> None:
        raise SearchInterrupted

    with pytest.raises(SearchInterrupted):
        run_search(cfg, out, costs=costs, space=ChainSpace(), show_progress=False, on_epoch_end=stop)
    started = json.loads((out / "config.json").read_text())["environment"]
    assert started == device.run_environment("cpu")
    elsewhere = {**started, "torch": "9.9.9", "platform": "another kernel"}
    monkeypatch.setattr(search_module, "run_environment", lambda _device=None: elsewhere)
    said: list[str] = []
    run_search(cfg, out, costs=costs, space=ChainSpace(), show_progress=False, resume=True, log=said.append)
    warnings = [m for m in said if "another environment" in m]
    assert len(warnings) == 1 and f"torch {started['torch']} -> 9.9.9" in warnings[0]
    assert "platform" not in warnings[0]  # the kernel does not change the numbers
    saved = json.loads((out / "config.json").read_text())
    assert saved["environment"] == started and saved["resumed_environment"] == elsewhere


def test_environment_changes_compare_only_what_changes_the_numbers() -> None:
    from nascost.device import environment_changes, environment_record

    now = {"nascost": "1", "torch": "2", "cpu_capability": "AVX2", "gpu": None, "platform": "b"}
    assert environment_changes(None, now) == []  # an older nascost's run records none
    assert environment_changes({**now, "platform": "a"}, now) == []
    assert environment_changes({**now, "cpu_capability": "AVX512"}, now) == ["cpu_capability AVX512 -> AVX2"]
    record, warning = environment_record(None, now)
    assert record == {"environment": None, "resumed_environment": now} and warning is None
    assert environment_record(now, now) == ({"environment": now}, None)


def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    search(out, epochs=1)
    (out / CHECKPOINT).write_bytes(b"not a checkpoint")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(NascostError, match="corrupt"):
        run_search(
            SearchConfig.build({**BASE, "epochs": 1, "costs": ["fake-linear"]}),
            out,
            costs=[ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")],
            space=ChainSpace(),
            resume=True,
            show_progress=False,
        )
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert before == after


def _interrupted_search(out: Path, cost: LinearCost) -> SearchConfig:
    cfg = SearchConfig.build({**BASE, "epochs": 2, "costs": ["fake-linear"], "cost_scale": "paper"})

    def stop(row: dict) -> None:
        raise SearchInterrupted

    with pytest.raises(SearchInterrupted):
        run_search(cfg, out, costs=[ResolvedCost(name="fake-linear", fn=cost, unit="ms")], space=ChainSpace(),
                   show_progress=False, on_epoch_end=stop)
    return cfg


def test_resume_refuses_a_cost_that_changed_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = _interrupted_search(out, LinearCost())
    refit = LinearCost()
    refit.weights = refit.weights * 1.5  # the same name, another predictor
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(NascostError, match=r"'fake-linear' has changed since .* --force"):
        run_search(cfg, out, costs=[ResolvedCost(name="fake-linear", fn=refit, unit="ms")], space=ChainSpace(),
                   show_progress=False, resume=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_resume_keeps_the_cost_scale_the_search_started_with(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = _interrupted_search(out, LinearCost())
    saved = json.loads((out / "config.json").read_text())
    computed = saved["costs"][0]["scale"]
    assert computed == pytest.approx(30.0 / saved["costs"][0]["reference_cost"])
    saved["costs"][0]["scale"] = computed * 2  # as if an older version had computed another scale
    del saved["costs"][0]["reference_seed"]  # and with its seed's reference cells, not today's
    saved["costs"][0]["reference_cost"] *= 1.1
    (out / "config.json").write_text(json.dumps(saved))
    run_search(cfg, out, costs=[ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")], space=ChainSpace(),
               show_progress=False, resume=True)
    assert json.loads((out / "config.json").read_text())["costs"][0]["scale"] == computed * 2


def test_supernet_options_may_not_set_what_the_search_sets() -> None:
    with pytest.raises(NascostError, match="may not set C, layers"):
        SearchConfig.build({**BASE, "supernet_options": {"layers": 2, "C": 4}})


def test_second_order_runs_and_differs_from_first_order() -> None:
    space = ChainSpace()
    x = torch.randn(8, 1, 8, 8)
    y = torch.randint(0, 10, (8,))
    xv = torch.randn(8, 1, 8, 8)
    yv = torch.randint(0, 10, (8,))
    results = {}
    for order in ("first", "second"):
        torch.manual_seed(0)
        net = space.supernet(C=4, num_classes=10, in_channels=1)
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
        # one weight step so the momentum buffer exists, as in a running search
        torch.nn.functional.cross_entropy(net(x), y).backward()
        w_opt.step()
        w_opt.zero_grad()
        weights_before = [p.detach().clone() for p in net.weight_parameters()]
        arch = Architect(net, w_opt, arch_learning_rate=0.1, order=order)
        loss, acc = arch.step(x, y, xv, yv, eta=0.1)
        assert loss > 0 and 0 <= acc <= 1
        # the unrolled step must leave the real weights where they were
        for p, q in zip(net.weight_parameters(), weights_before, strict=True):
            assert torch.allclose(p, q, atol=1e-6)
        # Adam's first step is lr * sign(grad): compare the gradients themselves
        results[order] = net.alpha.grad.detach().clone()
    assert torch.isfinite(results["second"]).all()
    assert not torch.allclose(results["first"], results["second"])


def test_second_order_search_loop_runs(tmp_path: Path) -> None:
    result = search(tmp_path / "run", order="second", epochs=1, max_steps=2)
    assert result.architecture.spec["ops"][0] in OPS


def test_adaptive_target_and_noise_run_through_the_loop(tmp_path: Path) -> None:
    out = tmp_path / "run"
    search(out, target="4ms", target_mode="adaptive", cost_noise=0.025, epochs=1)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "fake-linear" in rows[0]["multiplier"]
    assert json.loads((out / "config.json").read_text())["costs"][0]["target"] == 4.0


def test_arch_frozen_epochs_leave_alpha_untouched(tmp_path: Path) -> None:
    out = tmp_path / "run"
    search(out, arch_frozen_epochs=5, epochs=1)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["arch_updated"] is False and rows[0]["cost_term"] is None


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(NascostError, match="lambda"):
        SearchConfig.build({"lambda": -1})
    with pytest.raises(NascostError, match="lambda"):
        SearchConfig.build({"costs": ["cpu-lpm:-0.5"]})
    with pytest.raises(NascostError, match="estimator"):
        SearchConfig.build({"estimator": "magic"})


@pytest.mark.parametrize(("cost_stages", "expected"), [("last", [False, True]), ("all", [True, True])])
def test_multi_stage_search_applies_the_cost_where_asked(tmp_path: Path, cost_stages: str, expected: list) -> None:
    out = tmp_path / "run"
    search(out, stages=[{}, {}], cost_stages=cost_stages, epochs=1, max_steps=2)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in rows] == [0, 1]
    assert [r["cost_term"] is not None for r in rows] == expected
    assert sorted(p.name for p in (out / "genotypes").iterdir()) == ["stage0_epoch_000.json", "stage1_epoch_000.json"]


def _trust_search(out: Path, mode: str, **extra) -> object:
    cfg = SearchConfig.build({**BASE, "costs": ["fake-linear"], "lambda": 1.0, "arch_learning_rate": 0.05,
                              "max_steps": 8, "trust_region": mode, **extra})
    # the predictor "learned" from rows costing 4-10 ms; all-skip (1.3 ms) lies below them
    costs = [ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms", train_range=(4.0, 10.0))]
    return run_search(cfg, out, costs=costs, space=ChainSpace(), show_progress=False)


def test_the_search_reports_every_epoch_how_far_outside_the_training_range_and_warns_once(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"below the smallest cost in the predictor's training rows") as caught:
        result = _trust_search(tmp_path / "r", "report")
    assert len([w for w in caught if "training rows" in str(w.message)]) == 1
    assert "--trust-region penalty" in str(caught[0].message)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        where = row["trust_region"]["fake-linear"]
        assert where["range"] == [4.0, 10.0] and where["value"] == pytest.approx(row["derived_cost"]["fake-linear"])
    last = rows[-1]["trust_region"]["fake-linear"]
    assert last["value"] == pytest.approx(1.3) and last["outside"] == pytest.approx(-2.7)
    assert last["outside_pct"] == pytest.approx(-67.5)
    assert result.summary["trust_region"]["fake-linear"]["outside"] == pytest.approx(-2.7)


def test_trust_region_penalty_keeps_the_expected_cost_inside(tmp_path: Path) -> None:
    _trust_search(tmp_path / "free", "report", epochs=4)
    _trust_search(tmp_path / "kept", "penalty", trust_weight=5.0, epochs=4)
    free, kept = expected_cost(tmp_path / "free"), expected_cost(tmp_path / "kept")
    assert free < 3.0  # the cost term alone drives the prediction far below the training rows
    assert kept > free + 1.0 and kept > 3.5  # held near the training minimum (4 ms)


def test_trust_region_penalty_keeps_the_derived_architecture_inside_too(tmp_path: Path) -> None:
    """The argmax is what the search returns: the penalty holds its prediction inside the training rows.

    With a small architecture learning rate the expected cost stays inside (4-10 ms) while
    the argmax of the barely moved weights already sits at all-skip (1.3 ms): a penalty on
    the expectation alone never acts.
    """
    _trust_search(tmp_path / "free", "report", epochs=4, arch_learning_rate=0.01)
    _trust_search(tmp_path / "kept", "penalty", trust_weight=5.0, epochs=4, arch_learning_rate=0.01)
    assert expected_cost(tmp_path / "free") > 4.0

    def derived(out: Path) -> float:
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return rows[-1]["derived_cost"]["fake-linear"]

    assert derived(tmp_path / "free") == pytest.approx(1.3)  # all-skip, far below the rows (4-10 ms)
    assert derived(tmp_path / "kept") >= 4.0


def test_no_training_range_no_trust_report(tmp_path: Path) -> None:
    search(tmp_path / "r", **{"lambda": 0.2})
    row = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])
    assert row["trust_region"] == {}


def test_budget_on_the_derived_architecture_runs_through_the_loop(tmp_path: Path) -> None:
    out = tmp_path / "run"
    search(out, target="6ms", target_mode="adaptive", target_on="derived", epochs=1)
    config = json.loads((out / "config.json").read_text())
    assert config["search"]["target_on"] == "derived" and config["costs"][0]["target_on"] == "derived"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "fake-linear" in rows[0]["multiplier"]
    with pytest.raises(Exception, match="target_on"):
        SearchConfig.build({**BASE, "target_on": "sampled"})


def test_summary_says_whether_the_derived_architecture_meets_the_budget(tmp_path: Path) -> None:
    # the chain's cheapest architecture costs 1.3 ms and its dearest 10: 0.5 ms cannot be met, 100 ms always is
    for target, met in (("0.5ms", False), ("100ms", True)):
        out = tmp_path / target
        result = search(out, target=target, target_on="derived", epochs=1)
        budget = json.loads((out / "summary.json").read_text())["budget"]["fake-linear"]
        assert budget["met"] is met and budget["target_on"] == "derived"
        assert budget["predicted"] == pytest.approx(result.predicted["fake-linear"])
    plain = tmp_path / "plain"
    search(plain, epochs=1)
    assert "budget" not in json.loads((plain / "summary.json").read_text())


def test_weight_margins_measure_how_decided_the_weights_are() -> None:
    uniform = weight_margins([torch.zeros(3, 5)])
    assert uniform["flat"] is True and uniform["entropy_share"] == pytest.approx(1.0) and uniform["min_gap"] == 0
    peaked = weight_margins([torch.tensor([[4.0, 0.0, 0.0], [0.0, 1.0, 0.0]])])
    p = torch.softmax(torch.tensor([1.0, 0.0, 0.0]), -1)
    assert peaked["flat"] is False and peaked["rows"] == 2
    assert peaked["min_gap"] == pytest.approx(float(p[0] - p[1]))
    assert weight_margins([]) == {}


def test_a_search_whose_weights_stay_uniform_says_so(tmp_path: Path) -> None:
    def run(out: Path, **options) -> tuple[dict, list[str]]:
        lines: list[str] = []
        cfg = SearchConfig.build({**BASE, "costs": ["fake-linear"], **options})
        run_search(cfg, out, costs=[ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")],
                   space=ChainSpace(), show_progress=False, log=lines.append)
        return json.loads((out / "summary.json").read_text())["weights"], lines

    frozen, lines = run(tmp_path / "frozen", arch_frozen_epochs=5, epochs=1)  # alpha never moves
    assert frozen["flat"] is True and any("nearly uniform" in line for line in lines)
    pressed, lines = run(tmp_path / "pressed", arch_learning_rate=0.3, epochs=3, **{"lambda": 2.0})
    assert pressed["flat"] is False and pressed["entropy_share"] < frozen["entropy_share"]
    assert not any("nearly uniform" in line for line in lines)
