"""Training a derived architecture from scratch: the references' evaluation protocol.

A search only proposes a cell; its accuracy is what it reaches when the
evaluation network is trained from scratch. The presets reproduce the
protocols of the DARTS-family reference implementations:

``cifar``
    quark0/darts ``cnn/train.py`` (also PC-DARTS and P-DARTS on CIFAR): 36
    channels, 20 cells, batch 96, SGD lr 0.025 with cosine annealing to 0,
    momentum 0.9, weight decay 3e-4, 600 epochs, cutout 16, drop-path 0.2
    ramped linearly (``0.2 * epoch / epochs``), auxiliary head weight 0.4,
    gradient-norm clipping 5.
``imagenet``
    PC-DARTS / P-DARTS ``train_imagenet.py`` as their papers ran it: 48
    channels, 14 cells, batch 1024, SGD lr 0.5 decayed linearly (the
    references' ``adjust_lr``: a gentler slope for the last 5 epochs) after a
    5-epoch linear warm-up, momentum 0.9, weight decay 3e-5, 250 epochs, label
    smoothing 0.1 (training loss only; test loss is plain cross-entropy),
    auxiliary weight 0.4, no drop-path, clipping 5. DARTS's own ImageNet
    script used batch 128, lr 0.1 and a step decay of 0.97 per epoch: choose
    it with ``schedule="step"``, ``lr=0.1``, ``batch_size=128``, ``warmup_epochs=0``.
``quick``
    a CPU-scale protocol (not from any paper): 8 channels, 5 cells, 5 epochs,
    batch 64, lr 0.05, no cutout or drop-path, otherwise the CIFAR recipe
    (auxiliary head included). On 10,000 32x32 images an epoch takes minutes
    on a CPU (61.6% test accuracy after 5 epochs on the CIFAR-10 subset, see
    docs/benchmarks.md); it tells a good cell from a bad one, it does not
    reach the published accuracy.

One difference from the references, which step the schedulers of PyTorch
0.3/0.4 at the start of each epoch: here epoch ``e`` (from 0) trains at the
schedule's value at ``e`` (the first epoch at the initial lr), the usual
modern convention; the old scripts effectively trained epoch ``e`` at ``e+1``.

The network's setting comes from the dataset (classes, input size, input
channels) and the preset (channels, cells). Where the space's auxiliary head
cannot run at the dataset's input size (it expects the reference 8x8 or 7x7
map), training continues without it and says so.

Outputs in the run directory: ``config.json``, ``metrics.jsonl`` (one line per
epoch), ``checkpoint.pt`` (weights, optimizer and RNG state after the last
finished epoch; written atomically), ``model.pt`` (final weights) and
``summary.json`` (final test accuracy, params, params with the auxiliary head,
MACs). ``resume=True`` continues from the checkpoint, losing at most the
epoch that was running.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.utils.data import DataLoader

from nascost.config import check_resume_options
from nascost.device import DEFAULT_THREADS, environment_record, run_environment, torch_threads
from nascost.errors import NascostError
from nascost.files import torch_save, write_json, write_text
from nascost.records import Architecture, Setting

CHECKPOINT = "checkpoint.pt"


class TrainConfig(BaseModel):
    """Every hyper-parameter of an evaluation training (the preset fills the defaults)."""

    model_config = ConfigDict(extra="forbid")

    preset: str = "cifar"
    family: str = Field("cifar", description="network macro-structure: 'cifar' or 'imagenet' stem")
    channels: int = Field(36, gt=0, description="initial channels C")
    layers: int = Field(20, gt=0, description="number of cells")
    epochs: int = Field(600, gt=0)
    batch_size: int = Field(96, gt=0)
    eval_batch_size: int | None = Field(None, gt=0, description="test batch size (default: batch_size)")
    lr: float = Field(0.025, gt=0, description="initial learning rate")
    lr_min: float = Field(0.0, ge=0, description="final learning rate of the cosine schedule")
    schedule: Literal["cosine", "linear", "step"] = "cosine"
    step_gamma: float = Field(0.97, gt=0, description="per-epoch decay of the 'step' schedule")
    warmup_epochs: int = Field(0, ge=0, description="linear learning-rate warm-up epochs")
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(3e-4, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    cutout: int = Field(16, ge=0, description="cutout square side in pixels (0: off)")
    drop_path_prob: float = Field(0.2, ge=0, lt=1, description="final drop-path probability")
    auxiliary: bool = True
    auxiliary_weight: float = Field(0.4, ge=0)
    grad_clip: float = Field(5.0, gt=0)
    seed: int = 0
    workers: int = Field(0, ge=0, description="data-loader worker processes")
    max_steps: int | None = Field(
        None, gt=0, description="cap on training steps per epoch and on test batches per evaluation (smoke tests)"
    )
    threads: int | None = Field(
        DEFAULT_THREADS, ge=1,
        description="CPU threads for torch (default 1: never collapses on a shared machine; None: torch's default)",
    )
    eval_every: int = Field(1, gt=0, description="evaluate on the test split every N epochs (and at the end)")


PRESETS: dict[str, dict[str, Any]] = {
    "cifar": {},
    "imagenet": {
        "family": "imagenet",
        "channels": 48,
        "layers": 14,
        "epochs": 250,
        "batch_size": 1024,
        "lr": 0.5,
        "schedule": "linear",
        "warmup_epochs": 5,
        "weight_decay": 3e-5,
        "label_smoothing": 0.1,
        "cutout": 0,
        "drop_path_prob": 0.0,
    },
    "quick": {
        "channels": 8,
        "layers": 5,
        "epochs": 5,
        "batch_size": 64,
        "lr": 0.05,
        "cutout": 0,
        "drop_path_prob": 0.0,
    },
}


def make_config(preset: str = "cifar", **overrides: Any) -> TrainConfig:
    """A preset's config with some fields overridden (``None`` values are ignored)."""
    if preset not in PRESETS:
        from nascost.plugins import closest

        raise NascostError(
            f"unknown training preset {preset!r} (presets: {', '.join(PRESETS)}{closest(preset, PRESETS)})"
        )
    data = {"preset": preset, **PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return TrainConfig(**data)
    except Exception as exc:  # pydantic ValidationError: name the field
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise NascostError(f"invalid training option {where!r}: {first['msg']}") from None
        raise


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based), warm-up included."""
    e, total = epoch, config.epochs
    if config.schedule == "cosine":
        lr = config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * e / total))
    elif config.schedule == "linear":
        # PC-DARTS/P-DARTS adjust_lr: linear to ~0, with a smaller slope for the last 5 epochs.
        if total - e > 5:
            lr = config.lr * (total - 5 - e) / (total - 5)
        else:
            lr = config.lr * (total - e) / ((total - 5) * 5) if total > 5 else config.lr * (total - e) / total
    else:
        lr = config.lr * config.step_gamma**e
    if e < config.warmup_epochs:
        lr *= (e + 1) / config.warmup_epochs
    return lr


def drop_path_at(config: TrainConfig, epoch: int) -> float:
    """The references' linear ramp: ``drop_path_prob * epoch / epochs``."""
    return config.drop_path_prob * epoch / config.epochs


