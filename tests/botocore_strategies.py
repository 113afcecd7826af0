"""Hypothesis strategies from botocore shapes, and a check of answers against their shapes.

``Draw`` turns a shape into valid values (lengths, ranges, enums and patterns respected)
and into values with one constraint broken, each said to break exactly one or possibly
more; ``check_output`` checks what botocore's parsers leave unchecked in a parsed answer.
Both read only the model, so they serve any operation of any service.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from kubegate.api.awsproto.constraints import java_regex

__all__ = ["Broken", "Draw", "bounds", "check_output"]

_SIMPLE_CLASS = re.compile(r"\^?\[((?:\\.|[^\]\\])+)\]([+*])\$?")
_BAD_CHARS = (" ", "\x00", "\n", "é", "\u2603", "\U0001f600", "/", ":", "*", "A", "0", "-", "~", "\u202e")
_SCALAR_TYPES = {"string", "integer", "long", "boolean", "double", "float"}
_WRONG_JSON: dict[str, list[Any]] = {
    "string": [123, True, ["x"], {"k": "v"}],
    "integer": ["1", 1.5, True, [1]],
    "long": ["1", 2.5, False],
    "boolean": ["true", 1, [True]],
    "double": ["1.0", True],
    "float": ["1.0", True],
}
Broken = tuple[Any, bool]  # a value with a constraint broken, and whether exactly one is


@functools.cache
def _class_members(java_class: str) -> tuple[str, ...]:
    """The characters of a pattern's class among ASCII, Latin-1 and a spread over all of Unicode.

    Drawing from the whole class (\\p{L} is thousands of ranges) costs Hypothesis seconds per
    operation; this sample keeps every ASCII member and a few hundred beyond.
    """
    one = java_regex(f"[{java_class}]")
    assert one is not None
    pool = [*range(0x00, 0x100), *range(0x100, 0xD800, 251), *range(0xE000, 0x110000, 4099)]
    members = tuple(c for c in map(chr, pool) if one.fullmatch(c))
    assert members, java_class
    return members


def bounds(shape: Shape) -> tuple[int, int | None]:
    """A string's, list's or map's (min, max) size."""
    return int(shape.metadata.get("min", 0)), shape.metadata.get("max")


def _set_member(name: str, pair: tuple[dict[str, Any], Broken]) -> Broken:
    """Valid members plus one broken one."""
    others, (value, exact) = pair
    return {**others, name: value}, exact


