"""Frozen records: the settings (how ``countersign.toml`` and every connector's settings are typed and read) and the
rows a command builds on its way in.

A section is a :class:`Record` (a msgspec ``Struct``: frozen, keyword-only, an unknown key is an error naming it);
types and ``Meta`` constraints say what a value may be, and a rule no type can state lives in ``__post_init__``,
which runs when a document is decoded and when a record is built in code alike, and raises :class:`FieldError`
naming the field (a value is normalised there with :func:`set_field`). :func:`convert` turns a parsed document into
records and, when it does not fit, raises :class:`Invalid` with the dotted key (``policy.tiers.high.gates``) and the
problem in plain words.

msgspec rather than a validation framework with a schema compiler: it imports in a few milliseconds and builds
its types as cheaply as classes, so a read-only command (``countersign models --json``) does not pay ~0.2 s of CPU
to read its configuration (issue 33). Note that ``Meta`` constraints are checked by :func:`convert`, not by a
record built in code: build from untrusted data with :func:`convert`.

A :class:`Row` is a frozen dataclass by another name (positional or keyword construction, ``==``, ``hash``, ``repr``;
``replace``/``field_names`` here in place of ``dataclasses.replace``/``fields``) that costs ~25 µs to define where a
dataclass costs ~1 ms: the records every command meets on its way in (the catalog's rows, the binding check's flags,
the session) are rows, so that a read-only command does not spend tens of milliseconds defining classes.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
import msgspec.structs
from msgspec import Meta, field

__all__ = ["FieldError", "Invalid", "Meta", "Record", "Row", "convert", "field", "field_names", "replace", "set_field",
           "to_builtins"]

T = TypeVar("T")


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of a settings section: frozen, strict (an unknown key is refused by name), built by keyword."""


class Row(msgspec.Struct, frozen=True):
    """Base of a frozen record built in code (see the module's note): ``class Binding(Row): ...``."""


class FieldError(ValueError):
    """A rule of one field broken (raised in ``__post_init__``); reads ``field: problem``."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


class Invalid(ValueError):
    """A document that does not fit its type: ``key`` is where (``accounts[0].path``; empty for the whole document),
    ``loc`` the same as a tuple of names and indexes, ``problem`` what is wrong, in plain words."""

    def __init__(self, loc: tuple[str | int, ...], problem: str) -> None:
        self.loc = loc
        self.key = dotted(loc)
        self.problem = problem
        super().__init__(f"{self.key}: {problem}" if self.key else problem)


def dotted(loc: tuple[str | int, ...]) -> str:
    """``("accounts", 0, "path")`` as ``accounts[0].path``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def convert(data: Any, type_: type[T]) -> T:
    """``data`` (a parsed TOML or JSON document) as ``type_``, validated; :class:`Invalid` says where it does not fit."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        loc, problem = _locate(data, type_, str(exc))
        raise Invalid(tuple(loc), problem) from None


def set_field(record: msgspec.Struct, name: str, value: Any) -> None:
    """Set ``name`` of a frozen record, in its ``__post_init__`` only (to normalise a value it has just validated)."""
    msgspec.structs.force_setattr(record, name, value)


def replace(record: T, **changes: Any) -> T:
    """A copy of ``record`` with ``changes`` (its ``__post_init__`` runs again on the copy)."""
    return msgspec.structs.replace(record, **changes)  # type: ignore[type-var]


def field_names(record_type: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields of a record type, in order."""
    return record_type.__struct_fields__


def to_builtins(record: Any, *, exclude_none: bool = False) -> Any:
    """``record`` as dicts, lists and scalars (tuples stay tuples); fields whose value is None left out on request."""
    out = msgspec.to_builtins(record) if isinstance(record, msgspec.Struct) else record
    return _without_none(out) if exclude_none else out


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return type(value)(_without_none(v) for v in value)
    return value


