"""How an IAM policy's text is compared with a request: condition operators, policy variables
and ``*``/``?`` wildcards (shared by Action, Resource and the string and ARN operators).

Map of the module:

- ``KeyLookup``: the request's condition keys, and which keys AWS would set but kubegate
  cannot know;
- three-valued logic: ``True``, ``False`` and ``None`` ("kubegate cannot tell"), combined by
  ``any3``/``all3``/``not3``; the caller fails closed on ``None``: an Allow that needs it does
  not apply, a Deny that needs it does;
- ``resolve``: ``${...}`` policy variables, kept apart from the policy's own text;
- ``wildcard_match``: ``*`` and ``?`` without backtracking;
- ``operator_of`` and ``condition_holds``: every IAM condition operator, with ``...IfExists``,
  ``ForAllValues:``/``ForAnyValue:`` and ``Null``, following the IAM User Guide ("Condition
  operators", "Conditions with multiple context keys or values", "Variables and tags").

No I/O and no clock: a date is compared with the key values the request carries.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Literal, TypeVar

Keys = Mapping[str, tuple[str, ...]]  # condition keys, names lower-cased
Segments = tuple[tuple[bool, str], ...]  # (text came from a policy variable, text)
Tri = bool | None  # None: kubegate cannot tell, so the caller fails closed

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")


class Missing(Enum):
    """Why a policy variable has no value: AWS has none (and the policy gives no default), or
    only AWS would know it."""

    ABSENT = "absent"
    UNKNOWN = "unknown"


Resolved = Segments | Missing


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """A request's condition keys (names lower-cased) and ``unknown``, which names the keys AWS
    would set for this request but kubegate cannot know. A key the request carries is known."""

    keys: Keys
    unknown: Callable[[str], bool]

    def values(self, name: str) -> tuple[str, ...] | None:
        """The key's values; ``()`` when AWS would not set it; None when only AWS would know."""
        lowered = name.lower()
        found = self.keys.get(lowered)
        if found is not None:
            return found
        return None if self.unknown(lowered) else ()


# ---------------------------------------------------------------- three-valued logic


def any3(results: Iterable[Tri]) -> Tri:
    """OR: one True decides; otherwise one None leaves it open."""
    undecided = False
    for result in results:
        if result:
            return True
        undecided = undecided or result is None
    return None if undecided else False


def all3(results: Iterable[Tri]) -> Tri:
    """AND: one False decides; otherwise one None leaves it open."""
    undecided = False
    for result in results:
        if result is False:
            return False
        undecided = undecided or result is None
    return None if undecided else True


def not3(result: Tri) -> Tri:
    return None if result is None else not result


# ---------------------------------------------------------------- policy variables


def resolve(text: str, lookup: KeyLookup, variables: bool) -> Resolved:
    """Expand ``${...}`` policy variables.

    ABSENT: a variable has no value and no default, so (as AWS says) the statement cannot
    match; UNKNOWN: a variable names a key only AWS would know (even with a default, since AWS
    might have a value), which outranks ABSENT so that the text fails closed.

    Substituted text stays apart from the policy's own text so a ``*`` in a value (or
    ``${*}``) is matched literally, never as a wildcard.
    """
    if not variables or "${" not in text:
        return ((False, text),)
    segments: list[tuple[bool, str]] = []
    missing: Missing | None = None
    position = 0
    for match in _VARIABLE.finditer(text):
        value = _variable(match.group(1), lookup)
        if isinstance(value, Missing):
            missing = Missing.UNKNOWN if Missing.UNKNOWN in (value, missing) else value
            continue
        segments += [(False, text[position : match.start()]), (True, value)]
        position = match.end()
    if missing is not None:
        return missing
    segments.append((False, text[position:]))
    return tuple(segment for segment in segments if segment[1])


def _variable(body: str, lookup: KeyLookup) -> str | Missing:
    if body in ("*", "?", "$"):
        return body
    match = _VARIABLE_BODY.fullmatch(body)
    if match is None:
        return Missing.ABSENT
    values = lookup.values(match.group(1))
    if values is None:
        return Missing.UNKNOWN  # a default stands in only for a value AWS would not have either
    if len(values) == 1:  # a multi-valued key cannot stand in for one string
        return values[0]
    default = match.group(2)
    return Missing.ABSENT if default is None else default.replace("''", "'")


# ---------------------------------------------------------------- wildcards

_LITERAL, _ANY, _ANY_IN_SEGMENT, _RUN, _RUN_IN_SEGMENT = range(5)
Mode = Literal["glob", "resource", "arn"]


