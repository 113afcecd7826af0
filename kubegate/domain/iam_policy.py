"""IAM JSON policy documents, and AWS's evaluation logic for identity and role trust policies.

kubegate's embedded IAM must refuse the documents IAM refuses and decide requests the way AWS
decides them, so that a policy written against kubegate behaves the same on AWS. Messages are
the texts IAM returns; evaluation follows AWS's documented logic within one account: an
explicit Deny wins, then any Allow, else the request is implicitly denied. Condition operators,
policy variables and wildcards live in ``iam_conditions``.

No I/O and no clock: everything a decision needs arrives as arguments.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kubegate.domain.errors import LimitExceeded, MalformedPolicyDocument
from kubegate.domain.iam_conditions import (
    KeyLookup,
    Missing,
    Resolved,
    Tri,
    all3,
    any3,
    condition_holds,
    not3,
    operator_of,
    resolve,
    wildcard_match,
)

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
_CANNOT_RULE_OUT = " (kubegate cannot rule it out: it fails closed)"


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


def _nothing_unknown(name: str) -> bool:
    return False


@dataclass(frozen=True)
class RequestContext:
    """``unknown(name)`` (name lower-cased) is true for a key AWS would set for this request but
    kubegate cannot know: a condition on it fails closed (an Allow does not apply, a Deny does)."""

    action: str  # matched case-insensitively
    resource: str  # an ARN or "*", matched case-sensitively
    principal_arn: str  # also the default for aws:PrincipalArn
    account: str  # also the default for aws:PrincipalAccount
    condition_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    unknown: Callable[[str], bool] = field(default=_nothing_unknown, hash=False, compare=False)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    explicit_deny: bool
    policy_type: Literal["identity-based", "session"] = "identity-based"  # which kind decided a denial


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
    federated: str | None = None  # a web-identity caller: the OIDC provider ARN its token was verified for

    @classmethod
    def web_identity(cls, provider_arn: str) -> TrustCaller:
        """An AssumeRoleWithWebIdentity caller: matched only by ``Principal.Federated`` naming its
        provider, never by an AWS principal (not even ``*``), and with no aws:PrincipalArn or
        aws:PrincipalAccount (the request is unsigned, so AWS sets neither)."""
        return cls(arn=provider_arn, principal_arn="", account="", federated=provider_arn)


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
        isinstance(body, dict) and (not body or operator_of(name) is not None)
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
    """AWS's identity-policy logic: any matching Deny denies; else any matching Allow allows.

    A statement kubegate cannot decide (it turns on a key only AWS would know, or on a policy
    value that does not parse) fails closed: as an Allow it does not apply, as a Deny it does.
    """
    lookup = _lookup(context.condition_keys, context.unknown, context.principal_arn, context.account)
    allowed_by: str | None = None
    for name, document in policies:
        variables = document.version == VARIABLES_VERSION
        for index, statement in enumerate(document.statements, 1):
            applies = _applies(statement, context.action, context.resource, lookup, variables)
            label = f'{_label(statement, index)} of policy "{name}"'
            if statement.effect == "Deny" and applies is not False:
                return Decision(False, f"explicitly denied by {label}" + ("" if applies else _CANNOT_RULE_OUT), True)
            if statement.effect == "Allow" and applies and allowed_by is None:
                allowed_by = f"allowed by {label}"
    if allowed_by is not None:
        return Decision(True, allowed_by, False)
    return Decision(False, f"no statement allows {context.action} on {context.resource}", False)


def evaluate_with_session(
    policies: Sequence[tuple[str, PolicyDocument]],
    session_policies: Sequence[tuple[str, PolicyDocument]] | None,
    context: RequestContext,
) -> Decision:
    """A session's permissions are the intersection of its role's identity policies and the
    session policies AssumeRole was given (None: none were; an empty list allows nothing): an
    explicit Deny in either denies, and both must allow."""
    decision = evaluate(policies, context)
    if session_policies is None or decision.explicit_deny:
        return decision
    scoped = evaluate(session_policies, context)
    if scoped.explicit_deny or (decision.allowed and not scoped.allowed):
        return replace(scoped, reason=f"session policies: {scoped.reason}", policy_type="session")
    return decision


def evaluate_trust(
    trust: PolicyDocument, *, caller: TrustCaller, action: str, condition_keys: Mapping[str, tuple[str, ...]],
    unknown: Callable[[str], bool] | None = None,
) -> TrustDecision:
    """Whether a role's trust policy lets ``caller`` perform ``action`` (e.g. sts:AssumeRole) on
    it; ``unknown`` names the keys only AWS would know, as in ``RequestContext``."""
    lookup = _lookup(condition_keys, unknown or _nothing_unknown, caller.principal_arn, caller.account,
                     principal_defaults=caller.federated is None)
    variables = trust.version == VARIABLES_VERSION
    allowed_by: tuple[str, bool] | None = None  # (label, only via the account)
    for index, statement in enumerate(trust.statements, 1):
        match = _trust_principal(statement, caller)
        applies = False if match is None else _applies(statement, action, None, lookup, variables)
        label = _label(statement, index)
        if statement.effect == "Deny" and applies is not False:
            reason = f"explicitly denied by {label} of the trust policy" + ("" if applies else _CANNOT_RULE_OUT)
            return TrustDecision(False, reason, True)
        if statement.effect == "Allow" and applies and (allowed_by is None or (allowed_by[1] and match == "principal")):
            allowed_by = (label, match == "account")
    if allowed_by is None:
        return TrustDecision(False, f"no statement of the trust policy allows {caller.arn} to perform {action}", False)
    return TrustDecision(True, f"allowed by {allowed_by[0]} of the trust policy", False, via_account=allowed_by[1])


def _lookup(given: Mapping[str, tuple[str, ...]], unknown: Callable[[str], bool], principal_arn: str,
            account: str, *, principal_defaults: bool = True) -> KeyLookup:
    """Condition key names are case-insensitive in IAM; values are not. A signed caller's ARN and
    account are always known, so they are the defaults for aws:PrincipalArn/PrincipalAccount
    (an unsigned web-identity request has neither)."""
    keys = {name.lower(): ((values,) if isinstance(values, str) else tuple(values)) for name, values in given.items()}
    if principal_defaults:
        keys.setdefault("aws:principalarn", (principal_arn,))
        keys.setdefault("aws:principalaccount", (account,))
    return KeyLookup(keys, unknown)


def _label(statement: Statement, index: int) -> str:
    return f'statement "{statement.sid}"' if statement.sid else f"statement {index}"


def _applies(statement: Statement, action: str, resource: str | None, lookup: KeyLookup, variables: bool) -> Tri:
    """Whether a statement applies: action, resource (None: a trust policy has none) and every
    condition, ANDed; None when that turns on something only AWS could tell."""
    if not _action_matches(statement, action):
        return False
    matched = True if resource is None else _resource_matches(statement, resource, lookup, variables)
    conditions = (condition_holds(c.operator, c.key, c.values, lookup, variables) for c in statement.conditions)
    return all3(itertools.chain((matched,), conditions))


def _action_matches(statement: Statement, action: str) -> bool:
    def matches(pattern: str) -> bool:
        return wildcard_match(((False, pattern),), "glob", action, ignore_case=True)

    if statement.actions is not None:
        return any(matches(pattern) for pattern in statement.actions)
    return statement.not_actions is not None and not any(matches(pattern) for pattern in statement.not_actions)


def _resource_matches(statement: Statement, resource: str, lookup: KeyLookup, variables: bool) -> Tri:
    """A variable without a value matches nothing, and in NotResource it makes the whole
    element fail (AWS cannot match the statement); one naming a key only AWS would know leaves
    its entry undecided."""
    if statement.resources is not None:
        return any3(_entry_matches(resolve(pattern, lookup, variables), resource) for pattern in statement.resources)
    if statement.not_resources is not None:
        patterns = [resolve(pattern, lookup, variables) for pattern in statement.not_resources]
        if Missing.ABSENT in patterns:
            return False
        return not3(any3(_entry_matches(pattern, resource) for pattern in patterns))
    return True


def _entry_matches(pattern: Resolved, resource: str) -> Tri:
    if isinstance(pattern, Missing):
        return None if pattern is Missing.UNKNOWN else False
    return wildcard_match(pattern, "resource", resource)


def _trust_principal(statement: Statement, caller: TrustCaller) -> Literal["principal", "account"] | None:
    if statement.principals is not None:
        return _principal_match(statement.principals, caller)
    if statement.not_principals is not None:
        return None if _principal_match(statement.not_principals, caller) else "principal"
    return None


def _principal_match(principals: Principals, caller: TrustCaller) -> Literal["principal", "account"] | None:
    """Service and Federated principals never name an IAM caller, so only "AWS" values count; a
    web-identity caller is named only by a Federated value equal to its provider's ARN."""
    if caller.federated is not None:
        return "principal" if caller.federated in principals.federated else None
    by_account = False
    for value in principals.aws:
        if value == "*" or value in (caller.arn, caller.principal_arn):
            return "principal"
        root = _ROOT.fullmatch(value)
        by_account = by_account or value == caller.account or (root is not None and root.group(1) == caller.account)
    return "account" if by_account else None
