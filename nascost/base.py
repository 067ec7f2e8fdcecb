"""The base class of every plugin class: a name, a description, typed options."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from nascost.errors import NascostError


class PluginOptions(BaseModel):
    """Options of a plugin class. ``extra="forbid"``: a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Plugin:
    """A registrable class: subclasses set ``name`` and may override ``Options``.

    ``description`` defaults to the first line of the class docstring, so
    ``nascost list`` shows what the author wrote.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    class Options(PluginOptions):
        pass

    def __init__(self, options: PluginOptions | dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.options = self.parse_options(options, **kwargs)

    @classmethod
    def parse_options(cls, options: PluginOptions | dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Validate options from a dict (config file, ``--opt k=v``) or keywords."""
        if isinstance(options, cls.Options) and not kwargs:
            return options
        data = dict(options.model_dump() if isinstance(options, BaseModel) else (options or {}))
        data.update(kwargs)
        try:
            return cls.Options(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            allowed = ", ".join(cls.Options.model_fields) or "none"
            raise NascostError(
                f"invalid option {where!r} for {cls.kind_label()} {cls.name!r}: {first['msg']} "
                f"(options: {allowed})"
            ) from None

    @classmethod
    def kind_label(cls) -> str:
        return "plugin"

    @classmethod
    def summary(cls) -> str:
        if cls.description:
            return cls.description
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0].strip() if doc else ""
