"""The plugin manager: entry-point loading and one registry per kind.

Built-in plugins (``plugins/``) load through the same ``nascost`` entry-point
group as third-party ones. ``NASCOST_LOAD_PLUGINS`` (comma list; empty = none)
restricts which entry points load. ``NASCOST_PLUGIN_MODULES`` (comma list of
``name=module``) registers importable modules directly, without an entry
point: a plugin under development before it is installed. A plugin that fails
to import is reported by name and skipped, so one broken plugin never takes
the CLI down.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from nascost import hookspecs
from nascost.errors import NascostError, UnknownNameError

ENTRY_POINT_GROUP = "nascost"

#: Hook name for each registry kind, and how the kind reads in messages.
KINDS: dict[str, tuple[str, str]] = {
    "spaces": ("register_search_spaces", "search space"),
    "measurers": ("register_cost_measurers", "cost measurer"),
    "predictors": ("register_cost_predictors", "cost predictor"),
    "costs": ("register_costs", "cost"),
    "datasets": ("register_datasets", "dataset"),
}

pm = pluggy.PluginManager("nascost")
pm.add_hookspecs(hookspecs)

#: Plugins that failed to load or register: name -> reason.
failed_plugins: dict[str, str] = {}
#: Distribution (name, version) of each entry-point plugin.
plugin_dists: dict[str, tuple[str, str]] = {}
_loaded = False
_registries: dict[str, Registry] = {}


def closest(name: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, or ``""``."""
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _warn(msg: str) -> None:
    print(f"nascost: warning: {msg}", file=sys.stderr)