# -- where a document does not fit, and why, in plain words (runs only on the error path) ---------------------------

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _locate(data: Any, type_: Any, message: str) -> tuple[list[str | int], str]:
    """The location in ``data`` and the problem msgspec's ``message`` names; a key of a mapping (which msgspec
    reports as ``[...]``) is found by converting the mapping's values one by one."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any text
    problem, path = match["problem"], match["path"] or ""
    loc: list[str | int] = []
    for seg in _SEGMENT.finditer(path):
        name, index = seg.group(1), seg.group(2)
        if name is None and index is None:  # a mapping's value: which key, and where inside it
            value_type = _args(type_)[1] if len(_args(type_)) == 2 else Any
            for key, value in (data.items() if isinstance(data, Mapping) else ()):
                try:
                    msgspec.convert(value, value_type)
                except msgspec.ValidationError as exc:
                    inner, problem = _locate(value, value_type, str(exc))
                    return [*loc, key, *inner], problem
            return loc, _plain(problem)
        step: str | int = name if name is not None else int(index)
        loc.append(step)
        data = _child(data, step)
        type_ = _child_type(type_, step, data)
    return _with_field(loc, type_, problem)


def _with_field(loc: list[str | int], type_: Any, problem: str) -> tuple[list[str | int], str]:
    """Move a field named by the problem (a missing or unknown key, a :class:`FieldError`) into the location."""
    for pattern, text in ((r"Object missing required field `(\w+)`", "required key is missing"),
                          (r"Object contains unknown field `(.+)`", "unknown key (check the spelling)")):
        found = re.fullmatch(pattern, problem)
        if found:
            return [*loc, found[1]], text
    struct = _struct(type_)
    found = re.match(r"(\w+): (.*)", problem, re.S)
    if struct is not None and found and found[1] in struct.__struct_fields__:
        return [*loc, found[1]], found[2]
    return loc, _plain(problem)


def _child(data: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return data[step] if isinstance(data, list | tuple) and step < len(data) else None
    return data.get(step) if isinstance(data, Mapping) else None


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(_strip(tp))


def _struct(tp: Any) -> type[msgspec.Struct] | None:
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        found = [s for s in map(_struct, typing.get_args(tp)) if s is not None]
        return found[0] if len(found) == 1 else None
    return None


def _child_type(tp: Any, step: str | int, data: Any) -> Any:
    """The type of field or item ``step`` of a value of type ``tp``."""
    struct = _struct(tp)
    if struct is not None and isinstance(step, str):
        hints = {f.name: f.type for f in msgspec.structs.fields(struct)}
        return hints.get(step, Any)
    tp = _strip(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arrays = [a for a in typing.get_args(tp) if typing.get_origin(_strip(a)) in (tuple, list)]
        tp = arrays[0] if arrays else Any
    args = _args(tp)
    return args[0] if isinstance(step, int) and args else Any


_NOUNS = {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false", "array": "a list",
          "object": "a table", "null": "nothing", "number": "a number"}
_BOUNDS = {">=": "at least", "<=": "at most", ">": "greater than", "<": "less than"}


def _noun(kind: str) -> str:
    return " or ".join(_NOUNS.get(k.strip(), k.strip()) for k in kind.split("|"))


def _plain(problem: str) -> str:
    """msgspec's wording of a type or constraint error in the words a person editing the file uses."""
    if m := re.fullmatch(r"Expected `str` of length >= (\d+)", problem):
        return "must not be empty" if m[1] == "1" else f"must be at least {m[1]} characters long"
    if m := re.fullmatch(r"Expected `str` matching regex '(.*)'", problem):
        return f"does not have the expected form ({m[1]})"
    if m := re.fullmatch(r"Expected `[^`]+` (>=|<=|>|<) (\S+)", problem):
        return f"must be {_BOUNDS[m[1]]} {m[2]}"
    if m := re.fullmatch(r"Expected `([^`]+)`, got `([^`]+)`", problem):
        return f"expected {_noun(m[1])}, got {_noun(m[2])}"
    if m := re.fullmatch(r"Invalid enum value (.+)", problem):
        return f"{m[1]} is not one of the values allowed here"
    return problem
