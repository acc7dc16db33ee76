"""Command-line options generated from the config dataclasses' fields.

A config field is the one place a setting is defined: its type gives the option's type
(a ``Literal`` its choices), its default the option's default, ``metadata["help"]`` the
help text and ``metadata["flag"]`` the flag where that is not the field's name
(``exploration_c`` is ``--c``; a setting that is on by default is turned off by
``--no-<name>``) and ``metadata["dest"]`` its parsed name where two configs share one. The parser remembers which flag sets which setting, so a
:class:`~cola.errors.SettingError` from a config's ``validate`` is printed with the flag
the user typed (:func:`flag_naming`).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal, Union

from cola.errors import SettingError

FLAGS_DEST = "setting_flags"  # argparse default: {(config class name, field name): flag}


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def dest_of(field: dataclasses.Field) -> str:
    """The parsed option's name: the field's, unless it would clash with another option's."""
    return field.metadata.get("dest") or field.name


def _fields(config: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config)}


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _argument(hint: Any, field: dataclasses.Field) -> dict[str, Any]:
    """argparse keywords for a field of type ``hint``."""
    default = _default(field)
    if hint is bool:
        return {"action": "store_false" if default else "store_true"}
    if typing.get_origin(hint) in (Union, types.UnionType):  # ``int | None``: the non-None type
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is Literal:
        return {"choices": list(typing.get_args(hint)), "default": default}
    if hint in (int, float):
        return {"type": hint, "default": default}
    return {"default": default}


def add_setting_options(
    parser: argparse.ArgumentParser, config: type, names: list[str], **overrides: dict[str, Any]
) -> None:
    """Add an option for each named field of ``config``, in order; ``overrides[name]`` adjusts one."""
    hints = typing.get_type_hints(config)
    fields = _fields(config)
    flags = dict(parser.get_default(FLAGS_DEST) or {})
    for name in names:
        field = fields[name]
        kwargs = {"dest": dest_of(field), **_argument(hints[name], field), **overrides.get(name, {})}
        if "help" in field.metadata and "help" not in kwargs:
            kwargs["help"] = field.metadata["help"]
        flag = flag_of(field)
        parser.add_argument(flag, **kwargs)
        flags[(config.__name__, name)] = flag
    parser.set_defaults(**{FLAGS_DEST: flags})


def config_from_args(config: type, args: argparse.Namespace, names: list[str], **values: Any):
    """``config`` with the named fields as parsed and ``values`` (settings the command derives) set."""
    fields = _fields(config)
    return config(**{name: getattr(args, dest_of(fields[name])) for name in names}, **values)


def flag_naming(error: SettingError, args: argparse.Namespace) -> str:
    """``error``'s message with the setting called by the flag that set it (its field name otherwise)."""
    flags = getattr(args, FLAGS_DEST, None) or {}
    return error.naming(flags.get((error.config, error.setting), error.setting))
