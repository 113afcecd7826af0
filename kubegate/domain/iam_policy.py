"""IAM JSON policy documents, and AWS's evaluation logic for identity and role trust policies.

kubegate's embedded IAM must refuse the documents IAM refuses and decide requests the way AWS
decides them, so that a policy written against kubegate behaves the same on AWS. Messages are
the texts IAM returns; evaluation follows AWS's documented logic within one account: an
explicit Deny wins, then any Allow, else the request is implicitly denied.

No I/O and no clock: everything a decision needs arrives as arguments.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from kubegate.domain.errors import LimitExceeded, MalformedPolicyDocument

VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2008-10-17"  # what IAM assumes when a document has no Version
VARIABLES_VERSION = "2012-10-17"  # only this version expands ${...}; older ones keep it literal

SYNTAX_ERROR = "Syntax errors in policy."
LEGACY_PARSING = "The policy failed legacy parsing"
DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
NO_PRINCIPALS = "The passed in policy has a statement with no principals!"
PRINCIPAL_IN_IDENTITY_POLICY = "Policy document should not specify a principal."
TRUST_ACTIONS_ONLY = "AssumeRole policy may only specify STS AssumeRole actions."
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
RESOURCE_VENDOR = "Resource vendor must be fully qualified and cannot contain regexes."

_TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_LISTS = ("Action", "NotAction", "Resource", "NotResource")
_STATEMENT_ELEMENTS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Condition", *_LISTS})
_TRUST_ACTIONS = frozenset(("sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity",
                            "sts:tagsession", "sts:setsourceidentity", "sts:setcontext"))
_PRINCIPAL_KINDS = ("AWS", "Service", "Federated")
_VENDOR = re.compile(r"[A-Za-z0-9.-]+")
_AWS_PRINCIPAL = re.compile(
    r"\d{12}|arn:[\w-]+:(iam::\d{12}:(root|(user|role|federated-user)/.+)|sts::\d{12}:(assumed-role|federated-user)/.+)"
)
_ROOT = re.compile(r"arn:[\w-]+:iam::(\d{12}):root")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")

Keys = Mapping[str, tuple[str, ...]]  # condition keys, names lower-cased
Segments = tuple[tuple[bool, str], ...]  # (text came from a policy variable, text)


@dataclass(frozen=True)
class Principals:
    """A Principal element, normalised: ``"*"`` is ``{"AWS": "*"}``, single strings become tuples."""

    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """One operator/key pair of a Condition block; its values are ORed, pairs are ANDed."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principals: Principals | None
    not_principals: Principals | None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class PolicyDocument:
    version: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class RequestContext:
    action: str  # matched case-insensitively
    resource: str  # an ARN or "*", matched case-sensitively
    principal_arn: str  # also the default for aws:PrincipalArn
    account: str  # also the default for aws:PrincipalAccount
    condition_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    explicit_deny: bool


@dataclass(frozen=True)
class TrustDecision(Decision):
    """``via_account``: only statements naming the caller's *account* allowed it, so AWS also
    requires the caller's identity policies to allow the action; naming the caller itself does not."""

    via_account: bool = False


@dataclass(frozen=True)
class TrustCaller:
    arn: str  # user ARN, or the assumed-role session ARN
    principal_arn: str  # user ARN, or the role ARN a session came from
    account: str


# ---------------------------------------------------------------- parsing


def policy_size(text: str) -> int:
    """IAM's quotas count non-whitespace characters, so formatting never costs quota."""
    return sum(1 for char in text if not char.isspace())


def parse_policy(text: str, *, kind: Literal["identity", "trust"], max_length: int | None = None) -> PolicyDocument:
    """Validate as IAM does: the whole document's syntax first, then each statement's meaning.

    ``max_length`` is the caller's quota (IAM's differ per user, role, managed and trust
    policy); exceeding it is IAM's ``LimitExceeded``, not a malformed document.
    """
    if max_length is not None and policy_size(text) > max_length:
        quota = "ACLSizePerRole" if kind == "trust" else "PolicySize"
        raise LimitExceeded(f"Cannot exceed quota for {quota}: {max_length}")
    document = _load(text)
    raws = _raw_statements(document.get("Statement"))
    for raw in raws:
        _check_syntax(raw)
    if any(raw["Effect"] not in ("Allow", "Deny") for raw in raws):
        raise MalformedPolicyDocument(LEGACY_PARSING)  # IAM's answer to a mis-cased "allow"
    sids = [raw["Sid"] for raw in raws if raw.get("Sid")]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocument(DUPLICATE_SID)
    return PolicyDocument(document.get("Version", DEFAULT_VERSION), tuple(_statement(raw, kind) for raw in raws))