def wildcard_match(pattern: Segments, mode: Mode, value: str, *, ignore_case: bool = False) -> bool:
    """Match ``*``/``?`` wildcards by stepping through every pattern position at once (an NFA),
    so time grows with pattern x value, never exponentially as a backtracking regex can when a
    policy author writes ``*a*a*a*...``."""
    tokens, exact = _compile(pattern, mode, ignore_case)
    value = value.lower() if ignore_case else value
    if exact is not None:
        return value == exact
    states = _skip_empty_runs({0}, tokens)
    for char in value:
        following = set()
        for index in states:
            kind, literal = tokens[index] if index < len(tokens) else (_LITERAL, "")
            if kind == _RUN or (kind == _RUN_IN_SEGMENT and char != ":"):
                following.add(index)
            elif kind == _ANY or (kind == _ANY_IN_SEGMENT and char != ":") or (kind == _LITERAL and literal == char):
                following.add(index + 1)
        states = _skip_empty_runs(following, tokens)
        if not states:
            return False
    return len(tokens) in states


def _skip_empty_runs(states: set[int], tokens: tuple[tuple[int, str], ...]) -> set[int]:
    """A ``*`` may match nothing, so being before one is also being after it."""
    pending, reached = list(states), set(states)
    while pending:
        index = pending.pop()
        if index < len(tokens) and tokens[index][0] in (_RUN, _RUN_IN_SEGMENT) and index + 1 not in reached:
            reached.add(index + 1)
            pending.append(index + 1)
    return reached


@lru_cache(maxsize=4096)
def _compile(pattern: Segments, mode: Mode, ignore_case: bool) -> tuple[tuple[tuple[int, str], ...], str | None]:
    """Tokens for ``pattern``, and the plain string when it has no wildcard. How far a wildcard
    reaches depends on the mode:

    - glob (actions, StringLike): ``*`` spans anything, ``:`` and ``/`` included;
    - resource: ``*`` stays inside its ARN segment unless it ends one, then it may run on
      across colons (IAM's Resource rule);
    - arn (ArnLike): each colon-separated component matches on its own; the pattern's last
      component takes the rest of the ARN, since an ARN's resource part may hold colons.

    Characters that came from a policy variable are always literal.
    """
    chars = [(char, not from_variable) for from_variable, text in pattern for char in text]
    last_component = min(chars.count((":", True)), 5)
    colons, tokens = 0, []
    for index, (char, own) in enumerate(chars):
        if not own or char not in "*?":
            colons += 1 if own and char == ":" else 0
            tokens.append((_LITERAL, char.lower() if ignore_case else char))
            continue
        ends_segment = index + 1 == len(chars) or chars[index + 1] == (":", True)
        spans = mode == "glob" or (mode == "arn" and colons >= last_component) or (
            mode == "resource" and char == "*" and ends_segment
        )
        run_or_any = (_RUN, _RUN_IN_SEGMENT) if char == "*" else (_ANY, _ANY_IN_SEGMENT)
        tokens.append((run_or_any[0] if spans else run_or_any[1], char))
    exact = None if any(kind != _LITERAL for kind, _ in tokens) else "".join(literal for _, literal in tokens)
    return tuple(tokens), exact


def text_of(pattern: Segments) -> str:
    return "".join(text for _, text in pattern)


# ---------------------------------------------------------------- values of the typed operators