def cutout_(images: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length`` square per image, in place (quark0/darts ``utils.Cutout``).

    The centre is uniform over the image and the square is clipped at the
    borders, applied after normalisation as in the reference transform.
    """
    n, _, h, w = images.shape
    ys = torch.randint(h, (n,), generator=generator)
    xs = torch.randint(w, (n,), generator=generator)
    for i in range(n):
        y, x = int(ys[i]), int(xs[i])
        y1, y2 = max(0, y - length // 2), min(h, y + length // 2)
        x1, x2 = max(0, x - length // 2), min(w, x + length // 2)
        images[i, :, y1:y2, x1:x2] = 0.0
    return images


def _split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


def network_setting(space: Any, config: TrainConfig, dataset: Any, auxiliary: bool) -> Setting:
    """The setting of the evaluation network: preset size, dataset shape."""
    settings = space.settings()
    base = next((s for s in settings.values() if s.family == config.family), None)
    if base is None:
        raise NascostError(
            f"search space {space.name!r} has no {config.family!r} network (settings: {', '.join(settings)})"
        )
    return space.setting(
        base,
        name=f"train-{config.preset}",
        channels=config.channels,
        layers=config.layers,
        num_classes=dataset.num_classes,
        input_size=dataset.input_size,
        in_channels=dataset.in_channels,
        auxiliary=auxiliary,
    )


def _build(space: Any, arch: Architecture, setting: Setting, example: torch.Tensor) -> tuple[nn.Module, Setting, str]:
    """Build the network; drop the auxiliary head where it cannot run at this input size."""
    model = space.build(arch, setting)
    note = ""
    if setting.auxiliary:
        model.train()
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            with torch.no_grad():
                model(example)
            model.load_state_dict(saved)  # the probe must not move the batch-norm statistics
        except NascostError as exc:
            setting = setting.model_copy(update={"auxiliary": False})
            model = space.build(arch, setting)
            note = f"auxiliary head off: {exc}"
    return model, setting, note


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(row) + "\n" for row in history))


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, *, max_steps: int | None = None,
             progress: ProgressFactory | None = None) -> dict[str, float]:
    """Test loss (plain cross-entropy, as the references' ``infer``), top-1 and top-5 accuracy.

    ``max_steps`` caps the batches, so a smoke test's evaluation is as short as its
    training; ``test_samples`` says how many images the figures are over.
    """
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    loss = correct1 = correct5 = n = 0.0
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = progress() if progress else None
    task = None
    if bar is not None:
        bar.start()
        task = bar.add_task("test", total=steps, info="")
    try:
        with torch.no_grad():
            for step, (images, targets) in enumerate(loader):
                if step >= steps:
                    break
                images, targets = images.to(device), targets.to(device)
                logits, _ = _split_output(model(images))
                loss += float(criterion(logits, targets))
                k = min(5, logits.shape[1])
                top = logits.topk(k, dim=1).indices
                hit = top == targets[:, None]
                correct1 += float(hit[:, 0].sum())
                correct5 += float(hit.any(dim=1).sum())
                n += len(targets)
                if bar is not None:
                    bar.update(task, advance=1, info=f"acc {100 * correct1 / n:.1f}%")
    finally:
        if bar is not None:
            bar.stop()
    seen = int(n)
    n = max(n, 1)
    return {"test_loss": loss / n, "test_acc": 100.0 * correct1 / n, "test_top5": 100.0 * correct5 / n,
            "test_samples": seen}


ProgressFactory = Callable[[], Any]


def train(
    space: Any,
    arch: Architecture,
    dataset: Any,
    out: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: ProgressFactory | None = None,
    log: Callable[[str], None] | None = None,
    device: str | torch.device | None = None,
    extra: dict[str, Any] | None = None,
    search_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``arch`` of ``space`` on ``dataset`` into run directory ``out``; return the summary.

    ``progress`` makes a rich ``Progress`` (:func:`nascost.progress.progress`) for
    the bars of each epoch and test pass; ``log`` receives one line per epoch.
    ``search_dir``: the search run that derived ``arch``, recorded in ``config.json``
    and ``summary.json`` so a report puts the trained accuracy on that search's cell.
    Runs at ``config.threads`` torch threads.
    """
    with torch_threads(config.threads):
        return _train(space, arch, dataset, out, config, resume=resume, progress=progress, log=log,
                      device=device, extra=extra, search_dir=search_dir)


def _train(
    space: Any,
    arch: Architecture,
    dataset: Any,
    out: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: ProgressFactory | None = None,
    log: Callable[[str], None] | None = None,
    device: str | torch.device | None = None,
    extra: dict[str, Any] | None = None,
    search_dir: str | Path | None = None,
) -> dict[str, Any]:
    out = Path(out)
    say = log or (lambda _msg: None)
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ckpt_path = out / CHECKPOINT
    config_json = {
        "space": space.name,
        "architecture": arch.spec,
        "dataset": getattr(dataset, "label", None) or _dataset_name(dataset),
        "train": config.model_dump(),
        **(extra or {}),
    }
    if search_dir is not None:
        config_json["search_dir"] = str(Path(search_dir).resolve())
    saved: dict[str, Any] = {}
    if ckpt_path.exists() or (out / "summary.json").exists():
        if not resume:
            raise NascostError(
                f"{out} already holds a training run; add --resume to continue it or choose another --out"
            )
        saved = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
        if saved.get("architecture") != arch.spec or saved.get("space") != space.name:
            raise NascostError(f"{out} holds the training of another architecture; choose another --out")
        if "train" in saved:
            check_resume_options({**saved["train"], "dataset": saved.get("dataset")},
                                 {**config.model_dump(), "dataset": config_json["dataset"]}, out=out,
                                 ignore=("workers", "threads"), model=type(config))
    torch.manual_seed(config.seed)
    train_data = dataset.load("train", augment=True)  # a dataset that cannot load leaves no directory
    test_data = dataset.load("test", augment=False)
    out.mkdir(parents=True, exist_ok=True)
    loader_gen = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        train_data, batch_size=config.batch_size, shuffle=True, num_workers=config.workers,
        generator=loader_gen, drop_last=False, pin_memory=dev.type == "cuda",
    )  # fmt: skip
    test_loader = DataLoader(
        test_data, batch_size=config.eval_batch_size or config.batch_size, shuffle=False,
        num_workers=config.workers,
    )  # fmt: skip

    setting = network_setting(space, config, dataset, auxiliary=config.auxiliary)
    example = torch.randn(2, setting.in_channels, setting.input_size, setting.input_size)
    model, setting, note = _build(space, arch, setting, example)
    if note:
        say(note)
    model.to(dev)
    optimizer = torch.optim.SGD(
        model.parameters(), config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    train_criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    cut_gen = torch.Generator().manual_seed(config.seed + 1)

    start_epoch = 0
    history: list[dict[str, Any]] = []
    elapsed = 0.0
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        history = json.loads(state["history"])
        elapsed = float(state.get("elapsed", 0.0))
        torch.set_rng_state(state["rng"])
        loader_gen.set_state(state["loader_rng"])
        cut_gen.set_state(state["cutout_rng"])
        say(f"resuming after epoch {start_epoch} of {config.epochs}")
    environment = run_environment(dev)
    env_fields, env_warning = environment_record(saved.get("environment") if start_epoch else environment,
                                                 environment)
    if env_warning:
        say(env_warning)
    config_json.update(env_fields)
    write_json(out / "config.json", {**config_json, "setting": setting.model_dump(), "note": note})
    _write_metrics(out / "metrics.jsonl", history)

    steps_per_epoch = len(train_loader) if config.max_steps is None else min(len(train_loader), config.max_steps)
    last_eval: dict[str, float] = {}
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = drop_path_at(config, epoch)
        model.train()
        loss_sum = correct = seen = 0.0
        bar = progress() if progress else None
        task = None
        if bar is not None:
            bar.start()
            task = bar.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps_per_epoch, info="")
        try:
            for step, (images, targets) in enumerate(train_loader):
                if step >= steps_per_epoch:
                    break
                if config.cutout:
                    images = cutout_(images.clone(), config.cutout, cut_gen)
                images, targets = images.to(dev), targets.to(dev)
                optimizer.zero_grad(set_to_none=True)
                logits, logits_aux = _split_output(model(images))
                loss = train_criterion(logits, targets)
                if logits_aux is not None and setting.auxiliary:
                    loss = loss + config.auxiliary_weight * train_criterion(logits_aux, targets)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                n = len(targets)
                loss_sum += float(loss.detach()) * n
                correct += float((logits.argmax(1) == targets).sum())
                seen += n
                if bar is not None:
                    bar.update(task, advance=1, info=f"loss {loss_sum / seen:.3f} acc {100 * correct / seen:.1f}%")
        finally:
            if bar is not None:
                bar.stop()
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": lr,
            "drop_path_prob": getattr(model, "drop_path_prob", 0.0),
            "train_loss": loss_sum / max(seen, 1),
            "train_acc": 100.0 * correct / max(seen, 1),
            "steps": steps_per_epoch,
        }
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            last_eval = evaluate(model, test_loader, dev, max_steps=config.max_steps, progress=progress)
            row.update(last_eval)
        row["epoch_time_s"] = time.perf_counter() - t0
        elapsed += row["epoch_time_s"]
        history.append(row)
        torch_save(
            {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": json.dumps(history),
                "elapsed": elapsed,
                "rng": torch.get_rng_state(),
                "loader_rng": loader_gen.get_state(),
                "cutout_rng": cut_gen.get_state(),
            },
            ckpt_path,
            sole_writer=True,  # one writer per run directory: a killed write's leftovers go
        )
        _write_metrics(out / "metrics.jsonl", history)
        test_s = f", test acc {row['test_acc']:.2f}%" if "test_acc" in row else ""
        say(f"epoch {epoch + 1}/{config.epochs}: train loss {row['train_loss']:.4f}, "
            f"train acc {row['train_acc']:.2f}%{test_s} ({row['epoch_time_s']:.1f} s)")  # fmt: skip

    if not last_eval:
        last_eval = evaluate(model, test_loader, dev, max_steps=config.max_steps, progress=progress)
    summary = _summary(space, arch, model, setting, config, history, last_eval, elapsed, config_json, note)
    if "search_dir" in config_json:
        summary["search_dir"] = config_json["search_dir"]
    torch_save(model.state_dict(), out / "model.pt")
    write_json(out / "summary.json", summary)
    return summary


