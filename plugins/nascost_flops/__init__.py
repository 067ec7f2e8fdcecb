"""nascost built-in plugin: the ``flops`` measurer and the ``flops`` cost.

MACs are a property of the network, not of a device: the fingerprint is a
fixed ``analytic`` one, so FLOPs rows from any machine share one group.
"""

from __future__ import annotations

import torch
from torch import nn

from nascost.cost import Cost
from nascost.counting import count_macs, count_params
from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.records import DeviceInfo, Measurement

ANALYTIC_DEVICE = DeviceInfo(
    runtime="analytic",
    cpu_model="none",
    extra={"counting": "conv+linear multiply-adds per sample (nascost.counting)"},
)


class FlopsMeasurer(CostMeasurer):
    """MACs (conv + linear multiply-adds per sample) and parameters; no timing."""

    name = "flops"
    unit = "MACs"
    default_batch_size = 1

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return ANALYTIC_DEVICE

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        macs = count_macs(model, example_input)
        return Measurement.from_samples(
            [float(macs)],
            unit=self.unit,
            device=self.device_info(),
            batch_size=int(example_input.shape[0]),
            extra={
                "params": count_params(model, exclude=("auxiliary",)),
                "params_with_aux": count_params(model),
            },
        )


@hookimpl
def register_cost_measurers(register) -> None:
    register(FlopsMeasurer)


@hookimpl
def register_costs(register) -> None:
    register(Cost.define("flops", measurer="flops", predictor="flops",
                         description="MACs from per-operation counts (the FLOPs-aware baseline)"))


__all__ = ["ANALYTIC_DEVICE", "FlopsMeasurer"]