class Draw:
    """Valid and broken values for one service's shapes; ``overrides`` steer the input's members."""

    def __init__(self, json: bool, overrides: dict[str, SearchStrategy[Any]]) -> None:
        self.json = json  # restJson1: members outside the URI, query and headers are typed JSON
        self.overrides = overrides

    # valid values

    def valid(self, shape: Shape, name: str = "", depth: int = 0) -> SearchStrategy[Any]:
        if depth == 1 and name in self.overrides:  # the input's own members, not nested namesakes
            return self.overrides[name]
        kind = shape.type_name
        if kind == "structure":
            return self.members(shape, depth)
        if kind == "list":
            low, high = bounds(shape)
            return st.lists(self.valid(shape.member, "", depth + 1), min_size=low, max_size=min(high or 3, low + 3))
        if kind == "map":
            low, high = bounds(shape)
            return st.dictionaries(self.valid(shape.key, "", depth + 1), self.valid(shape.value, "", depth + 1),
                                   min_size=low, max_size=min(high or 3, low + 3))
        if kind == "string":
            return self.string(shape)
        if kind in ("integer", "long"):
            low, high = shape.metadata.get("min"), shape.metadata.get("max")
            bound = 2**31 if kind == "integer" else 2**63
            return st.integers(-bound if low is None else low, bound - 1 if high is None else high)
        if kind == "boolean":
            return st.booleans()
        if kind in ("double", "float"):
            return st.floats(allow_nan=False, allow_infinity=False)
        if kind == "timestamp":
            return st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1))
        if kind == "blob":
            return st.binary(max_size=16)
        raise AssertionError(f"no strategy for {kind}")

    def members(
        self, shape: Shape, depth: int, without: str = "", *, minimal: bool = False,
    ) -> SearchStrategy[dict[str, Any]]:
        """A structure's required members, and (unless ``minimal``) any of its optional ones."""
        required = {n: self.valid(m, n, depth + 1) for n, m in shape.members.items()
                    if n in shape.required_members and n != without}
        optional = {n: self.valid(m, n, depth + 1) for n, m in shape.members.items()
                    if n not in shape.required_members and n != without and depth < 4 and not minimal}
        return st.fixed_dictionaries(required, optional=optional)

    def string(self, shape: Shape) -> SearchStrategy[str]:
        meta = shape.metadata
        if meta.get("enum"):
            return st.sampled_from(meta["enum"])
        low, high = bounds(shape)
        cap = min(high if high is not None else low + 24, low + 24)
        alphabet, regex = self.alphabet(shape)
        if alphabet is not None:
            sizes = [st.text(alphabet, min_size=low, max_size=cap)]
            if high is not None and high <= 4096:  # the longest value allowed, as a repeated short one
                sizes.append(_repeated(alphabet, high))
            return st.one_of(sizes)
        assert regex is not None
        return st.from_regex(regex, fullmatch=True).filter(lambda s: low <= len(s) <= (high or len(s)))

    @staticmethod
    def alphabet(shape: Shape) -> tuple[SearchStrategy[str] | None, re.Pattern[str] | None]:
        """Characters a pattern allows, when it is one class repeated; else the whole regex."""
        pattern = shape.metadata.get("pattern")
        if pattern is None:
            return st.characters(codec="utf-8"), None
        regex = java_regex(pattern)
        assert regex is not None, f"pattern kubegate cannot express: {pattern}"
        simple = _SIMPLE_CLASS.fullmatch(pattern)
        if simple is None:
            return None, regex
        return st.sampled_from(_class_members(simple.group(1))), regex

    # broken values

    def broken(self, shape: Shape, location: str | None, depth: int = 0) -> SearchStrategy[Broken] | None:
        """Values of ``shape`` with one constraint broken; None when the shape has nothing to break."""
        kind = shape.type_name
        sites: list[SearchStrategy[Broken]] = []
        text = location is not None or not self.json  # URI, query string, header or query form: all text
        if kind == "structure":
            for name, member in shape.members.items():
                where = member.serialization.get("location")
                if name in shape.required_members and where != "uri":  # botocore cannot build a path without it
                    missing = self.members(shape, depth, without=name)
                    if not self.json and depth > 0:  # the query protocol writes nothing for an empty structure
                        missing = missing.filter(bool) if len(shape.members) > 1 else None
                    if missing is not None:
                        sites.append(missing.map(lambda d: (d, True)))
                inner = self.broken(member, where, depth + 1) if depth < 4 else None
                if inner is not None:
                    sites.append(st.tuples(self.members(shape, depth, without=name), inner).map(
                        functools.partial(_set_member, name)))
        elif kind in ("list", "map"):
            sites.extend(self.broken_container(shape, location, depth))
        elif kind == "string":
            sites.extend(self.broken_string(shape))
        elif kind in ("integer", "long"):
            sites.extend(self.broken_integer(shape, text))
        if kind in _SCALAR_TYPES and self.json and location is None:
            sites.append(st.sampled_from(_WRONG_JSON[kind]).map(lambda v: (v, True)))
        return st.one_of(sites) if sites else None

    def broken_container(self, shape: Shape, location: str | None, depth: int) -> list[SearchStrategy[Broken]]:
        low, high = bounds(shape)
        is_map = shape.type_name == "map"
        sites: list[SearchStrategy[Broken]] = []

        def sized(size: int) -> SearchStrategy[Any]:
            if is_map:
                return st.dictionaries(self.valid(shape.key), self.valid(shape.value), min_size=size, max_size=size)
            item = self.valid(shape.member)
            if shape.member.type_name == "structure" and not self.json:
                item = item.filter(bool)  # the query protocol writes nothing at all for an empty structure
            return st.lists(item, min_size=size, max_size=size)

        if low > 0 and not (is_map and not self.json):  # an empty map is not sent at all by the query protocol
            sites.append(sized(low - 1).map(lambda v: (v, True)))
        if high is not None and high <= 60:
            sites.append(sized(high + 1).map(lambda v: (v, True)))
        size = max(low, 1) if high is None or high >= max(low, 1) else low
        if is_map and size:
            # a key is text whatever the protocol: JSON object keys are strings
            bad_key, bad_value = self.broken(shape.key, "key", depth + 1), self.broken(shape.value, location, depth + 1)
            others, key, value = sized(size - 1), self.valid(shape.key), self.valid(shape.value)
            if bad_key is not None:
                sites.append(st.tuples(others, bad_key, value).map(
                    lambda t: ({**t[0], t[1][0]: t[2]}, t[1][1])).filter(lambda pair: len(pair[0]) == size))
            if bad_value is not None:
                sites.append(st.tuples(others, key, bad_value).map(
                    lambda t: ({**t[0], t[1]: t[2][0]}, t[2][1])).filter(lambda pair: len(pair[0]) == size))
        elif size:
            bad = self.broken(shape.member, location, depth + 1)
            if bad is not None:
                sites.append(st.tuples(sized(size - 1), bad, st.integers(0, size - 1)).map(
                    lambda t: (t[0][:t[2]] + [t[1][0]] + t[0][t[2]:], t[1][1])))
        return sites

    def broken_string(self, shape: Shape) -> list[SearchStrategy[Broken]]:
        meta = shape.metadata
        low, high = bounds(shape)
        alphabet, regex = self.alphabet(shape)

        def exact(value: str) -> Broken:  # exactly one violation if the pattern still holds
            return value, regex is None or regex.fullmatch(value) is not None

        sites: list[SearchStrategy[Broken]] = []
        if meta.get("enum"):
            wrong = [v for v in ["", "x", *(e.lower() for e in meta["enum"]), *(e + " " for e in meta["enum"])]
                     if v not in meta["enum"]]
            sites.append(st.sampled_from(wrong).map(lambda v: (v, True)))
            return sites
        filler = alphabet if alphabet is not None else st.just("a")
        if high is not None:
            over = st.integers(1, 4).flatmap(lambda extra: _repeated(filler, high + extra))
            sites.append(over.map(exact) if alphabet is not None else over.map(lambda v: (v, False)))
        if low > 0:
            sites.append(st.text(filler, min_size=low - 1, max_size=low - 1).map(exact))
        if regex is not None:
            # a value of an allowed length with one character the pattern does not allow
            padded = [(c * max(low, 1))[: high or None] for c in _BAD_CHARS]
            wrong = [v for v in padded if regex.fullmatch(v) is None]
            if wrong:
                sites.append(st.sampled_from(wrong).map(lambda v: (v, True)))
        return sites

    @staticmethod
    def broken_integer(shape: Shape, text: bool) -> list[SearchStrategy[Broken]]:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        bound = 2**31 if shape.type_name == "integer" else 2**63
        sites: list[SearchStrategy[Broken]] = []
        if low is not None:
            sites.append(st.integers(-bound, low - 1).map(lambda v: (v, True)))
        if high is not None:
            sites.append(st.integers(high + 1, bound - 1).map(lambda v: (v, True)))
        sites.append(st.sampled_from([bound, -bound - 1]).map(lambda v: (v, True)))  # past the Java type's range
        if text:
            sites.append(st.sampled_from(["abc", "1.5", "", "0x10", "1e3"]).map(lambda v: (v, True)))
        return sites


