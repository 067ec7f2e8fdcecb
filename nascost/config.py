"""Config files for commands: TOML or YAML, validated by pydantic, flags win.

Every command takes ``--config FILE``. The file's keys are the command's
option names (``batch_size`` or ``batch-size``). The file is validated by a
pydantic model (``extra="forbid"``, so a misspelt key is an error) and then
becomes click's ``default_map``: anything given on the command line
overrides it. A command may declare its own, richer model; otherwise one is
derived from its click options, so ``nascost config schema`` documents all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)

from nascost.errors import NascostError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_MODELS: dict[str, type[BaseModel]] = {}


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON mapping; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise NascostError(f"config file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise NascostError(f"config file {str(path)!r}: use a .toml, .yaml/.yml or .json file")
    except NascostError:
        raise
    except UnicodeDecodeError:
        raise NascostError(f"config file {str(path)!r} is not a text file; give a TOML, YAML or JSON file") from None
    except OSError as exc:
        from nascost.files import os_error

        raise os_error(exc, "read config file", path) from None
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NascostError(f"config file {str(path)!r} is malformed: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NascostError(f"config file {str(path)!r} must hold a mapping of option names to values")
    return data


def check_resume_options(saved: dict[str, Any] | None, now: dict[str, Any], *, out: str | Path,
                         ignore: tuple[str, ...] = (), model: Any = None) -> None:
    """Refuse to resume a run with other options than it was started with, naming each one.

    Why: a checkpoint continued under another learning rate, size or length is
    neither run; a changed network size fails deep inside torch. ``ignore``:
    options that do not change the result (e.g. data-loader workers). ``model``
    (the options' pydantic class): an option the saved run does not record (it
    was started by an older nascost) counts as unchanged when it is at its default.
    """
    if saved is None:
        return
    now = json.loads(json.dumps(now, default=str))
    saved = json.loads(json.dumps(saved, default=str))
    if model is not None:
        for name, field in model.model_fields.items():
            key = field.alias or name
            if key not in saved and key in now and not field.is_required():
                default = json.loads(json.dumps(field.get_default(call_default_factory=True), default=str))
                if now[key] == default:
                    saved[key] = default
    changed = [k for k in sorted(set(saved) | set(now)) if k not in ignore and saved.get(k) != now.get(k)]
    if not changed:
        return

    def show(v: Any) -> str:
        text = json.dumps(v)
        return text if len(text) <= 40 else text[:37] + "..."

    diffs = ", ".join(f"{k} {show(saved.get(k))} -> {show(now.get(k))}" for k in changed[:6])
    more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
    raise NascostError(f"--resume: the run in {str(out)!r} was started with other options ({diffs}{more}); "
                       "resume with the run's options (see its config.json) or start again in another --out")


class CostText(click.ParamType):
    """A cost budget: ``25ms``, ``0.025s``, or a bare number in the cost's unit (``nascost.penalty.parse_target``
    reads it). Why a type of its own: a config file may give ``budget = 13`` or ``budget = "13ms"``."""

    name = "cost"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a cost; give a number or a number with a unit, e.g. 25ms", param, ctx)
        return repr(float(value)) if isinstance(value, (int, float)) else str(value)


#: The type of every option that takes a cost budget (``--target``, ``--budget``).
COST = CostText()


def _python_type(param: click.Parameter) -> Any:
    t = param.type
    if isinstance(t, CostText):
        base: Any = StrictInt | StrictFloat | StrictStr  # strict: `true` is not a cost
    elif isinstance(t, click.Choice):
        base = Literal[tuple(t.choices)]
    elif isinstance(t, click.types.IntParamType):
        base = int
    elif isinstance(t, click.types.FloatParamType):
        base = float
    elif isinstance(t, click.types.BoolParamType) or getattr(param, "is_flag", False):
        base = bool
    else:
        base = str
    if getattr(param, "multiple", False) or (param.nargs not in (1,) and param.nargs != 0):
        base = list[base]  # type: ignore[valid-type]
    return base | None


def option_key(param: click.Parameter) -> str:
    """The config-file key of an option: its long flag (``--batch-size`` -> ``batch_size``)."""
    longs = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    flag = max(longs, key=len) if longs else (param.name or "")
    return flag.lstrip("-").replace("-", "_")


def _config_params(command: click.Command) -> dict[str, click.Option]:
    return {
        option_key(p): p
        for p in command.params
        if isinstance(p, click.Option) and p.name not in ("config", "help") and not p.hidden
    }


def model_for_command(command: click.Command, path: str) -> type[BaseModel]:
    """The config model of a command: declared explicitly, or derived from its options."""
    if path in _MODELS:
        return _MODELS[path]
    fields: dict[str, Any] = {
        # Field names that clash with BaseModel attributes (``json``) keep the key as alias.
        (f"{key}_" if hasattr(BaseModel, key) else key): (
            _python_type(param),
            Field(default=None, alias=key, description=(getattr(param, "help", None) or None)),
        )
        for key, param in _config_params(command).items()
    }
    model = create_model(
        f"{path.title().replace(' ', '')}Config",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    model.__doc__ = f"Options of `nascost {path}`"
    return model


def declare_model(path: str, model: type[BaseModel]) -> None:
    """Use an explicit pydantic model for ``nascost <path>``'s config file."""
    _MODELS[path] = model


def _command_path(ctx: click.Context) -> str:
    return " ".join(ctx.command_path.split()[1:])


def _apply_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return value
    raw = load_config_file(value)
    data = {k.replace("-", "_"): v for k, v in raw.items()}
    for p in ctx.command.params:  # old spellings (``C`` for ``channels``) keep working in files too
        for old in getattr(p, "hidden_aliases", ()):
            key = old.lstrip("-").replace("-", "_")
            if key in data and option_key(p) not in data:
                data[option_key(p)] = data.pop(key)
    model = model_for_command(ctx.command, _command_path(ctx))
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        hint = ""
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            from nascost.plugins import closest

            hint = closest(str(err["loc"][0]), model.model_fields) or (
                f" (keys: {', '.join(sorted(model.model_fields))})")
        raise NascostError(f"config file {value!r}: {where}: {err['msg']}{hint}") from None
    params = _config_params(ctx.command)
    values = {
        (params[k].name if k in params else k): v
        for k, v in validated.model_dump(exclude_unset=True, by_alias=True).items()
    }
    ctx.default_map = {**(ctx.default_map or {}), **values}
    ctx.meta["nascost.config"] = values
    return value


def config_option(f: Any) -> Any:
    """Add ``--config FILE`` to a command (applied before every other option)."""
    return click.option(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_apply_config,
        help="TOML/YAML file of option values; command-line flags override it.",
    )(f)


def all_command_schemas(group: click.Group) -> dict[str, Any]:
    """JSON schema of every command's config file, keyed by command path."""
    out: dict[str, Any] = {}

    def walk(cmd: click.Command, path: str) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in sorted(cmd.commands.items()):
                walk(sub, f"{path} {name}".strip())
        elif any(p.name == "config" for p in cmd.params):
            out[path] = model_for_command(cmd, path).model_json_schema()

    walk(group, "")
    return out