def load_plugins() -> None:
    """Load the ``nascost`` entry points once (respecting ``NASCOST_LOAD_PLUGINS``)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    allowed: set[str] | None = None
    env = os.environ.get("NASCOST_LOAD_PLUGINS")
    if env is not None:
        allowed = {n.strip() for n in env.split(",") if n.strip()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take nascost down
            failed_plugins[ep.name] = f"{type(exc).__name__}: {exc}"
            _warn(
                f"plugin {ep.name!r} failed to load ({failed_plugins[ep.name]}); "
                f"skipping it (NASCOST_LOAD_PLUGINS restricts which plugins load)"
            )
            continue
        dist = getattr(ep, "dist", None)
        if dist is not None:
            plugin_dists[ep.name] = (dist.metadata["Name"], dist.version)
    for item in os.environ.get("NASCOST_PLUGIN_MODULES", "").split(","):
        name, _, module_name = item.strip().partition("=")
        name, module_name = name.strip(), module_name.strip() or name.strip()
        if not name or pm.has_plugin(name):
            continue
        try:
            pm.register(importlib.import_module(module_name), name=name)
        except Exception as exc:
            failed_plugins[name] = f"{type(exc).__name__}: {exc}"
            _warn(f"plugin {name!r} (module {module_name!r} from NASCOST_PLUGIN_MODULES) failed to load "
                  f"({failed_plugins[name]}); skipping it")


def register_plugin(plugin: Any, name: str) -> None:
    """Register a plugin object at run time (tests, notebooks) and refresh the registries."""
    pm.register(plugin, name=name)
    invalidate()


def unregister_plugin(name: str) -> None:
    pm.unregister(name=name)
    failed_plugins.pop(name, None)
    invalidate()


def invalidate() -> None:
    """Forget the built registries so the next lookup asks the hooks again."""
    _registries.clear()


@dataclass
class Registry:
    """Name -> class for one kind, with the plugin that registered each."""

    kind: str
    label: str
    classes: dict[str, type] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, cls: type, owner: str) -> None:
        name = getattr(cls, "name", "")
        if not name or not isinstance(name, str):
            raise NascostError(f"plugin {owner!r} registered a {self.label} class {cls.__qualname__} without a name")
        if name in self.classes:
            raise NascostError(
                f"{self.label} {name!r} is registered twice: by plugin {self.owners[name]!r} "
                f"and by plugin {owner!r}; uninstall one or restrict NASCOST_LOAD_PLUGINS"
            )
        self.classes[name] = cls
        self.owners[name] = owner

    def names(self) -> list[str]:
        return sorted(self.classes)

    def get(self, name: str) -> type:
        base = name.split(":", 1)[0] if self.kind == "datasets" else name
        if base not in self.classes:
            available = ", ".join(self.names()) or "none installed"
            raise UnknownNameError(
                f"unknown {self.label} {name!r} (available: {available}{closest(base, self.classes)})"
            )
        return self.classes[base]

    def __contains__(self, name: str) -> bool:
        return name in self.classes

    def __iter__(self):
        return iter(self.classes.items())


def _call_each(hook_name: str, kwargs: dict[str, Any], on_impl: Callable[[str], Any]) -> None:
    """Call every implementation of a hook, telling ``on_impl`` whose turn it is.

    Implementations are called one by one (not through ``pm.hook``) so that each
    registered class is attributed to its plugin, and one failing plugin is
    reported and skipped instead of failing every other.
    """
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):
        on_impl(impl.plugin_name)
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        try:
            impl.function(**args)
        except NascostError:
            raise
        except Exception as exc:
            failed_plugins[impl.plugin_name] = f"{hook_name} raised {type(exc).__name__}: {exc}"
            _warn(f"plugin {impl.plugin_name!r} failed in {hook_name} ({exc}); its registrations are skipped")


def registry(kind: str) -> Registry:
    """The registry of one kind: ``spaces``, ``measurers``, ``predictors``, ``costs``, ``datasets``."""
    if kind not in KINDS:
        raise UnknownNameError(f"unknown plugin kind {kind!r} (kinds: {', '.join(KINDS)}{closest(kind, KINDS)})")
    if kind in _registries:
        return _registries[kind]
    load_plugins()
    hook_name, label = KINDS[kind]
    reg = Registry(kind, label)
    current = {"owner": ""}
    pending: dict[str, list[type]] = {}

    def on_impl(owner: str) -> None:
        current["owner"] = owner
        pending.setdefault(owner, [])  # a plugin may implement a hook twice (@hookimpl(specname=...))

    def register(cls: type) -> None:
        pending[current["owner"]].append(cls)

    _call_each(hook_name, {"register": register}, on_impl)
    for owner, classes in pending.items():
        if owner in failed_plugins:
            continue
        for cls in classes:
            reg.add(cls, owner)
    _registries[kind] = reg
    return reg


def get(kind: str, name: str) -> type:
    """The class registered under ``name`` for ``kind``; a clear error if unknown."""
    return registry(kind).get(name)


def create(kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """Instantiate a registered plugin class with validated options."""
    cls = get(kind, name)
    if kind == "datasets":
        argument = name.split(":", 1)[1] if ":" in name else None
        if argument is not None and not getattr(cls, "takes_argument", False):
            raise NascostError(f"dataset {cls.name!r} takes no argument (got {name!r})")
        if argument is None and getattr(cls, "takes_argument", False):
            raise NascostError(f"dataset {cls.name!r} needs an argument: use '{cls.name}:PATH'")
        return cls(options, argument=argument)
    return cls(options)


def get_space(name: str, options: dict[str, Any] | None = None):
    return create("spaces", name, options)


def get_measurer(name: str, options: dict[str, Any] | None = None):
    return create("measurers", name, options)


def get_predictor(name: str, options: dict[str, Any] | None = None):
    return create("predictors", name, options)


def get_cost(name: str):
    return get("costs", name)


def get_dataset(name: str, options: dict[str, Any] | None = None):
    return create("datasets", name, options)


def runnable_measurers() -> list[str]:
    """The registered measurers that can measure on this machine (sorted names).

    Why here: every "cannot measure here" message (a measurer's, a cost recipe's)
    names the alternatives, and only the registry knows them all.
    """
    ok = []
    for name in sorted(registry("measurers").names()):
        try:
            if get_measurer(name).available()[0]:
                ok.append(name)
        except Exception:  # a measurer that cannot even be created does not run here
            continue
    return ok


def installed_plugins() -> list[dict[str, Any]]:
    """Each plugin: name, distribution, version, and the names it registers per kind."""
    load_plugins()
    regs = {kind: registry(kind) for kind in KINDS}
    rows = []
    for name, _plugin in sorted(pm.list_name_plugin()):
        dist, version = plugin_dists.get(name, ("", ""))
        provides = {
            kind: sorted(n for n, owner in reg.owners.items() if owner == name) for kind, reg in regs.items()
        }
        rows.append(
            {
                "name": name,
                "distribution": dist,
                "version": version,
                **provides,
                "error": failed_plugins.get(name),
            }
        )
    for name, why in sorted(failed_plugins.items()):
        if not pm.has_plugin(name):
            rows.append({"name": name, "distribution": "", "version": "", "error": why, **{k: [] for k in KINDS}})
    return rows
