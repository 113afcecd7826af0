"""The model's value constraints (min, max, enum, pattern) and AWS's validation messages.

Shared by every wire protocol, so a request that breaks a constraint gets the same
message whether it came as JSON or as a form. Patterns are Java regexes, matched against
the whole value as AWS's servers do.
"""

from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from functools import lru_cache
from typing import Any

from botocore.model import Shape

_PROPERTY = re.compile(r"\\([pP])\{([A-Za-z]{1,2})\}")
_RENDER_DEPTH = 8
INT_BOUNDS = {"byte": 2**7, "short": 2**15, "integer": 2**31, "long": 2**63}


@lru_cache(maxsize=1)
def _category_runs() -> tuple[tuple[str, int, int], ...]:
    """Code-point runs per Unicode general category; built once, and only if a pattern needs \\p{…}."""
    runs = []
    for category, group in itertools.groupby(range(sys.maxunicode + 1), lambda cp: unicodedata.category(chr(cp))):
        points = list(group)
        runs.append((category, points[0], points[-1]))
    return tuple(runs)


@lru_cache(maxsize=64)
def _category_class(name: str) -> str:
    """Class body for Java's \\p{L}, \\p{Lu}, …: Python's re has no Unicode properties."""
    runs = [(a, b) for cat, a, b in _category_runs() if cat == name or (len(name) == 1 and cat[0] == name)]
    if not runs:
        raise re.error(f"unknown Unicode property {name}")
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in runs)


def _from_java(pattern: str) -> str:
    """Rewrite the Java-only \\p{X} syntax; everything else the models use means the same in Python."""
    out: list[str] = []
    depth, i = 0, 0
    while i < len(pattern):
        prop = _PROPERTY.match(pattern, i)
        if prop is not None:
            body, negated = _category_class(prop.group(2)), prop.group(1) == "P"
            if depth and negated:
                raise re.error("negated property inside a character class")
            out.append(body if depth else f"[{'^' if negated else ''}{body}]")
            i = prop.end()
            continue
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if pattern[i] == "[":
            depth += 1
        elif pattern[i] == "]" and depth:
            depth -= 1
        out.append(pattern[i])
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def java_regex(pattern: str) -> re.Pattern[str] | None:
    """ASCII mode because Java's \\w, \\d and \\s are ASCII-only; a pattern we cannot express is not enforced."""
    try:
        return re.compile(_from_java(pattern), re.ASCII)
    except re.error:
        return None


def render(value: Any) -> str:
    """Render a value the way AWS's (Java) validation messages do: 'x', '[a, b]', null.

    Containers deeper than _RENDER_DEPTH show as [...] / {...}: a caller's JSON may nest
    nearly as deep as Python's recursion limit, and the message needs none of it.
    """
    def text(v: Any, depth: int) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, dict)) and depth >= _RENDER_DEPTH:
            return "[...]" if isinstance(v, list) else "{...}"
        if isinstance(v, list):
            return "[" + ", ".join(text(i, depth + 1) for i in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{text(k, depth + 1)}={text(i, depth + 1)}" for k, i in v.items()) + "}"
        return str(v)
    return "null" if value is None else f"'{text(value, 0)}'"


def violation(value: Any, path: str, constraint: str) -> str:
    return f"Value {render(value)} at '{path}' failed to satisfy constraint: {constraint}"


def constrain(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    """The model's min/max/enum/pattern traits; patterns must match the whole value, as in Java."""
    meta, kind = shape.metadata, shape.type_name
    if kind in ("string", "blob", "list", "map"):
        size, what = len(value), "length"
    elif kind in INT_BOUNDS or kind in ("float", "double"):
        size, what = value, "value"
    else:
        return
    if "min" in meta and size < meta["min"]:
        errors.append(violation(value, path, f"Member must have {what} greater than or equal to {meta['min']}"))
    if "max" in meta and size > meta["max"]:
        errors.append(violation(value, path, f"Member must have {what} less than or equal to {meta['max']}"))
    if kind == "string" and meta.get("enum") and value not in meta["enum"]:
        errors.append(violation(value, path, f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"))
    regex = java_regex(meta["pattern"]) if kind == "string" and "pattern" in meta else None
    if regex is not None and regex.fullmatch(value) is None:
        errors.append(violation(value, path, f"Member must satisfy regular expression pattern: {meta['pattern']}"))