def _dataset_name(dataset: Any) -> str:
    arg = getattr(dataset, "argument", None)
    return f"{dataset.name}:{arg}" if arg else str(dataset.name)


def _summary(
    space: Any,
    arch: Architecture,
    model: nn.Module,
    setting: Setting,
    config: TrainConfig,
    history: list[dict[str, Any]],
    final: dict[str, float],
    elapsed: float,
    config_json: dict[str, Any],
    note: str,
) -> dict[str, Any]:
    from nascost.counting import count_macs, count_params

    model = model.cpu()
    example = torch.randn(1, setting.in_channels, setting.input_size, setting.input_size)
    tested = [r["test_acc"] for r in history if "test_acc" in r]
    return {
        "space": space.name,
        "architecture": arch.spec,
        "arch_key": arch.key(),
        "dataset": config_json["dataset"],
        "preset": config.preset,
        "setting": setting.model_dump(),
        "epochs": len(history),
        "test_acc": final["test_acc"],
        "test_top5": final["test_top5"],
        "test_loss": final["test_loss"],
        "test_samples": final.get("test_samples"),  # fewer than the test split under --max-steps
        "best_test_acc": max(tested) if tested else final["test_acc"],
        "train_acc": history[-1]["train_acc"] if history else None,
        "params": count_params(model, exclude=("auxiliary",)),
        "params_with_aux": count_params(model),
        "macs": count_macs(model, example),
        "train_time_s": elapsed,
        "note": note,
        "config": config.model_dump(),
    }


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); a damaged file is a clear error."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NascostError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to start over"
        ) from None
    needed = {"epoch", "model", "optimizer", "history", "rng", "loader_rng", "cutout_rng"}
    if not isinstance(state, dict) or not needed <= set(state):
        raise NascostError(f"checkpoint {path} is not a nascost training checkpoint; delete it to start over")
    return state