def _load(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument(SYNTAX_ERROR) from None
    if (
        not isinstance(document, dict)
        or not set(document) <= _TOP_ELEMENTS
        or ("Version" in document and document["Version"] not in VERSIONS)
        or not isinstance(document.get("Id", ""), str)
    ):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    return document


def _raw_statements(value: Any) -> list[dict[str, Any]]:
    raws = [value] if isinstance(value, dict) else value
    if not isinstance(raws, list) or not raws or not all(isinstance(raw, dict) for raw in raws):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    return raws


def _check_syntax(raw: dict[str, Any]) -> None:
    effect = raw.get("Effect")
    well_formed = (
        set(raw) <= _STATEMENT_ELEMENTS
        and isinstance(raw.get("Sid", ""), str)
        and isinstance(effect, str)
        and effect.lower() in ("allow", "deny")
        and all(_strings(raw[name]) is not None for name in _LISTS if name in raw)
        and all(_principal_shape_ok(raw[name]) for name in ("Principal", "NotPrincipal") if name in raw)
        and not any(a in raw and b in raw for a, b in (("Action", "NotAction"), ("Resource", "NotResource"),
                                                        ("Principal", "NotPrincipal")))
        and _condition_shape_ok(raw.get("Condition", {}))
    )
    if not well_formed:
        raise MalformedPolicyDocument(SYNTAX_ERROR)


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _scalars(value: Any) -> tuple[str, ...] | None:
    """Condition values may be JSON strings, numbers or booleans; IAM compares them as strings."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, (str, int, float)) for item in items):
        return None
    return tuple(("true" if item else "false") if isinstance(item, bool) else str(item) for item in items)


def _principal_shape_ok(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and all(_strings(item) is not None for item in value.values())


def _condition_shape_ok(block: Any) -> bool:
    return isinstance(block, dict) and all(
        isinstance(body, dict) and (not body or _operator(name) is not None)
        and all(_scalars(values) is not None for values in body.values())
        for name, body in block.items()
    )


def _statement(raw: dict[str, Any], kind: str) -> Statement:
    _check_fields_allowed(raw, kind)
    actions, not_actions, resources, not_resources = (_strings(raw[n]) if n in raw else None for n in _LISTS)
    listed = actions if actions is not None else not_actions
    if not listed:
        raise MalformedPolicyDocument(NO_ACTIONS)
    for action in listed:
        _check_action(action)
    if kind == "trust" and any(action.lower() not in _TRUST_ACTIONS for action in listed):
        raise MalformedPolicyDocument(TRUST_ACTIONS_ONLY)
    if kind == "identity":
        named = resources if resources is not None else not_resources
        if not named:
            raise MalformedPolicyDocument(NO_RESOURCES)
        for resource in named:
            _check_resource(resource)
    principals = _principals(raw["Principal"]) if "Principal" in raw else None
    if kind == "trust" and principals is None:
        raise MalformedPolicyDocument(NO_PRINCIPALS)
    return Statement(
        sid=raw.get("Sid") or None, effect=raw["Effect"], actions=actions, not_actions=not_actions,
        resources=resources, not_resources=not_resources, principals=principals, not_principals=None,
        conditions=_conditions(raw.get("Condition", {})),
    )


def _check_fields_allowed(raw: dict[str, Any], kind: str) -> None:
    """Identity policies never name a principal; a trust policy's only resource is its role."""
    if kind == "identity" and ("Principal" in raw or "NotPrincipal" in raw):
        raise MalformedPolicyDocument(PRINCIPAL_IN_IDENTITY_POLICY)
    if kind == "trust":
        for name in ("Resource", "NotResource", "NotPrincipal"):
            if name in raw:
                raise MalformedPolicyDocument(f"Has prohibited field {name}")


def _check_action(action: str) -> None:
    if action == "*":
        return
    vendor, colon, rest = action.partition(":")
    if not colon:
        raise MalformedPolicyDocument(NO_VENDOR)
    if ":" in rest:
        raise MalformedPolicyDocument(ONE_COLON)
    if vendor != "*" and not _VENDOR.fullmatch(vendor):
        raise MalformedPolicyDocument(f"Vendor {vendor} is not valid")


def _check_resource(resource: str) -> None:
    if resource == "*":
        return
    parts = resource.split(":", 5)
    if parts[0] != "arn" or len(parts) < 2:
        raise MalformedPolicyDocument(f'Resource {resource} must be in ARN format or "*".')
    if len(parts) < 3 or not parts[2] or "*" in parts[2] or "?" in parts[2]:
        raise MalformedPolicyDocument(RESOURCE_VENDOR)


def _principals(value: Any) -> Principals:
    if value == "*":
        return Principals(aws=("*",))
    if isinstance(value, str):
        raise MalformedPolicyDocument(f'Invalid principal in policy: "{value}"')
    for kind, items in value.items():
        if kind not in _PRINCIPAL_KINDS:
            raise MalformedPolicyDocument(f'Invalid principal in policy: "{kind}":"{",".join(_strings(items) or ())}"')
    found = {kind: _strings(value.get(kind, [])) or () for kind in _PRINCIPAL_KINDS}
    if not any(found.values()):
        raise MalformedPolicyDocument(NO_PRINCIPALS)
    for kind, items in found.items():
        for item in items:
            if not item or (kind == "AWS" and item != "*" and ("*" in item or not _AWS_PRINCIPAL.fullmatch(item))):
                raise MalformedPolicyDocument(f'Invalid principal in policy: "{kind}":"{item}"')
    return Principals(aws=found["AWS"], service=found["Service"], federated=found["Federated"])


def _conditions(block: dict[str, Any]) -> tuple[Condition, ...]:
    conditions = tuple(
        Condition(name, key, _scalars(values) or ()) for name, body in block.items() for key, values in body.items()
    )
    if any(":" not in condition.key for condition in conditions):
        raise MalformedPolicyDocument(NO_VENDOR)
    return conditions


# ---------------------------------------------------------------- evaluation


def evaluate(policies: Sequence[tuple[str, PolicyDocument]], context: RequestContext) -> Decision:
    """AWS's identity-policy logic: any matching Deny denies; else any matching Allow allows."""
    keys = _keys(context.condition_keys, {"aws:PrincipalArn": context.principal_arn,
                                          "aws:PrincipalAccount": context.account})
    allowed_by: str | None = None
    for name, document in policies:
        variables = document.version == VARIABLES_VERSION
        for index, statement in enumerate(document.statements, 1):
            if not (
                _action_matches(statement, context.action)
                and _resource_matches(statement, context.resource, keys, variables)
                and _conditions_hold(statement, keys, variables)
            ):
                continue
            if statement.effect == "Deny":
                return Decision(False, f'explicitly denied by {_label(statement, index)} of policy "{name}"', True)
            allowed_by = allowed_by or f'allowed by {_label(statement, index)} of policy "{name}"'
    if allowed_by is not None:
        return Decision(True, allowed_by, False)
    return Decision(False, f"no statement allows {context.action} on {context.resource}", False)


def evaluate_trust(
    trust: PolicyDocument, *, caller: TrustCaller, action: str, condition_keys: Mapping[str, tuple[str, ...]]
) -> TrustDecision:
    """Whether a role's trust policy lets ``caller`` perform ``action`` (e.g. sts:AssumeRole) on it."""
    keys = _keys(condition_keys, {"aws:PrincipalArn": caller.principal_arn, "aws:PrincipalAccount": caller.account})
    variables = trust.version == VARIABLES_VERSION
    allowed_by: tuple[str, bool] | None = None  # (label, only via the account)
    for index, statement in enumerate(trust.statements, 1):
        match = _trust_principal(statement, caller)
        if match is None or not _action_matches(statement, action) or not _conditions_hold(statement, keys, variables):
            continue
        label = _label(statement, index)
        if statement.effect == "Deny":
            return TrustDecision(False, f"explicitly denied by {label} of the trust policy", True)
        if allowed_by is None or (allowed_by[1] and match == "principal"):
            allowed_by = (label, match == "account")
    if allowed_by is None:
        return TrustDecision(False, f"no statement of the trust policy allows {caller.arn} to perform {action}", False)
    return TrustDecision(True, f"allowed by {allowed_by[0]} of the trust policy", False, via_account=allowed_by[1])


def _keys(given: Mapping[str, tuple[str, ...]], defaults: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Condition key names are case-insensitive in IAM; values are not."""
    keys = {name.lower(): ((values,) if isinstance(values, str) else tuple(values)) for name, values in given.items()}
    for name, value in defaults.items():
        keys.setdefault(name.lower(), (value,))
    return keys


def _label(statement: Statement, index: int) -> str:
    return f'statement "{statement.sid}"' if statement.sid else f"statement {index}"


def _action_matches(statement: Statement, action: str) -> bool:
    def matches(pattern: str) -> bool:
        return _wildcard_match(((False, pattern),), "glob", action, ignore_case=True)

    if statement.actions is not None:
        return any(matches(pattern) for pattern in statement.actions)
    return statement.not_actions is not None and not any(matches(pattern) for pattern in statement.not_actions)


def _resource_matches(statement: Statement, resource: str, keys: Keys, variables: bool) -> bool:
    """An unresolvable variable matches nothing: in NotResource it makes the whole element fail."""
    if statement.resources is not None:
        resolved = [_resolve(pattern, keys, variables) for pattern in statement.resources]
        return any(p is not None and _wildcard_match(p, "resource", resource) for p in resolved)
    if statement.not_resources is not None:
        patterns = _resolve_all(statement.not_resources, keys, variables)
        return patterns is not None and not any(_wildcard_match(p, "resource", resource) for p in patterns)
    return True


def _trust_principal(statement: Statement, caller: TrustCaller) -> Literal["principal", "account"] | None:
    if statement.principals is not None:
        return _principal_match(statement.principals, caller)
    if statement.not_principals is not None:
        return None if _principal_match(statement.not_principals, caller) else "principal"
    return None


def _principal_match(principals: Principals, caller: TrustCaller) -> Literal["principal", "account"] | None:
    """Service and Federated principals never name an IAM caller, so only "AWS" values count."""
    by_account = False
    for value in principals.aws:
        if value == "*" or value in (caller.arn, caller.principal_arn):
            return "principal"
        root = _ROOT.fullmatch(value)
        by_account = by_account or value == caller.account or (root is not None and root.group(1) == caller.account)
    return "account" if by_account else None


# ---------------------------------------------------------------- variables and wildcards


def _resolve_all(texts: Sequence[str], keys: Keys, variables: bool) -> list[Segments] | None:
    resolved = []
    for text in texts:
        segments = _resolve(text, keys, variables)
        if segments is None:
            return None
        resolved.append(segments)
    return resolved


def _resolve(text: str, keys: Keys, variables: bool) -> Segments | None:
    """Expand ${...} policy variables; None when one has no value (so nothing can match).

    Substituted text stays apart from the policy's own text so a ``*`` in a value (or
    ``${*}``) is matched literally, never as a wildcard.
    """
    if not variables or "${" not in text:
        return ((False, text),)
    segments: list[tuple[bool, str]] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        value = _variable(match.group(1), keys)
        if value is None:
            return None
        segments += [(False, text[position : match.start()]), (True, value)]
        position = match.end()
    segments.append((False, text[position:]))
    return tuple(segment for segment in segments if segment[1])


def _variable(body: str, keys: Keys) -> str | None:
    if body in ("*", "?", "$"):
        return body
    match = _VARIABLE_BODY.fullmatch(body)
    if match is None:
        return None
    values = keys.get(match.group(1).lower(), ())
    if len(values) == 1:  # a multi-valued key cannot stand in for one string
        return values[0]
    default = match.group(2)
    return None if default is None else default.replace("''", "'")


_LITERAL, _ANY, _ANY_IN_SEGMENT, _RUN, _RUN_IN_SEGMENT = range(5)


def _wildcard_match(pattern: Segments, mode: Literal["glob", "resource", "arn"], value: str, *,
                    ignore_case: bool = False) -> bool:
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
def _compile(
    pattern: Segments, mode: Literal["glob", "resource", "arn"], ignore_case: bool
) -> tuple[tuple[tuple[int, str], ...], str | None]:
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


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class _Operator:
    qualifier: str | None  # "ForAllValues" or "ForAnyValue"
    base: str  # the positive form: StringNotLike -> StringLike
    negated: bool
    if_exists: bool


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Callable[[str, Segments], bool]:
    def test(value: str, pattern: Segments) -> bool:
        try:
            a, b = Decimal(value.strip()), Decimal(_text(pattern).strip())
        except InvalidOperation:
            return False  # not a number: no match, never an error
        return a.is_finite() and b.is_finite() and compare(a, b)

    return test


def _text(pattern: Segments) -> str:
    return "".join(text for _, text in pattern)


def _arn_like(value: str, pattern: Segments) -> bool:
    return _wildcard_match(pattern, "arn", value)


_TESTS: dict[str, Callable[[str, Segments], bool]] = {
    "StringEquals": lambda value, pattern: value == _text(pattern),
    "StringEqualsIgnoreCase": lambda value, pattern: value.casefold() == _text(pattern).casefold(),
    "StringLike": lambda value, pattern: _wildcard_match(pattern, "glob", value),
    "ArnEquals": _arn_like,  # IAM documents ArnEquals and ArnLike identically, wildcards included
    "ArnLike": _arn_like,
    "Bool": lambda value, pattern: value.lower() == _text(pattern).lower(),
    "NumericEquals": _numeric(operator.eq),
    "NumericLessThan": _numeric(operator.lt),
    "NumericLessThanEquals": _numeric(operator.le),
    "NumericGreaterThan": _numeric(operator.gt),
    "NumericGreaterThanEquals": _numeric(operator.ge),
}
_NEGATED = {
    "StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike", "DateNotEquals": "DateEquals", "NotIpAddress": "IpAddress",
}
# Valid in IAM but not evaluated by kubegate: they parse, and then fail closed.
_NOT_EVALUATED = frozenset({"DateEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
                            "DateGreaterThanEquals", "IpAddress", "BinaryEquals"})
_AWS_OPERATORS = frozenset(_TESTS) | frozenset(_NEGATED) | _NOT_EVALUATED | {"Null"}


@lru_cache(maxsize=512)
def _operator(name: str) -> _Operator | None:
    qualifier, colon, rest = name.partition(":")
    if not colon:
        qualifier, rest = "", name
    elif qualifier not in ("ForAllValues", "ForAnyValue"):
        return None
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest[: -len("IfExists")] if if_exists else rest
    if base not in _AWS_OPERATORS:
        return None
    return _Operator(qualifier or None, _NEGATED.get(base, base), base in _NEGATED, if_exists)


def _conditions_hold(statement: Statement, keys: Keys, variables: bool) -> bool:
    """All conditions must hold; one kubegate cannot evaluate fails closed (an Allow does not
    apply, a Deny does)."""
    for condition in statement.conditions:
        holds = _condition_holds(condition, keys, variables)
        if not (statement.effect == "Deny" if holds is None else holds):
            return False
    return True


def _condition_holds(condition: Condition, keys: Keys, variables: bool) -> bool | None:
    """AWS's rules for a key the request lacks: false, but true for negated operators, ...IfExists
    and ForAllValues, and false for ForAnyValue even with IfExists; Null tests exactly that."""
    op = _operator(condition.operator)
    if op is None or (op.base not in _TESTS and op.base != "Null"):
        return None
    present = keys.get(condition.key.lower(), ())
    if op.base == "Null":
        wanted = "false" if present else "true"
        return any(value.lower() == wanted for value in condition.values)
    if not present:
        return op.qualifier == "ForAllValues" if op.qualifier else op.if_exists or op.negated
    patterns = _resolve_all(condition.values, keys, variables and not op.base.startswith("Numeric"))
    if patterns is None:
        return False
    test = _TESTS[op.base]

    def satisfied(value: str) -> bool:
        return any(test(value, pattern) for pattern in patterns) != op.negated

    if op.qualifier == "ForAllValues":
        return all(satisfied(value) for value in present)
    if op.qualifier == "ForAnyValue":
        return any(satisfied(value) for value in present)
    return any(test(value, pattern) for value in present for pattern in patterns) != op.negated
