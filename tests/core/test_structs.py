"""core.structs: a document that does not fit its record type is refused naming the key (a mapping's key too, which
msgspec itself reports as ``[...]``) and the problem in plain words; rules in ``__post_init__`` name their field."""

from __future__ import annotations

from typing import Annotated

import pytest

from core.structs import FieldError, Invalid, Meta, Record, convert, field, replace, set_field, to_builtins


class Leaf(Record):
    count: Annotated[int, Meta(ge=1, le=10)] = 1
    share: Annotated[float, Meta(ge=0, le=1)] | None = None
    name: Annotated[str, Meta(min_length=1)] = "x"
    url: Annotated[str, Meta(pattern=r"^https?://")] = "http://h"
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "bad" in self.tags:
            raise FieldError("tags", "'bad' is not a tag")
        set_field(self, "tags", tuple(t.strip() for t in self.tags))


class Root(Record):
    leaf: Leaf = field(default_factory=Leaf)
    tiers: dict[str, Leaf] = field(default_factory=dict)
    nested: dict[str, dict[str, Leaf]] = field(default_factory=dict)
    items: tuple[Leaf, ...] = ()

    def __post_init__(self) -> None:
        if "forbidden" in self.tiers:
            raise ValueError("tiers.forbidden: a tier may not be called that")


@pytest.mark.parametrize("data, key, problem", [
    ({"leaf": {"count": 0}}, "leaf.count", "must be at least 1"),
    ({"leaf": {"count": 11}}, "leaf.count", "must be at most 10"),
    ({"leaf": {"count": "two"}}, "leaf.count", "expected a whole number, got text"),
    ({"leaf": {"share": 1.5}}, "leaf.share", "must be at most 1.0"),
    ({"leaf": {"name": ""}}, "leaf.name", "must not be empty"),
    ({"leaf": {"url": "ftp://h"}}, "leaf.url", "does not have the expected form (^https?://)"),
    ({"leaf": {"tags": "a"}}, "leaf.tags", "expected a list, got text"),
    ({"leaf": {"colour": 1}}, "leaf.colour", "unknown key (check the spelling)"),
    ({"leaf": {"tags": ["bad"]}}, "leaf.tags", "'bad' is not a tag"),
    # a mapping's key, found although msgspec reports it as [...]
    ({"tiers": {"ok": {}, "high": {"count": 0}}}, "tiers.high.count", "must be at least 1"),
    ({"tiers": {"high": {"tags": ["bad"]}}}, "tiers.high.tags", "'bad' is not a tag"),
    ({"nested": {"a": {"b": {"zz": 1}}}}, "nested.a.b.zz", "unknown key (check the spelling)"),
    ({"items": [{}, {"count": 0}]}, "items[1].count", "must be at least 1"),
    # a rule of the whole record names its key in its message
    ({"tiers": {"forbidden": {}}}, "", "tiers.forbidden: a tier may not be called that"),
])
def test_a_document_that_does_not_fit_names_the_key_and_the_problem(data: dict, key: str, problem: str) -> None:
    with pytest.raises(Invalid) as err:
        convert(data, Root)
    assert (err.value.key, err.value.problem) == (key, problem)
    assert str(err.value) == (f"{key}: {problem}" if key else problem)


def test_a_missing_key_is_named() -> None:
    class Needs(Record):
        host: str

    with pytest.raises(Invalid) as err:
        convert({"leaf": {}}, Needs)
    assert err.value.loc == ("leaf",) and err.value.problem == "unknown key (check the spelling)"
    with pytest.raises(Invalid) as err:
        convert({}, Needs)
    assert (err.value.key, err.value.problem) == ("host", "required key is missing")


def test_records_are_frozen_normalised_and_dump_as_builtins() -> None:
    root = convert({"leaf": {"tags": [" a "], "count": 2}, "tiers": {"t": {"share": 1}}}, Root)
    assert root.leaf.tags == ("a",) and root.tiers["t"].share == 1.0 and isinstance(root.tiers["t"].share, float)
    with pytest.raises(AttributeError):
        root.leaf.count = 3  # type: ignore[misc]
    dumped = to_builtins(root.leaf)
    assert dumped == {"count": 2, "share": None, "name": "x", "url": "http://h", "tags": ("a",)}
    assert "share" not in to_builtins(root.leaf, exclude_none=True)
    # replace runs the rules again
    assert replace(root.leaf, tags=(" b ",)).tags == ("b",)
    with pytest.raises(FieldError, match="tags: 'bad' is not a tag"):
        replace(root.leaf, tags=("bad",))
