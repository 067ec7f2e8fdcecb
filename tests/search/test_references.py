"""A search measures the space's published cells as it measures its derived one (the report's reference cells)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nascost.search import SearchConfig, run_search
from search.fakes import ChainPlugin, ChainSpace

BASE = {"space": "chain", "dataset": "digits", "costs": ["flops"], "cost_setting": "tiny", "epochs": 1,
        "max_steps": 2, "batch_size": 16, "arch_frozen_epochs": 0}  # fmt: skip


@pytest.fixture
def chain(register_plugin) -> ChainSpace:
    register_plugin(ChainPlugin())
    return ChainSpace()


def test_search_records_reference_cells_measured_like_its_derived_one(chain: ChainSpace, tmp_path: Path) -> None:
    result = run_search(SearchConfig.build(BASE), tmp_path / "run", space=chain, show_progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    refs = summary["references"]
    setting = chain.setting("tiny")
    assert [r["name"] for r in refs] == list(chain.presets())
    for ref in refs:
        counts = chain.count(chain.presets()[ref["name"]], setting)
        # the flops measurer counts MACs: the measured value is the cell's real count in the cost's setting
        assert ref["cost"] == "flops" and ref["measured"]["median"] == counts["macs"]
        assert ref["measured"]["unit"] == summary["measured_cost"]["flops"]["unit"] == "MACs"
        assert ref["measured"]["setting"] == summary["setting"] and ref["measured"]["n"] >= 1
        assert ref["predicted"]["flops"] == pytest.approx(counts["macs"]) and ref["counts"] == counts
    # the all-conv cell is the costliest the chain space has: the derived cell costs no more
    assert summary["measured_cost"]["flops"]["value"] <= refs[0]["measured"]["median"]
    assert result.summary["references"] == refs


@pytest.mark.parametrize("off", [{"measure_references": False}, {"measure_final": False}])
def test_reference_cells_are_skipped_when_off(chain: ChainSpace, tmp_path: Path, off: dict) -> None:
    result = run_search(SearchConfig.build({**BASE, **off}), tmp_path / "run", space=chain, show_progress=False)
    assert "references" not in result.summary
    assert bool(result.summary["measured_cost"]) == off.get("measure_final", True)