def _repeated(alphabet: SearchStrategy[str], size: int) -> SearchStrategy[str]:
    """A string of exactly ``size`` characters from ``alphabet``, cheap to draw however long."""
    return st.text(alphabet, min_size=1, max_size=3).map(lambda unit: (unit * size)[:size])


# Required output members AWS itself leaves out: GetUser for the account root has no UserName
# or Path (the root is not an IAM user; SDK users fall back to the ARN, e.g. aws-vault #152).
AWS_OMITS = {("GetUser.User", "UserName"), ("GetUser.User", "Path")}


def check_output(shape: Shape, value: Any, path: str) -> None:
    """What botocore's parsers leave unchecked: types, required members and enums."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: not a structure: {value!r}"
        missing = [m for m in shape.required_members if m not in value and (path, m) not in AWS_OMITS]
        assert not missing, f"{path}: required members missing: {missing}"
        for name, item in value.items():
            if name != "ResponseMetadata":
                assert name in shape.members, f"{path}.{name}: not a member of {shape.name}"
                check_output(shape.members[name], item, f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: not a list: {value!r}"
        for n, item in enumerate(value):
            check_output(shape.member, item, f"{path}[{n}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: not a map: {value!r}"
        for k, item in value.items():
            check_output(shape.key, k, f"{path}.key")
            check_output(shape.value, item, f"{path}.{k}")
    elif shape.name == "policyDocumentType" and isinstance(value, dict):
        return  # botocore decodes IAM's URL-encoded policy documents (handlers.json_decode_policies)
    else:
        types: dict[str, type | tuple[type, ...]] = {
            "string": str, "integer": int, "long": int, "boolean": bool, "timestamp": datetime,
            "blob": bytes, "double": (int, float), "float": (int, float),
        }
        assert isinstance(value, types[kind]) and (kind == "boolean" or not isinstance(value, bool)), (
            f"{path}: expected {kind}, got {value!r}")
        if kind == "string" and shape.metadata.get("enum"):
            assert value in shape.metadata["enum"], f"{path}: {value!r} is not in the enum"