def resolve_architecture(ref: str, space_name: str | None) -> tuple[Any, Architecture]:
    """A GENOTYPE argument (preset name or JSON file) and its space.

    A file written by a search names its space (``"space": "pcdarts"``); that
    space is used unless ``space_name`` is given.
    """
    from nascost import plugins

    name = space_name
    path = Path(ref)
    if name is None and path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise NascostError(f"{ref}: malformed JSON ({exc})") from None
        if isinstance(data, dict) and isinstance(data.get("space"), str):
            name = data["space"]
    space = plugins.get_space(name or "darts")
    return space, space.resolve(ref)


def _search_config(directory: Path) -> dict[str, Any] | None:
    """``config.json`` of a search run directory (it has a ``search`` key), else None."""
    try:
        data = json.loads((directory / "config.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("search"), dict) else None


def search_origin(ref: str) -> Path | None:
    """The search run directory a GENOTYPE file sits in (its ``genotype.json``), else None.

    Why: a trained accuracy belongs to the cell its search derived; recording
    where the genotype came from lets a report join the two runs.
    """
    path = Path(ref)
    if not path.is_file() or path.suffix != ".json" or _search_config(path.parent) is None:
        return None
    return path.parent


def from_search(directory: str | Path, space_name: str | None = None) -> tuple[Any, Architecture, Path]:
    """The space (with the search's options) and derived architecture of a finished search run."""
    from nascost import plugins

    d = Path(directory)
    if not d.is_dir():
        raise NascostError(f"--from-search {str(directory)!r} is not a directory")
    config = _search_config(d)
    if config is None:
        raise NascostError(f"--from-search {str(directory)!r} is not a search run directory (no config.json "
                           "written by 'nascost search')")
    if not (d / "genotype.json").is_file() or not (d / "summary.json").is_file():
        raise NascostError(f"--from-search {str(directory)!r} holds a search that has not finished (no "
                           "genotype.json and summary.json yet); finish it with 'nascost search --resume'")
    search = config["search"]
    if space_name is not None and space_name != search.get("space"):
        raise NascostError(f"--space {space_name} differs from the space of the search in {str(directory)!r} "
                           f"({search.get('space')}); drop --space with --from-search")
    space = plugins.get_space(str(search.get("space")), search.get("space_options") or None)
    return space, space.resolve(d / "genotype.json"), d