V = TypeVar("V")
Test = Callable[[str, Segments], Tri]

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EPOCH = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_W3C = re.compile(  # the W3C profile of ISO 8601; a missing zone is read as UTC
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_CIDR = re.compile(r"[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?")
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _number(text: str) -> Decimal | None:
    text = text.strip()
    return Decimal(text) if _NUMBER.fullmatch(text) else None


def _instant(text: str) -> Decimal | None:
    """Seconds since the epoch, from epoch seconds or a W3C ISO 8601 date/time. A bare
    four-digit number is both a W3C year and an epoch second, and AWS does not say which it
    reads, so it is not guessed (it parses as nothing)."""
    if re.fullmatch(r"[0-9]{4}", text):
        return None
    if _EPOCH.fullmatch(text):
        return Decimal(text)
    match = _W3C.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0), tzinfo=_zone(zone))
    except ValueError:
        return None
    delta = moment - _UNIX_EPOCH
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal("0" + (fraction or ""))


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return timezone.utc
    hours, minutes = int(text[1:3]), int(text[4:6])
    if minutes > 59:
        raise ValueError(text)
    return timezone((-1 if text[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR block; an address alone is its own /32 (or /128). Netmask forms are not CIDR."""
    if not _CIDR.fullmatch(text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None  # aws:SourceIp can hold a service's name: it is in no range


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.lower())


def _typed(parse: Callable[[str], V | None], compare: Callable[[V, V], bool]) -> Test:
    """A test for a typed operator. A policy value that does not parse decides nothing (None:
    it never grants and never lifts a Deny); a request value that does not parse matches no
    policy value, as a service name in aws:SourceIp matches no range on AWS."""

    def test(value: str, pattern: Segments) -> Tri:
        wanted = parse(text_of(pattern))
        if wanted is None:
            return None
        actual = parse(value)
        return actual is not None and compare(actual, wanted)

    return test


def _arn_like(value: str, pattern: Segments) -> Tri:
    return wildcard_match(pattern, "arn", value)


def _in_range(value: str, pattern: Segments) -> Tri:
    """IpAddress: as ``_typed``, with a CIDR block on the policy side and an address in the request."""
    network = _network(text_of(pattern))
    if network is None:
        return None
    address = _address(value)
    return address is not None and address.version == network.version and address in network


# ---------------------------------------------------------------- operators


@dataclass(frozen=True)
class Operator:
    qualifier: str | None  # "ForAllValues" or "ForAnyValue"
    base: str  # the positive form: StringNotLike -> StringLike
    negated: bool
    if_exists: bool


_TESTS: dict[str, Test] = {
    "StringEquals": lambda value, pattern: value == text_of(pattern),
    "StringEqualsIgnoreCase": lambda value, pattern: value.casefold() == text_of(pattern).casefold(),
    "StringLike": lambda value, pattern: wildcard_match(pattern, "glob", value),
    "ArnEquals": _arn_like,  # IAM documents ArnEquals and ArnLike identically, wildcards included
    "ArnLike": _arn_like,
    "NumericEquals": _typed(_number, operator.eq),
    "NumericLessThan": _typed(_number, operator.lt),
    "NumericLessThanEquals": _typed(_number, operator.le),
    "NumericGreaterThan": _typed(_number, operator.gt),
    "NumericGreaterThanEquals": _typed(_number, operator.ge),
    "DateEquals": _typed(_instant, operator.eq),
    "DateLessThan": _typed(_instant, operator.lt),
    "DateLessThanEquals": _typed(_instant, operator.le),
    "DateGreaterThan": _typed(_instant, operator.gt),
    "DateGreaterThanEquals": _typed(_instant, operator.ge),
    "Bool": _typed(_boolean, operator.eq),  # "true"/"false" in any case, nothing else
    "BinaryEquals": _typed(_binary, operator.eq),  # request values arrive base64 too
    "IpAddress": _in_range,
}
_NEGATED = {
    "StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike", "DateNotEquals": "DateEquals", "NotIpAddress": "IpAddress",
}
_AWS_OPERATORS = frozenset(_TESTS) | frozenset(_NEGATED) | {"Null"}
# IAM expands ${...} only for string and ARN operators; elsewhere it is literal text.
_VARIABLE_FAMILIES = ("String", "Arn")


@lru_cache(maxsize=512)
def operator_of(name: str) -> Operator | None:
    """The operator named ``name`` (e.g. "ForAnyValue:StringNotLikeIfExists"), or None."""
    qualifier, colon, rest = name.partition(":")
    if not colon:
        qualifier, rest = "", name
    elif qualifier not in ("ForAllValues", "ForAnyValue"):
        return None
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest[: -len("IfExists")] if if_exists else rest
    if base not in _AWS_OPERATORS:
        return None
    return Operator(qualifier or None, _NEGATED.get(base, base), base in _NEGATED, if_exists)


def condition_holds(name: str, key: str, values: tuple[str, ...], lookup: KeyLookup, variables: bool) -> Tri:
    """Whether one operator/key pair holds, or None when kubegate cannot tell: the key is one
    only AWS would know, a variable names such a key, an operator or policy value cannot be
    read, or a multi-valued key meets an operator without a set qualifier (AWS requires one).

    A key the request lacks is false, but true for negated operators, ...IfExists and
    ForAllValues (a documented pitfall), and false for ForAnyValue even with IfExists or a
    negated operator; Null tests exactly that. A request key with no values is a null data
    set, which counts as absent.
    """
    op = operator_of(name)
    present = lookup.values(key)
    if op is None or present is None or not values:
        return None
    if op.base == "Null":
        return _null(op, values, present)
    substitute = variables and op.base.startswith(_VARIABLE_FAMILIES)
    patterns = [resolve(value, lookup, substitute) for value in values]
    if Missing.UNKNOWN in patterns:
        return None
    if not present:
        return (op.qualifier == "ForAllValues") if op.qualifier else (op.if_exists or op.negated)
    resolved = [pattern for pattern in patterns if not isinstance(pattern, Missing)]
    if len(resolved) < len(patterns):
        return False  # a variable without a value: AWS cannot match the statement
    return _compare(op, present, resolved)


def _null(op: Operator, values: tuple[str, ...], present: tuple[str, ...]) -> Tri:
    """``true`` means the key is absent, ``false`` that it is present; any other value, or a
    qualifier or IfExists (which AWS does not define for Null), decides nothing."""
    if op.qualifier or op.if_exists:
        return None
    return any3(None if (wanted := _boolean(value)) is None else wanted == (not present) for value in values)


def _compare(op: Operator, present: tuple[str, ...], patterns: list[Segments]) -> Tri:
    """Policy values are ORed (NORed for a negated operator); ForAllValues needs every request
    value to pass, ForAnyValue one."""
    test = _TESTS[op.base]

    def passes(value: str) -> Tri:
        matched = any3(test(value, pattern) for pattern in patterns)
        return not3(matched) if op.negated else matched

    if op.qualifier == "ForAllValues":
        return all3(passes(value) for value in present)
    if op.qualifier == "ForAnyValue":
        return any3(passes(value) for value in present)
    if len(present) > 1:
        return None  # "Multivalued context keys require a condition set operator"
    return passes(present[0])
