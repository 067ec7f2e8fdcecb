"""``nascost arch``: inspect, sample and draw architectures of any search space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nascost.cli.output import SEED, echo_json, get_space, print_table, space_opt_option_with_alias
from nascost.config import config_option
from nascost.errors import NascostError
from nascost.records import Architecture, Setting
from nascost.space import SearchSpace

_space_option = click.option(
    "--space", default="darts", show_default=True, help="Search space (see 'nascost list spaces')."
)
_opt_option = space_opt_option_with_alias


def _space(space: str, space_opts: tuple[str, ...]) -> SearchSpace:
    return get_space(space, space_opts)


def _default_setting(space: SearchSpace) -> str:
    if not space.settings():
        raise NascostError(f"search space {space.name!r} has no named settings")
    return space.default_setting_name()


_FIELDS = ("space", "key", "arch", "setting", "params", "params_with_aux", "macs", "encoding_id", "encoding", "genotype")


def arch_info(space: SearchSpace, arch: Architecture, setting: Setting) -> dict[str, Any]:
    """Counts and encoding of one architecture in one setting (plain JSON types)."""
    counts = space.count(arch, setting)
    encoding = space.encode([arch])[0]
    extra = {k: int(v) for k, v in counts.items() if k not in ("params", "params_with_aux", "macs")}
    return {
        "space": space.name,
        "key": arch.key(),
        "arch": space.format_arch(arch),
        "setting": setting.model_dump(),
        "params": int(counts["params"]),
        "params_with_aux": int(counts["params_with_aux"]),
        "macs": int(counts["macs"]),
        **extra,  # space-specific counts (nb201: "flops" as NAS-Bench-201 reports them)
        "encoding_id": space.encoding_id,
        "encoding": [round(float(v)) for v in encoding],
        "genotype": arch.spec,
    }


@click.group("arch")
def arch_group() -> None:
    """Architectures of a search space: counts, random samples, drawings."""


@arch_group.command("info")
@click.argument("architecture", metavar="ARCH")
@_space_option
@click.option("--setting", "setting_name", default=None, help="Named setting (default: cifar10 if the space has it).")
@click.option("--channels", type=click.IntRange(min=1), default=None, help="Override the setting's initial channels.")
@click.option("--layers", type=click.IntRange(min=1), default=None, help="Override the setting's number of cells.")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Override the input side in pixels.")
@click.option("--num-classes", type=click.IntRange(min=1), default=None, help="Override the number of classes.")
@_opt_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
def info_cmd(
    architecture: str,
    space: str,
    setting_name: str | None,
    channels: int | None,
    layers: int | None,
    input_size: int | None,
    num_classes: int | None,
    space_opts: tuple[str, ...],
    as_json: bool,
) -> None:
    """Parameters, MACs and encoding of ARCH (a preset name or a JSON file).

    params excludes the auxiliary head; MACs count convolution and linear
    multiply-adds at batch 1 and the setting's input size.
    """
    sp = _space(space, space_opts)
    arch = sp.resolve(architecture)
    setting = sp.setting(
        setting_name or _default_setting(sp),
        channels=channels,
        layers=layers,
        input_size=input_size,
        num_classes=num_classes,
    )
    info = arch_info(sp, arch, setting)
    if as_json:
        echo_json(info)
        return
    ones = [i for i, v in enumerate(info["encoding"]) if v]
    print_table(
        f"{architecture} ({sp.name})",
        ["field", "value"],
        [
            ["setting", setting.label()],
            ["params (without auxiliary head)", f"{info['params']:,}"],
            ["params with auxiliary head", f"{info['params_with_aux']:,}"],
            ["MACs (conv + linear, batch 1)", f"{info['macs']:,}"],
            *[[f"{k} (the space's convention)", f"{info[k]:,}"] for k in info
              if k not in _FIELDS and isinstance(info[k], int)],
            ["encoding", f"{info['encoding_id']}: {len(info['encoding'])} bits, ones at {ones}"],
            ["key", info["key"]],
        ],
    )


@arch_group.command("sample")
@_space_option
@click.option("-n", "n", type=click.IntRange(min=1), default=1, show_default=True, help="How many.")
@click.option("--seed", type=SEED, default=None, help="Random seed (default: fresh randomness).")
@_opt_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of one JSON object per line.")
@config_option
def sample_cmd(space: str, n: int, seed: int | None, space_opts: tuple[str, ...], as_json: bool) -> None:
    """N architectures sampled uniformly at random, as JSON (each loadable as ARCH by 'arch info')."""
    sp = _space(space, space_opts)
    archs = sp.sample_many(n, seed)
    if as_json:
        echo_json([{"space": a.space, "key": a.key(), "genotype": a.spec} for a in archs])
        return
    for a in archs:
        click.echo(a.to_json())


@arch_group.command("draw")
@click.argument("architecture", metavar="ARCH")
@_space_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default="cell.png", show_default=True,
    help="Image file (.png, .pdf or .svg).",
)
@_opt_option
@config_option
def draw_cmd(architecture: str, space: str, output: str, space_opts: tuple[str, ...]) -> None:
    """Draw ARCH (a preset name, a JSON file or the space's text form) to an image."""
    from nascost.files import check_output

    check_output(output, [architecture])
    sp = _space(space, space_opts)
    path = sp.draw(sp.resolve(architecture), Path(output))
    click.echo(str(path))


@click.command("export")
@click.argument("genotype")
@click.option("--space", default=None,
              help="Search space of GENOTYPE (default: the space a genotype.json names, else darts).")
@click.option("--setting", "setting_name", default=None, help="Named setting (default: the space's default).")
@click.option("--channels", type=click.IntRange(min=1), default=None, help="Override the setting's initial channels.")
@click.option("--layers", type=click.IntRange(min=1), default=None, help="Override the setting's number of cells.")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Override the input side in pixels.")
@click.option("--num-classes", type=click.IntRange(min=1), default=None, help="Override the number of classes.")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True,
              help="Artifact format (onnx needs the 'ort' extra).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="State dict to load ('nascost train' writes model.pt; default: random weights).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size of the example input the export is traced with.")
@click.option("--opset", type=click.IntRange(9, 23), default=17, show_default=True, help="ONNX opset.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Largest absolute difference from the PyTorch logits accepted.")
@click.option("--no-check", is_flag=True, help="Do not run the written file against PyTorch.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@config_option
def export_cmd(genotype: str, space: str | None, setting_name: str | None, channels: int | None,
               layers: int | None, input_size: int | None, num_classes: int | None, fmt: str, output: str,
               weights: str | None, batch_size: int, opset: int, tolerance: float, no_check: bool,
               as_json: bool) -> None:
    """Write the network of GENOTYPE as a deployment artifact (ONNX or TorchScript), checked against PyTorch."""
    from dataclasses import asdict

    from nascost.export import export_network, load_weights
    from nascost.files import check_output
    from nascost.train import resolve_architecture

    check_output(output, [genotype, weights])
    sp, arch = resolve_architecture(genotype, space)
    setting = sp.setting(setting_name or _default_setting(sp), channels=channels, layers=layers,
                         input_size=input_size, num_classes=num_classes)
    model = sp.build(arch, setting)
    if weights:
        load_weights(model, weights)
    result = export_network(model, sp.example_input(setting, batch_size), output, fmt, opset=opset,
                            tolerance=tolerance, check=not no_check)
    if as_json:
        echo_json({**asdict(result), "space": sp.name, "key": arch.key(), "setting": setting.model_dump()})
        return
    checked = "not checked" if no_check else f"max abs diff from PyTorch {result.max_abs_diff:.3g}"
    click.echo(f"{output}: {fmt}, {result.bytes:,} bytes, {setting.label()}; {checked}")


def register(cli: click.Group) -> None:
    cli.add_command(arch_group)
    cli.add_command(export_cmd)
