"""AWS's policy evaluation, row by row: each row names the IAM User Guide rule it pins.

The table fixes what kubegate's management API decides for a policy and a request; the
properties below it check the rules that make the evaluator fail closed (a Deny never grants,
a condition never widens an Allow, a key kubegate cannot know never grants more than any value
AWS could have for it).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubegate.domain.errors import MalformedPolicyDocument
from kubegate.domain.iam_policy import (
    Condition,
    Decision,
    PolicyDocument,
    RequestContext,
    TrustCaller,
    evaluate,
    evaluate_trust,
    evaluate_with_session,
    parse_policy,
)

ACCT = "111122223333"
BOSS = f"arn:aws:iam::{ACCT}:user/admins/boss"  # a user with the path /admins/
PLAIN = f"arn:aws:iam::{ACCT}:user/boss"  # the same name, no path
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
CLUSTER = f"arn:aws:eks:us-east-1:{ACCT}:cluster/prod"
ENTRY = f"arn:aws:eks:us-east-1:{ACCT}:access-entry/prod/role/{ACCT}/dev/8ac1"

ALLOWED, IMPLICIT, EXPLICIT = (True, False), (False, False), (False, True)
NO_SESSION = "no session"  # evaluate() alone, as opposed to session_policies=None

Statement = dict[str, Any]


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> Statement:
    """An Allow statement; None leaves Action or Resource out (for NotAction/NotResource)."""
    body = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    return {name: value for name, value in body.items() if value is not None}


def allow_if(operator: str, key: str, value: Any, **extra: Any) -> Statement:
    return allow(Condition={operator: {key: value}}, **extra)


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> Statement:
    return {**allow(action, resource, **extra), "Effect": "Deny"}


def deny_if(operator: str, key: str, value: Any) -> list[Statement]:
    """An allow-everything policy plus a conditional Deny: allowed exactly when the Deny does not apply."""
    return [allow(), deny(Condition={operator: {key: value}})]


def parse(statements: list[Statement], version: str = "2012-10-17") -> PolicyDocument:
    return parse_policy(json.dumps({"Version": version, "Statement": statements}), kind="identity")


def req(action: str = "iam:GetUser", resource: str = BOSS, keys: dict[str, Any] | None = None,
        unknown: Iterable[str] = ()) -> RequestContext:
    names = frozenset(name.lower() for name in unknown)
    values = {name: (v,) if isinstance(v, str) else tuple(v) for name, v in (keys or {}).items()}
    return RequestContext(action=action, resource=resource, principal_arn=BOSS, account=ACCT,
                          condition_keys=values, unknown=lambda name: name in names)


def row(name: str, rule: str, policy: list[Statement], ctx: RequestContext, outcome: tuple[bool, bool], *,
        more: list[list[Statement]] | None = None, session: Any = NO_SESSION, policy_type: str | None = None,
        version: str = "2012-10-17") -> Any:
    policies = [policy, *(more or [])] if policy else []
    return pytest.param(rule, policies, ctx, outcome, session, policy_type, version, id=name)


UNKNOWN_ORG = ["aws:PrincipalOrgID"]
MFA = "aws:MultiFactorAuthPresent"
NEW_YEAR = {"aws:CurrentTime": "2020-01-01T00:00:00Z"}
OWN = f"arn:aws:iam::{ACCT}:user/${{aws:username}}"  # the caller's own user, through a policy variable

ROWS = [
    # ------------------------------------------------------------ Action / NotAction
    row("action exact", "IAM UG: Action — a listed action matches", [allow("iam:GetUser")], req(), ALLOWED),
    row("action prefix wildcard", "IAM UG: Action — * matches any run of characters", [allow("iam:Get*")], req(),
        ALLOWED),
    row("action lower case", "IAM UG: Action — action names are case-insensitive", [allow("iam:getuser")], req(),
        ALLOWED),
    row("action upper case", "IAM UG: Action — action names are case-insensitive", [allow("IAM:GETUSER")], req(),
        ALLOWED),
    row("action ? one char", "IAM UG: Action — ? matches exactly one character", [allow("iam:Get?ser")], req(),
        ALLOWED),
    row("action ? not two chars", "IAM UG: Action — ? matches exactly one character", [allow("iam:Get?ser")],
        req("iam:GetUUser"), IMPLICIT),
    row("action other service", "IAM UG: evaluation logic — no matching Allow is an implicit deny",
        [allow("eks:*")], req(), IMPLICIT),
    row("action star", "IAM UG: Action — * alone is every action", [allow("*")], req("sts:GetCallerIdentity"),
        ALLOWED),
    row("NotAction allows the rest", "IAM UG: NotAction — Allow applies to every action not listed",
        [allow(None, NotAction="iam:Delete*")], req(), ALLOWED),
    row("NotAction excludes listed", "IAM UG: NotAction — a listed action is not allowed by that statement",
        [allow(None, NotAction="iam:Delete*")], req("iam:DeleteUser"), IMPLICIT),
    row("Deny NotAction denies the rest", "IAM UG: NotAction — Deny with NotAction denies every unlisted action",
        [allow(), deny(None, NotAction="iam:Get*")], req("iam:DeleteUser"), EXPLICIT),
    row("Deny NotAction spares listed", "IAM UG: NotAction — Deny with NotAction does not deny listed actions",
        [allow(), deny(None, NotAction="iam:Get*")], req(), ALLOWED),
    # ------------------------------------------------------------ Resource / NotResource
    row("path wildcard matches path", "IAM UG: Resource — user/admins/* matches users with path /admins/",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/admins/*")], req(), ALLOWED),
    row("path wildcard not other path", "IAM UG: Resource — user/admins/* does not match user/boss",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/admins/*")], req(resource=PLAIN), IMPLICIT),
    row("user/* any path", "IAM UG: Resource — user/* matches users with any path",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/*")], req(), ALLOWED),
    row("user/* no path", "IAM UG: Resource — user/* matches users without a path",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/*")], req(resource=PLAIN), ALLOWED),
    row("name without path", "IAM UG: Resource — the path is part of a user's ARN",
        [allow(resource=PLAIN)], req(), IMPLICIT),
    row("resource case-sensitive", "IAM UG: Resource — ARNs match case-sensitively",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/Admins/*")], req(), IMPLICIT),
    row("account wildcard", "IAM UG: Resource — a wildcard may fill an ARN segment",
        [allow(resource="arn:aws:iam::*:user/admins/boss")], req(), ALLOWED),
    row("wildcard inside segment", "IAM UG: Resource — wildcards may appear inside a segment",
        [allow(resource=f"arn:aws:eks:us-*-1:{ACCT}:cluster/prod")], req("eks:DescribeCluster", CLUSTER), ALLOWED),
    row("wildcard inside segment no match", "IAM UG: Resource — wildcards may appear inside a segment",
        [allow(resource=f"arn:aws:eks:eu-*-1:{ACCT}:cluster/prod")], req("eks:DescribeCluster", CLUSTER), IMPLICIT),
    row("inner * stays in segment", "IAM UG: Resource — a * inside a segment does not cross a colon",
        [allow(resource="arn:aws:eks:us-east-1:1111*3333:cluster/prod")],
        req("eks:DescribeCluster", "arn:aws:eks:us-east-1:1111:3333:cluster/prod"), IMPLICIT),
    row("trailing * spans colons", "IAM UG: Resource — a trailing * matches the rest of the ARN",
        [allow(resource="arn:aws:eks:us-east-1:*")], req("eks:DescribeAccessEntry", ENTRY), ALLOWED),
    row("resource ?", "IAM UG: Resource — ? matches one character",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/admins/bos?")], req(), ALLOWED),
    row("resource list ORed", "IAM UG: Resource — any listed resource matches", [allow(resource=[PLAIN, BOSS])],
        req(), ALLOWED),
    row("NotResource excludes", "IAM UG: NotResource — the listed resources are not matched",
        [allow(resource=None, NotResource=f"arn:aws:iam::{ACCT}:user/admins/*")], req(), IMPLICIT),
    row("NotResource allows others", "IAM UG: NotResource — every unlisted resource matches",
        [allow(resource=None, NotResource=f"arn:aws:iam::{ACCT}:user/admins/*")], req(resource=PLAIN), ALLOWED),
    row("Deny NotResource", "IAM UG: NotResource — Deny with NotResource denies every unlisted resource",
        [allow(), deny(resource=None, NotResource=f"arn:aws:iam::{ACCT}:user/admins/*")], req(resource=PLAIN),
        EXPLICIT),
    # ------------------------------------------------------------ explicit and implicit deny
    row("deny beats allow", "IAM UG: evaluation logic — an explicit Deny overrides any Allow",
        [allow("iam:GetUser"), deny("iam:GetUser")], req(), EXPLICIT),
    row("deny in another policy", "IAM UG: evaluation logic — a Deny in any policy overrides an Allow",
        [allow()], req(), EXPLICIT, more=[[deny(resource=f"arn:aws:iam::{ACCT}:user/admins/*")]]),
    row("deny of another action", "IAM UG: evaluation logic — a Deny applies only to its actions",
        [allow(), deny("iam:DeleteUser")], req(), ALLOWED),
    row("no policies", "IAM UG: evaluation logic — requests are implicitly denied by default", [], req(), IMPLICIT),
    # ------------------------------------------------------------ String operators
    row("StringEquals present", "IAM UG: condition operators — StringEquals exact match",
        [allow_if("StringEquals", "aws:username", "boss")], req(keys={"aws:username": "boss"}), ALLOWED),
    row("StringEquals case", "IAM UG: condition operators — StringEquals is case-sensitive",
        [allow_if("StringEquals", "aws:username", "Boss")], req(keys={"aws:username": "boss"}), IMPLICIT),
    row("StringEquals absent", "IAM UG: condition operators — a key not in the request is false",
        [allow_if("StringEquals", "aws:username", "boss")], req(), IMPLICIT),
    row("StringEquals unknown Allow", "kubegate: a key only AWS knows fails closed — Allow does not apply",
        [allow_if("StringEquals", "aws:PrincipalOrgID", "o-1")], req(unknown=UNKNOWN_ORG), IMPLICIT),
    row("StringEquals unknown Deny", "kubegate: a key only AWS knows fails closed — Deny applies",
        deny_if("StringEquals", "aws:PrincipalOrgID", "o-1"), req(unknown=UNKNOWN_ORG), EXPLICIT),
    row("key names ignore case", "IAM UG: condition keys — key names are case-insensitive",
        [allow_if("StringEquals", "AWS:UserName", "boss")], req(keys={"aws:username": "boss"}), ALLOWED),
    row("values ORed", "IAM UG: multiple values — values of one key are ORed",
        [allow_if("StringEquals", "aws:username", ["x", "boss"])], req(keys={"aws:username": "boss"}), ALLOWED),
    row("keys ANDed", "IAM UG: multiple keys — keys of one operator are ANDed",
        [allow(Condition={"StringEquals": {"aws:username": "boss", "aws:userid": "AIDA"}})],
        req(keys={"aws:username": "boss", "aws:userid": "AIDB"}), IMPLICIT),
    row("StringNotEquals absent", "IAM UG: condition operators — StringNotEquals with absent key is true",
        [allow_if("StringNotEquals", "aws:username", "boss")], req(), ALLOWED),
    row("StringNotEquals equal", "IAM UG: condition operators — StringNotEquals is false on a match",
        [allow_if("StringNotEquals", "aws:username", "boss")], req(keys={"aws:username": "boss"}), IMPLICIT),
    row("StringNotEquals NOR hit", "IAM UG: multiple values — a negated operator NORs its values",
        [allow_if("StringNotEquals", "aws:username", ["x", "boss"])], req(keys={"aws:username": "boss"}), IMPLICIT),
    row("StringNotEquals NOR miss", "IAM UG: multiple values — a negated operator NORs its values",
        [allow_if("StringNotEquals", "aws:username", ["x", "y"])], req(keys={"aws:username": "boss"}), ALLOWED),
    row("StringNotEquals unknown Allow", "kubegate: unknown key fails closed — negated operator, Allow",
        [allow_if("StringNotEquals", "aws:PrincipalOrgID", "o-1")], req(unknown=UNKNOWN_ORG), IMPLICIT),
    row("StringNotEquals unknown Deny", "kubegate: unknown key fails closed — negated operator, Deny",
        deny_if("StringNotEquals", "aws:PrincipalOrgID", "o-1"), req(unknown=UNKNOWN_ORG), EXPLICIT),
    row("IgnoreCase equal", "IAM UG: condition operators — StringEqualsIgnoreCase ignores case",
        [allow_if("StringEqualsIgnoreCase", "aws:username", "BOSS")], req(keys={"aws:username": "boss"}), ALLOWED),
    row("NotEqualsIgnoreCase equal", "IAM UG: condition operators — StringNotEqualsIgnoreCase ignores case",
        [allow_if("StringNotEqualsIgnoreCase", "aws:username", "BOSS")], req(keys={"aws:username": "boss"}),
        IMPLICIT),
    row("StringLike *", "IAM UG: condition operators — StringLike * wildcard",
        [allow_if("StringLike", "aws:username", "bo*")], req(keys={"aws:username": "boss"}), ALLOWED),
    row("StringLike ?", "IAM UG: condition operators — StringLike ? wildcard",
        [allow_if("StringLike", "aws:username", "b?ss")], req(keys={"aws:username": "boss"}), ALLOWED),
    row("StringLike needs wildcard", "IAM UG: condition operators — partial matches need a wildcard",
        [allow_if("StringLike", "aws:username", "bo")], req(keys={"aws:username": "boss"}), IMPLICIT),
    row("StringNotLike absent", "IAM UG: condition operators — StringNotLike with absent key is true",
        [allow_if("StringNotLike", "aws:username", "b*")], req(), ALLOWED),
    row("StringNotLike unknown Deny", "kubegate: unknown key fails closed — StringNotLike, Deny",
        deny_if("StringNotLike", "aws:PrincipalOrgID", "o-*"), req(unknown=UNKNOWN_ORG), EXPLICIT),
    row("multi-valued, plain operator, Allow", "IAM UG: multivalued keys require a set operator — Allow fails closed",
        [allow_if("StringEquals", "eks:namespaces", "dev")], req(keys={"eks:namespaces": ["dev", "prod"]}), IMPLICIT),
    row("multi-valued, plain operator, Deny", "IAM UG: multivalued keys require a set operator — Deny fails closed",
        deny_if("StringNotEquals", "eks:namespaces", "kube-system"), req(keys={"eks:namespaces": ["dev", "prod"]}),
        EXPLICIT),
    row("one value, plain operator", "IAM UG: single-valued keys — one request value is compared directly",
        [allow_if("StringEquals", "eks:namespaces", "dev")], req(keys={"eks:namespaces": ["dev"]}), ALLOWED),
    # ------------------------------------------------------------ Numeric
    row("NumericLessThan", "IAM UG: condition operators — NumericLessThan",
        [allow_if("NumericLessThan", "aws:MultiFactorAuthAge", 3600)], req(keys={"aws:MultiFactorAuthAge": "120"}),
        ALLOWED),
    row("NumericLessThan too old", "IAM UG: condition operators — NumericLessThan",
        [allow_if("NumericLessThan", "aws:MultiFactorAuthAge", "3600")], req(keys={"aws:MultiFactorAuthAge": "7200"}),
        IMPLICIT),
    row("NumericEquals decimal", "IAM UG: condition operators — numeric operators compare values, not text",
        [allow_if("NumericEquals", "s3:max-keys", "10")], req(keys={"s3:max-keys": "10.0"}), ALLOWED),
    row("NumericGreaterThanEquals edge", "IAM UG: condition operators — NumericGreaterThanEquals",
        [allow_if("NumericGreaterThanEquals", "s3:max-keys", 10)], req(keys={"s3:max-keys": "10"}), ALLOWED),
    row("NumericLessThan absent", "IAM UG: condition operators — a key not in the request is false",
        [allow_if("NumericLessThan", "aws:MultiFactorAuthAge", "3600")], req(), IMPLICIT),
    row("NumericNotEquals absent", "IAM UG: condition operators — NumericNotEquals with absent key is true",
        [allow_if("NumericNotEquals", "s3:max-keys", "10")], req(), ALLOWED),
    row("Numeric unknown Deny", "kubegate: unknown key fails closed — Numeric, Deny",
        deny_if("NumericLessThan", "aws:MultiFactorAuthAge", "3600"), req(unknown=["aws:MultiFactorAuthAge"]),
        EXPLICIT),
    row("Numeric unknown Allow", "kubegate: unknown key fails closed — NumericNotEquals, Allow",
        [allow_if("NumericNotEquals", "aws:MultiFactorAuthAge", "0")], req(unknown=["aws:MultiFactorAuthAge"]),
        IMPLICIT),
    row("Numeric bad policy value Allow", "kubegate: an unparsable policy value never grants",
        [allow_if("NumericNotEquals", "s3:max-keys", "ten")], req(keys={"s3:max-keys": "10"}), IMPLICIT),
    row("Numeric bad policy value Deny", "kubegate: an unparsable policy value never lifts a Deny",
        deny_if("NumericLessThan", "s3:max-keys", "ten"), req(keys={"s3:max-keys": "10"}), EXPLICIT),
    row("Numeric request not a number", "IAM UG: numeric operators — a non-number matches no number",
        [allow_if("NumericLessThan", "s3:max-keys", "10")], req(keys={"s3:max-keys": "few"}), IMPLICIT),
    row("Numeric no variables Allow", "IAM UG: numeric operators — policy variables are not substituted",
        [allow_if("NumericEquals", "s3:max-keys", "${s3:max-keys}")], req(keys={"s3:max-keys": "10"}), IMPLICIT),
    row("Numeric no variables Deny", "IAM UG: numeric operators — a literal ${...} is no number: Deny applies",
        deny_if("NumericNotEquals", "s3:max-keys", "${s3:max-keys}"), req(keys={"s3:max-keys": "10"}), EXPLICIT),
    # ------------------------------------------------------------ Date
    row("DateGreaterThan token", "IAM UG: condition operators — DateGreaterThan on aws:TokenIssueTime",
        [allow_if("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z")],
        req(keys={"aws:TokenIssueTime": "2021-03-04T05:06:07Z"}), ALLOWED),
    row("DateLessThan date only", "IAM UG: date operators — a W3C date without time is midnight UTC",
        [allow_if("DateLessThan", "aws:CurrentTime", "2020-06-01")],
        req(keys={"aws:CurrentTime": "2020-05-31T23:59:59Z"}), ALLOWED),
    row("DateLessThan equal instant", "IAM UG: condition operators — DateLessThan is strict",
        [allow_if("DateLessThan", "aws:CurrentTime", "2020-06-01")],
        req(keys={"aws:CurrentTime": "2020-06-01T00:00:00Z"}), IMPLICIT),
    row("DateLessThanEquals equal", "IAM UG: condition operators — DateLessThanEquals includes the instant",
        [allow_if("DateLessThanEquals", "aws:CurrentTime", "2020-06-01T00:00:00Z")],
        req(keys={"aws:CurrentTime": "2020-06-01T00:00:00Z"}), ALLOWED),
    row("DateEquals time zones", "IAM UG: date operators — ISO 8601 offsets name the same instant",
        [allow_if("DateEquals", "aws:CurrentTime", "2020-01-01T01:00:00+01:00")],
        req(keys={"aws:CurrentTime": "2020-01-01T00:00:00Z"}), ALLOWED),
    row("DateEquals epoch vs ISO", "IAM UG: date operators — values may be epoch (UNIX) time",
        [allow_if("DateEquals", "aws:CurrentTime", "1577836800")], req(keys=NEW_YEAR), ALLOWED),
    row("DateGreaterThanEquals EpochTime", "IAM UG: date operators — aws:EpochTime against an ISO date",
        [allow_if("DateGreaterThanEquals", "aws:EpochTime", "2023-01-01T00:00:00Z")],
        req(keys={"aws:EpochTime": "1700000000"}), ALLOWED),
    row("DateGreaterThan before", "IAM UG: condition operators — DateGreaterThan",
        [allow_if("DateGreaterThan", "aws:EpochTime", "2024-01-01")], req(keys={"aws:EpochTime": "1700000000"}),
        IMPLICIT),
    row("DateLessThan absent", "IAM UG: condition operators — a key not in the request is false",
        [allow_if("DateLessThan", "aws:TokenIssueTime", "2099-01-01")], req(), IMPLICIT),
    row("DateNotEquals absent", "IAM UG: condition operators — DateNotEquals with absent key is true",
        [allow_if("DateNotEquals", "aws:TokenIssueTime", "2020-01-01")], req(), ALLOWED),
    row("DateGreaterThanIfExists absent", "IAM UG: ...IfExists — an absent key is true",
        [allow_if("DateGreaterThanIfExists", "aws:TokenIssueTime", "2020-01-01")], req(), ALLOWED),
    row("Date unknown Deny", "kubegate: unknown key fails closed — Date, Deny",
        deny_if("DateLessThan", "aws:TokenIssueTime", "2099-01-01"), req(unknown=["aws:TokenIssueTime"]), EXPLICIT),
    row("Date unknown Allow", "kubegate: unknown key fails closed — DateNotEquals, Allow",
        [allow_if("DateNotEquals", "aws:TokenIssueTime", "2020-01-01")], req(unknown=["aws:TokenIssueTime"]),
        IMPLICIT),
    row("Date bad policy value Allow", "kubegate: an unparsable date never grants",
        [allow_if("DateNotEquals", "aws:CurrentTime", "next tuesday")],
        req(keys={"aws:CurrentTime": "2020-01-01T00:00:00Z"}), IMPLICIT),
    row("Date bad policy value Deny", "kubegate: an unparsable date never lifts a Deny",
        deny_if("DateGreaterThan", "aws:CurrentTime", "2020-13-01"), req(keys=NEW_YEAR), EXPLICIT),
    row("Date four digits ambiguous", "kubegate: YYYY is both a W3C year and epoch seconds; not guessed",
        [allow_if("DateGreaterThan", "aws:CurrentTime", "2019")], req(keys={"aws:CurrentTime": "2020-01-01T00:00:00Z"}),
        IMPLICIT),
    row("Date fractional seconds", "IAM UG: date operators — W3C times may carry a decimal fraction of a second",
        [allow_if("DateLessThan", "aws:CurrentTime", "2020-01-01T00:00:00.5Z")],
        req(keys={"aws:CurrentTime": "2020-01-01T00:00:00Z"}), ALLOWED),
    row("Date no variables", "IAM UG: date operators — policy variables are not substituted",
        [allow_if("DateEquals", "aws:CurrentTime", "${aws:CurrentTime}")],
        req(keys={"aws:CurrentTime": "2020-01-01T00:00:00Z"}), IMPLICIT),
    # ------------------------------------------------------------ Bool
    row("Bool true", "IAM UG: condition operators — Bool", [allow_if("Bool", MFA, "true")], req(keys={MFA: "true"}),
        ALLOWED),
    row("Bool case-insensitive", "IAM UG: Bool — true/false compare case-insensitively",
        [allow_if("Bool", MFA, "TRUE")], req(keys={MFA: "true"}), ALLOWED),
    row("Bool JSON boolean", "IAM UG: condition values — a JSON true is the string true",
        [allow_if("Bool", MFA, True)], req(keys={MFA: "true"}), ALLOWED),
    row("Bool mismatch", "IAM UG: condition operators — Bool", [allow_if("Bool", MFA, "false")],
        req(keys={MFA: "true"}), IMPLICIT),
    row("Bool absent", "IAM UG: condition operators — a key not in the request is false",
        [allow_if("Bool", MFA, "true")], req(), IMPLICIT),
    row("BoolIfExists absent", "IAM UG: ...IfExists — an absent key is true",
        [allow_if("BoolIfExists", MFA, "false")], req(), ALLOWED),
    row("Bool SecureTransport Deny", "IAM UG: Bool example — deny requests not over TLS",
        deny_if("Bool", "aws:SecureTransport", "false"), req(keys={"aws:SecureTransport": "false"}), EXPLICIT),
    row("Bool unknown Deny", "kubegate: unknown key fails closed — Bool, Deny",
        deny_if("Bool", "aws:ViaAWSService", "false"), req(unknown=["aws:ViaAWSService"]), EXPLICIT),
    row("Bool not a boolean Allow", "kubegate: Bool values other than true/false never grant",
        [allow_if("Bool", MFA, "yes")], req(keys={MFA: "yes"}), IMPLICIT),
    row("Bool not a boolean Deny", "kubegate: Bool values other than true/false never lift a Deny",
        deny_if("Bool", "aws:SecureTransport", "no"), req(keys={"aws:SecureTransport": "true"}), EXPLICIT),
    # ------------------------------------------------------------ Binary
    row("BinaryEquals", "IAM UG: BinaryEquals — compares base64-encoded bytes",
        [allow_if("BinaryEquals", "s3:key", "QmluYXJ5VmFsdWU=")], req(keys={"s3:key": "QmluYXJ5VmFsdWU="}), ALLOWED),
    row("BinaryEquals other bytes", "IAM UG: BinaryEquals — byte for byte",
        [allow_if("BinaryEquals", "s3:key", "QmluYXJ5VmFsdWU=")], req(keys={"s3:key": "T3RoZXI="}), IMPLICIT),
    row("BinaryEquals absent", "IAM UG: condition operators — a key not in the request is false",
        [allow_if("BinaryEquals", "s3:key", "QmluYXJ5VmFsdWU=")], req(), IMPLICIT),
    row("BinaryEquals bad base64 Deny", "kubegate: an unparsable binary value never lifts a Deny",
        deny_if("BinaryEquals", "s3:key", "not base64!"), req(keys={"s3:key": "QQ=="}), EXPLICIT),
    row("BinaryEquals unknown Allow", "kubegate: unknown key fails closed — Binary, Allow",
        [allow_if("BinaryEqualsIfExists", "s3:key", "QQ==")], req(unknown=["s3:key"]), IMPLICIT),
    # ------------------------------------------------------------ IpAddress / NotIpAddress
    row("IpAddress in range", "IAM UG: IP operators — CIDR range",
        [allow_if("IpAddress", "aws:SourceIp", "203.0.113.0/24")], req(keys={"aws:SourceIp": "203.0.113.7"}), ALLOWED),
    row("IpAddress out of range", "IAM UG: IP operators — CIDR range",
        [allow_if("IpAddress", "aws:SourceIp", "203.0.113.0/24")], req(keys={"aws:SourceIp": "203.0.114.7"}), IMPLICIT),
    row("IpAddress bare address /32", "IAM UG: IP operators — an address without prefix is /32",
        [allow_if("IpAddress", "aws:SourceIp", "203.0.113.7")], req(keys={"aws:SourceIp": "203.0.113.8"}), IMPLICIT),
    row("IpAddress IPv6", "IAM UG: IP operators — IPv6 ranges",
        [allow_if("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64")],
        req(keys={"aws:SourceIp": "2001:db8:1234:5678::1"}), ALLOWED),
    row("IpAddress v4 range v6 request", "IAM UG: IP operators — an IPv6 address is in no IPv4 range",
        [allow_if("IpAddress", "aws:SourceIp", "0.0.0.0/0")], req(keys={"aws:SourceIp": "::1"}), IMPLICIT),
    row("IpAddress mixed list", "IAM UG: IP operators — IPv4 and IPv6 ranges are ORed",
        [allow_if("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8::/32"])],
        req(keys={"aws:SourceIp": "2001:db8::5"}), ALLOWED),
    row("IpAddress service name", "IAM UG: aws:SourceIp — a service's name is in no range",
        [allow_if("IpAddress", "aws:SourceIp", "0.0.0.0/0")], req(keys={"aws:SourceIp": "eks.amazonaws.com"}),
        IMPLICIT),
    row("NotIpAddress Deny service name", "IAM UG: aws:SourceIp — NotIpAddress denies calls made by services",
        deny_if("NotIpAddress", "aws:SourceIp", "203.0.113.0/24"), req(keys={"aws:SourceIp": "eks.amazonaws.com"}),
        EXPLICIT),
    row("IpAddress absent", "IAM UG: IP operators — no aws:SourceIp via a VPC endpoint: false",
        [allow_if("IpAddress", "aws:SourceIp", "203.0.113.0/24")], req(), IMPLICIT),
    row("NotIpAddress absent", "IAM UG: condition operators — NotIpAddress with absent key is true",
        [allow_if("NotIpAddress", "aws:SourceIp", "203.0.113.0/24")], req(), ALLOWED),
    row("NotIpAddress unknown Allow", "kubegate: unknown key fails closed — NotIpAddress, Allow",
        [allow_if("NotIpAddress", "aws:VpcSourceIp", "10.0.0.0/8")], req(unknown=["aws:VpcSourceIp"]), IMPLICIT),
    row("IpAddress unknown Deny", "kubegate: unknown key fails closed — IpAddress, Deny",
        deny_if("IpAddress", "aws:VpcSourceIp", "10.0.0.0/8"), req(unknown=["aws:VpcSourceIp"]), EXPLICIT),
    row("IpAddress bad CIDR Deny", "kubegate: an unparsable CIDR never lifts a Deny",
        deny_if("IpAddress", "aws:SourceIp", "10.0.0.0/33"), req(keys={"aws:SourceIp": "192.0.2.1"}), EXPLICIT),
    row("NotIpAddress bad CIDR Allow", "kubegate: an unparsable CIDR never grants",
        [allow_if("NotIpAddress", "aws:SourceIp", "10.0.0.0/255.0.0.0")], req(keys={"aws:SourceIp": "192.0.2.1"}),
        IMPLICIT),
    # ------------------------------------------------------------ ARN operators
    row("ArnLike path", "IAM UG: ARN operators — ArnLike with wildcards",
        [allow_if("ArnLike", "aws:PrincipalArn", f"arn:aws:iam::{ACCT}:user/admins/*")], req(), ALLOWED),
    row("ArnEquals wildcard", "IAM UG: ARN operators — ArnEquals and ArnLike behave identically",
        [allow_if("ArnEquals", "aws:PrincipalArn", "arn:aws:iam::*:user/admins/*")], req(), ALLOWED),
    row("ArnLike per component", "IAM UG: ARN operators — each colon-delimited component matches separately",
        [allow_if("ArnLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*")],
        req(keys={"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/d.txt"}),
        IMPLICIT),
    row("StringLike spans components", "IAM UG: ARN operators — StringLike matches where ArnLike does not",
        [allow_if("StringLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*")],
        req(keys={"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/d.txt"}),
        ALLOWED),
    row("ArnLike absent", "IAM UG: ARN operators — aws:SourceArn absent: false",
        [allow_if("ArnLike", "aws:SourceArn", "arn:aws:sns:*:*:*")], req(), IMPLICIT),
    row("ArnNotLike absent", "IAM UG: condition operators — ArnNotLike with absent key is true",
        [allow_if("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:*")], req(), ALLOWED),
    row("ArnNotEquals unknown Deny", "kubegate: unknown key fails closed — ArnNotEquals, Deny",
        deny_if("ArnNotEquals", "aws:SourceVpcArn", "arn:aws:ec2:*:*:vpc/*"), req(unknown=["aws:SourceVpcArn"]),
        EXPLICIT),
    row("ArnLike unknown Allow", "kubegate: unknown key fails closed — ArnLike, Allow",
        [allow_if("ArnLike", "aws:SourceVpcArn", "arn:aws:ec2:*:*:vpc/*")], req(unknown=["aws:SourceVpcArn"]),
        IMPLICIT),
    # ------------------------------------------------------------ Null
    row("Null true absent", "IAM UG: Null — true means the key is absent",
        [allow_if("Null", "aws:TokenIssueTime", "true")], req(), ALLOWED),
    row("Null true present", "IAM UG: Null — true means the key is absent",
        [allow_if("Null", "aws:TokenIssueTime", "true")], req(keys={"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}),
        IMPLICIT),
    row("Null false present", "IAM UG: Null — false means the key is present",
        [allow_if("Null", "aws:TokenIssueTime", False)], req(keys={"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}),
        ALLOWED),
    row("Null false absent", "IAM UG: Null — false means the key is present",
        [allow_if("Null", "aws:TokenIssueTime", "false")], req(), IMPLICIT),
    row("Null empty set", "IAM UG: set operators — a key with no values is a null data set",
        [allow_if("Null", "aws:TagKeys", "true")], req(keys={"aws:TagKeys": []}), ALLOWED),
    row("Null true unknown Allow", "kubegate: unknown key fails closed — Null true, Allow",
        [allow_if("Null", "aws:PrincipalOrgID", "true")], req(unknown=UNKNOWN_ORG), IMPLICIT),
    row("Null false unknown Deny", "kubegate: unknown key fails closed — Null false, Deny",
        deny_if("Null", "aws:PrincipalOrgID", "false"), req(unknown=UNKNOWN_ORG), EXPLICIT),
    row("Null true unknown Deny", "kubegate: unknown key fails closed — Null true, Deny",
        deny_if("Null", "aws:PrincipalOrgID", "true"), req(unknown=UNKNOWN_ORG), EXPLICIT),
    row("Null not a boolean Deny", "kubegate: a Null value other than true/false never lifts a Deny",
        deny_if("Null", "aws:TokenIssueTime", "maybe"), req(), EXPLICIT),
    # ------------------------------------------------------------ ...IfExists
    row("IfExists absent", "IAM UG: ...IfExists — an absent key is true",
        [allow_if("StringEqualsIfExists", "ec2:InstanceType", "t2.micro")], req(), ALLOWED),
    row("IfExists present mismatch", "IAM UG: ...IfExists — a present key is checked",
        [allow_if("StringEqualsIfExists", "ec2:InstanceType", "t2.micro")], req(keys={"ec2:InstanceType": "m5.large"}),
        IMPLICIT),
    row("NotEqualsIfExists Deny absent", "IAM UG: ...IfExists — Deny with StringNotEqualsIfExists still denies",
        deny_if("StringNotEqualsIfExists", "aws:PrincipalTag/team", "ops"), req(), EXPLICIT),
    row("IfExists unknown Allow", "kubegate: unknown key fails closed — ...IfExists, Allow",
        [allow_if("StringLikeIfExists", "aws:PrincipalOrgID", "o-*")], req(unknown=UNKNOWN_ORG), IMPLICIT),
    row("NumericIfExists present", "IAM UG: ...IfExists — a present key is checked",
        [allow_if("NumericLessThanIfExists", "s3:max-keys", "20")], req(keys={"s3:max-keys": "10"}), ALLOWED),
    # ------------------------------------------------------------ ForAllValues / ForAnyValue
    row("ForAllValues absent", "IAM UG: ForAllValues — true when the key is absent (documented pitfall)",
        [allow_if("ForAllValues:StringEquals", "aws:TagKeys", "team")], req(), ALLOWED),
    row("ForAllValues empty", "IAM UG: ForAllValues — true for a null data set",
        [allow_if("ForAllValues:StringEquals", "aws:TagKeys", "team")], req(keys={"aws:TagKeys": []}), ALLOWED),
    row("ForAllValues one value", "IAM UG: ForAllValues — every request value matches a policy value",
        [allow_if("ForAllValues:StringEquals", "aws:TagKeys", ["team", "env"])], req(keys={"aws:TagKeys": ["env"]}),
        ALLOWED),
    row("ForAllValues subset", "IAM UG: ForAllValues — every request value matches a policy value",
        [allow_if("ForAllValues:StringEquals", "aws:TagKeys", ["team", "env"])],
        req(keys={"aws:TagKeys": ["env", "team"]}), ALLOWED),
    row("ForAllValues not subset", "IAM UG: ForAllValues — one unmatched request value makes it false",
        [allow_if("ForAllValues:StringEquals", "aws:TagKeys", ["team", "env"])],
        req(keys={"aws:TagKeys": ["env", "owner"]}), IMPLICIT),
    row("ForAllValues StringNotEquals absent", "IAM UG: ForAllValues — true when absent, negated operator too",
        [allow_if("ForAllValues:StringNotEquals", "aws:TagKeys", "secret")], req(), ALLOWED),
    row("ForAllValues StringNotEquals none listed", "IAM UG: ForAllValues with a negated operator — no value listed",
        [allow_if("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret", "admin"])],
        req(keys={"aws:TagKeys": ["team", "env"]}), ALLOWED),
    row("ForAllValues StringNotEquals one listed", "IAM UG: ForAllValues with a negated operator — a listed value",
        [allow_if("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret", "admin"])],
        req(keys={"aws:TagKeys": ["team", "admin"]}), IMPLICIT),
    row("ForAllValues unknown Allow", "kubegate: unknown key fails closed — ForAllValues, Allow",
        [allow_if("ForAllValues:StringEquals", "aws:PrincipalServiceNamesList", "eks.amazonaws.com")],
        req(unknown=["aws:PrincipalServiceNamesList"]), IMPLICIT),
    row("ForAllValues StringNotLike unknown Deny", "kubegate: unknown key fails closed — ForAllValues negated, Deny",
        deny_if("ForAllValues:StringNotLike", "aws:PrincipalOrgPaths", "o-1/*"), req(unknown=["aws:PrincipalOrgPaths"]),
        EXPLICIT),
    row("ForAnyValue absent", "IAM UG: ForAnyValue — false when the key is absent",
        [allow_if("ForAnyValue:StringEquals", "aws:TagKeys", "team")], req(), IMPLICIT),
    row("ForAnyValue empty", "IAM UG: ForAnyValue — false for a null data set",
        [allow_if("ForAnyValue:StringEquals", "aws:TagKeys", "team")], req(keys={"aws:TagKeys": []}), IMPLICIT),
    row("ForAnyValue one value", "IAM UG: ForAnyValue — one request value matching is enough",
        [allow_if("ForAnyValue:StringEquals", "aws:TagKeys", "team")], req(keys={"aws:TagKeys": ["team"]}), ALLOWED),
    row("ForAnyValue overlap", "IAM UG: ForAnyValue — one request value matching is enough",
        [allow_if("ForAnyValue:StringLike", "eks:namespaces", "dev-*")],
        req(keys={"eks:namespaces": ["prod", "dev-1"]}), ALLOWED),
    row("ForAnyValue no overlap", "IAM UG: ForAnyValue — no request value matching is false",
        [allow_if("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"])], req(keys={"aws:TagKeys": ["c", "d"]}),
        IMPLICIT),
    row("ForAnyValue StringNotEquals absent", "IAM UG: ForAnyValue — false when absent, negated operator too",
        [allow_if("ForAnyValue:StringNotEquals", "aws:TagKeys", "secret")], req(), IMPLICIT),
    row("ForAnyValue StringNotEquals one unlisted", "IAM UG: ForAnyValue, negated operator — one unlisted value",
        [allow_if("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a", "b"])], req(keys={"aws:TagKeys": ["a", "z"]}),
        ALLOWED),
    row("ForAnyValue StringNotEquals all listed", "IAM UG: ForAnyValue with a negated operator — all values listed",
        [allow_if("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a", "b"])], req(keys={"aws:TagKeys": ["b", "a"]}),
        IMPLICIT),
    row("ForAnyValue IfExists absent", "IAM UG: ForAnyValue — false when absent, even with IfExists",
        [allow_if("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", "team")], req(), IMPLICIT),
    row("ForAnyValue unknown Deny", "kubegate: unknown key fails closed — ForAnyValue, Deny",
        deny_if("ForAnyValue:StringEquals", "aws:PrincipalOrgPaths", "o-1/r-1/"),
        req(unknown=["aws:PrincipalOrgPaths"]), EXPLICIT),
    row("ForAnyValue Deny on a listed value", "IAM UG: set operators example — Deny if any value is listed",
        deny_if("ForAnyValue:StringLike", "aws:TagKeys", ["ID", "PostDateTime"]),
        req(keys={"aws:TagKeys": ["UserName", "PostDateTime"]}), EXPLICIT),
    # ------------------------------------------------------------ policy variables
    row("variable present", "IAM UG: variables — ${aws:username} in Resource",
        [allow(resource=OWN)], req(resource=ALICE, keys={"aws:username": "alice"}), ALLOWED),
    row("variable another user", "IAM UG: variables — ${aws:username} is the caller's own name",
        [allow(resource=OWN)], req(resource=PLAIN, keys={"aws:username": "alice"}), IMPLICIT),
    row("variable absent", "IAM UG: variables — an unresolvable variable cannot match",
        [allow(resource=OWN)], req(resource=ALICE), IMPLICIT),
    row("variable absent default", "IAM UG: variables — a default value stands in for an absent key",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalTag/name, 'alice'}}")], req(resource=ALICE),
        ALLOWED),
    row("variable unknown Allow", "kubegate: a variable naming an unknown key fails closed — Allow",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}")], req(resource=ALICE, unknown=UNKNOWN_ORG),
        IMPLICIT),
    row("variable unknown default Allow", "kubegate: a default does not stand in for an unknown key",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID, 'alice'}}")],
        req(resource=ALICE, unknown=UNKNOWN_ORG), IMPLICIT),
    row("variable unknown Deny", "kubegate: a variable naming an unknown key fails closed — Deny",
        [allow(), deny(resource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}")],
        req(resource=ALICE, unknown=UNKNOWN_ORG), EXPLICIT),
    row("variable unknown NotResource Deny", "kubegate: a variable naming an unknown key fails closed — NotResource",
        [allow(), deny(resource=None, NotResource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}")],
        req(resource=ALICE, unknown=UNKNOWN_ORG), EXPLICIT),
    row("variable unknown NotResource Allow", "kubegate: a variable naming an unknown key fails closed — NotResource",
        [allow(resource=None, NotResource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}")],
        req(resource=ALICE, unknown=UNKNOWN_ORG), IMPLICIT),
    row("variable unknown NotResource, other entry excludes", "IAM UG: NotResource — a listed resource is excluded",
        [allow(), deny(resource=None, NotResource=[ALICE, f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}"])],
        req(resource=ALICE, unknown=UNKNOWN_ORG), ALLOWED),
    row("variable unknown, other entry matches", "IAM UG: Resource — any listed resource matches",
        [allow(resource=[ALICE, f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}"])],
        req(resource=ALICE, unknown=UNKNOWN_ORG), ALLOWED),
    row("variable in condition", "IAM UG: variables — usable in string conditions",
        [allow_if("StringLike", "aws:PrincipalArn", "*/${aws:username}")], req(keys={"aws:username": "boss"}), ALLOWED),
    row("variable in ARN condition", "IAM UG: variables — usable in ARN conditions",
        [allow_if("ArnLike", "aws:PrincipalArn", f"arn:aws:iam::{ACCT}:user/*/${{aws:username}}")],
        req(keys={"aws:username": "boss"}), ALLOWED),
    row("variable unknown in condition Deny", "kubegate: a variable naming an unknown key fails closed — condition",
        deny_if("StringNotEquals", "aws:username", "${aws:PrincipalOrgID}"),
        req(keys={"aws:username": "boss"}, unknown=UNKNOWN_ORG), EXPLICIT),
    row("variable unknown in condition Allow", "kubegate: a variable naming an unknown key fails closed — condition",
        [allow_if("StringLike", "aws:username", ["boss", "${aws:PrincipalOrgID}"])],
        req(keys={"aws:username": "boss"}, unknown=UNKNOWN_ORG), IMPLICIT),
    row("variable value literal", "IAM UG: variables — a substituted * is a literal character",
        [allow(resource=OWN)], req(resource=PLAIN, keys={"aws:username": "*"}), IMPLICIT),
    row("${*} literal", "IAM UG: variables — ${*} is a literal *",
        [allow(resource=f"arn:aws:iam::{ACCT}:user/${{*}}")], req(resource=PLAIN), IMPLICIT),
    row("2008 version literal", "IAM UG: variables — only Version 2012-10-17 expands them",
        [allow(resource=OWN)], req(resource=ALICE, keys={"aws:username": "alice"}), IMPLICIT, version="2008-10-17"),
    # ------------------------------------------------------------ session policies
    row("no session policies", "IAM UG: session policies — none passed: identity policies alone decide",
        [allow("iam:GetUser")], req(), ALLOWED, session=None),
    row("session allows too", "IAM UG: session policies — effective permissions are the intersection",
        [allow("iam:GetUser")], req(), ALLOWED, session=[[allow("iam:Get*")]]),
    row("session does not allow", "IAM UG: session policies — the session policy must allow too",
        [allow("iam:GetUser")], req(), IMPLICIT, session=[[allow("eks:*")]], policy_type="session"),
    row("session empty list", "IAM UG: session policies — an empty set of session policies allows nothing",
        [allow("iam:GetUser")], req(), IMPLICIT, session=[], policy_type="session"),
    row("session Deny", "IAM UG: evaluation logic — an explicit Deny in a session policy denies",
        [allow()], req(), EXPLICIT, session=[[allow(), deny("iam:GetUser")]], policy_type="session"),
    row("identity does not allow", "IAM UG: session policies — session policies cannot grant more",
        [allow("eks:*")], req(), IMPLICIT, session=[[allow()]], policy_type="identity-based"),
    row("identity Deny", "IAM UG: evaluation logic — an explicit Deny in an identity policy denies",
        [allow(), deny()], req(), EXPLICIT, session=[[allow()]], policy_type="identity-based"),
    row("session unknown Deny", "kubegate: unknown key fails closed — in a session policy",
        [allow()], req(unknown=UNKNOWN_ORG), EXPLICIT, session=[deny_if("StringEquals", "aws:PrincipalOrgID", "o-1")],
        policy_type="session"),
    row("session unknown Allow", "kubegate: unknown key fails closed — a session Allow does not apply",
        [allow()], req(unknown=UNKNOWN_ORG), IMPLICIT,
        session=[[allow_if("StringEquals", "aws:PrincipalOrgID", "o-1")]], policy_type="session"),
]


@pytest.mark.parametrize("rule,policies,ctx,outcome,session,policy_type,version", ROWS)
def test_policy_table(rule: str, policies: list[list[Statement]], ctx: RequestContext, outcome: tuple[bool, bool],
                      session: Any, policy_type: str | None, version: str) -> None:
    parsed = [(f"p{i}", parse(statements, version)) for i, statements in enumerate(policies)]
    if session == NO_SESSION:
        decision = evaluate(parsed, ctx)
    else:
        scoped = None if session is None else [(f"s{i}", parse(s)) for i, s in enumerate(session)]
        decision = evaluate_with_session(parsed, scoped, ctx)
    assert (decision.allowed, decision.explicit_deny) == outcome, f"{rule}: {decision.reason}"
    if policy_type is not None:
        assert decision.policy_type == policy_type, rule


def test_the_table_is_large_and_every_row_cites_a_rule() -> None:
    assert len(ROWS) >= 110
    assert len({param.id for param in ROWS}) == len(ROWS)
    assert all(param.values[0].startswith(("IAM UG:", "kubegate:")) for param in ROWS)


def test_a_deny_kubegate_cannot_rule_out_says_so() -> None:
    policy = parse(deny_if("StringEquals", "aws:PrincipalOrgID", "o-1"))
    decision = evaluate([("guard", policy)], req(unknown=UNKNOWN_ORG))
    assert decision.reason == (
        'explicitly denied by statement 2 of policy "guard" (kubegate cannot rule it out: it fails closed)'
    )
    definite = evaluate([("guard", policy)], req(keys={"aws:PrincipalOrgID": "o-1"}))
    assert definite.reason == 'explicitly denied by statement 2 of policy "guard"'


def test_session_denials_name_the_session_policies() -> None:
    decision = evaluate_with_session([("id", parse([allow()]))], [("scope", parse([allow("eks:*")]))], req())
    assert decision.reason == "session policies: no statement allows iam:GetUser on " + BOSS


# ---------------------------------------------------------------- trust policies

CALLER = TrustCaller(arn=ALICE, principal_arn=ALICE, account=ACCT)


def trust(*statements: Statement) -> PolicyDocument:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), kind="trust")


def trusted(effect: str, condition: dict[str, Any]) -> Statement:
    return {"Effect": effect, "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole", "Condition": condition}


@pytest.mark.parametrize("statements,unknown,outcome", [
    pytest.param([trusted("Allow", {"StringEquals": {"sts:ExternalId": "x"}})], None, IMPLICIT, id="absent key"),
    pytest.param([trusted("Allow", {"StringNotEquals": {"sts:ExternalId": "x"}})], None, ALLOWED, id="absent negated"),
    pytest.param([trusted("Allow", {"StringNotEquals": {"sts:ExternalId": "x"}})], {"sts:externalid"}, IMPLICIT,
                 id="unknown Allow"),
    pytest.param([trusted("Allow", {}), trusted("Deny", {"Null": {"aws:PrincipalOrgID": "true"}})],
                 {"aws:principalorgid"}, EXPLICIT, id="unknown Deny"),
    pytest.param([trusted("Allow", {}), trusted("Deny", {"Null": {"aws:PrincipalOrgID": "true"}})], None, EXPLICIT,
                 id="absent Deny"),
])
def test_trust_policies_fail_closed_on_unknown_keys(statements: list[Statement], unknown: set[str] | None,
                                                    outcome: tuple[bool, bool]) -> None:
    """IAM UG: evaluation logic — the same condition rules decide a role's trust policy."""
    decision = evaluate_trust(trust(*statements), caller=CALLER, action="sts:AssumeRole", condition_keys={},
                              unknown=None if unknown is None else unknown.__contains__)
    assert (decision.allowed, decision.explicit_deny) == outcome, decision.reason


PROVIDER = f"arn:aws:iam::{ACCT}:oidc-provider/idp.example.com:8443/realm"
WEB = TrustCaller.web_identity(PROVIDER)
SUB_KEYS = {"idp.example.com:8443/realm:sub": ("system:serviceaccount:ns:app",),
            "idp.example.com:8443/realm:aud": ("sts.amazonaws.com",)}


def federated(principal: Any, condition: dict[str, Any] | None = None, effect: str = "Allow",
              action: str = "sts:AssumeRoleWithWebIdentity") -> Statement:
    return {"Effect": effect, "Principal": principal, "Action": action, **({"Condition": condition} if condition else {})}


@pytest.mark.parametrize("statements,caller,outcome", [
    pytest.param([federated({"Federated": PROVIDER})], WEB, ALLOWED, id="federated names the provider"),
    pytest.param([federated({"Federated": PROVIDER.replace("realm", "other")})], WEB, IMPLICIT,
                 id="federated names another provider"),
    pytest.param([federated({"AWS": "*"})], WEB, IMPLICIT, id="an AWS principal never names a web identity"),
    pytest.param([federated("*")], WEB, IMPLICIT, id="nor does Principal *"),
    pytest.param([federated({"AWS": ACCT})], WEB, IMPLICIT, id="nor the account"),
    pytest.param([federated({"Federated": PROVIDER}, action="sts:AssumeRole")], WEB, IMPLICIT,
                 id="another action"),
    pytest.param([federated({"Federated": PROVIDER}, {"StringEquals": {
        "idp.example.com:8443/realm:sub": "system:serviceaccount:ns:app"}})], WEB, ALLOWED, id="sub condition holds"),
    pytest.param([federated({"Federated": PROVIDER}, {"StringEquals": {
        "idp.example.com:8443/realm:sub": "system:serviceaccount:ns:other"}})], WEB, IMPLICIT, id="sub condition fails"),
    pytest.param([federated({"Federated": PROVIDER}, {"StringEquals": {"aws:PrincipalAccount": ACCT}})], WEB,
                 IMPLICIT, id="an unsigned request has no aws:PrincipalAccount"),
    pytest.param([federated({"Federated": PROVIDER}), federated({"Federated": PROVIDER}, {"StringLike": {
        "idp.example.com:8443/realm:sub": "*:ns:*"}}, effect="Deny")], WEB, EXPLICIT, id="a Deny on sub wins"),
    pytest.param([federated({"Federated": PROVIDER}, action="sts:AssumeRole")], CALLER, IMPLICIT,
                 id="a Federated principal never names an IAM caller"),
])
def test_federated_principals_name_only_web_identity_callers(statements: list[Statement], caller: TrustCaller,
                                                             outcome: tuple[bool, bool]) -> None:
    """IAM UG: AWS JSON policy elements: Principal — federated web identity principals
    ("Federated": the OIDC provider's ARN); their keys are <provider url>:sub/aud/amr."""
    action = "sts:AssumeRole" if caller is CALLER else "sts:AssumeRoleWithWebIdentity"
    decision = evaluate_trust(trust(*statements), caller=caller, action=action, condition_keys=SUB_KEYS)
    assert (decision.allowed, decision.explicit_deny) == outcome, decision.reason


# ---------------------------------------------------------------- odd JSON values


@pytest.mark.parametrize("value", [10, 1.5, True, False, [1, "2"], "", "${aws:username}", 10**30, -0.0])
def test_scalar_condition_values_parse_and_never_crash_evaluation(value: Any) -> None:
    """IAM UG: condition values — JSON numbers and booleans are compared as strings."""
    for operator in ("NumericLessThan", "DateEquals", "Bool", "IpAddress", "BinaryEquals", "ArnLike", "Null",
                     "ForAllValues:StringNotLike", "NotIpAddressIfExists"):
        policy = parse(deny_if(operator, "aws:SourceIp", value))
        for keys in ({}, {"aws:SourceIp": ("10.0.0.1",)}, {"aws:SourceIp": ("a", "b")}):
            assert isinstance(evaluate([("p", policy)], req(keys=keys)), Decision)


@pytest.mark.parametrize("value", [None, {"a": 1}, [[1]], [None]])
def test_nested_or_null_condition_values_are_malformed(value: Any) -> None:
    with pytest.raises(MalformedPolicyDocument):
        parse(deny_if("StringEquals", "aws:username", value))


# ---------------------------------------------------------------- properties

KEYS = ["aws:username", "aws:TagKeys", "aws:SourceIp", "aws:CurrentTime", "aws:EpochTime", "aws:MultiFactorAuthAge",
        "aws:SecureTransport", "aws:PrincipalOrgID", "aws:PrincipalTag/team", "eks:namespaces", "s3:key"]
BASES = ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
         "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericGreaterThanEquals",
         "DateEquals", "DateNotEquals", "DateLessThan", "DateGreaterThan", "Bool", "BinaryEquals", "IpAddress",
         "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"]
VALUES = ["boss", "b*", "BOSS", "10", "3.5", "ten", "2020-01-01T00:00:00Z", "1577836800", "2020", "10.0.0.0/8", "::1",
          "10.0.0.1", "true", "FALSE", "yes", "QUJD", "arn:aws:iam::*:user/*", BOSS, "", "dev", "${aws:username}",
          "${aws:PrincipalOrgID}", "${aws:PrincipalTag/team, 'ops'}", "${aws:TagKeys}"]
ACTIONS = ["iam:GetUser", "iam:DeleteUser", "eks:DescribeCluster"]
RESOURCES = [BOSS, PLAIN, ALICE, CLUSTER]
RESOURCE_PATTERNS = ["*", f"arn:aws:iam::{ACCT}:user/admins/*", f"arn:aws:iam::{ACCT}:user/*", CLUSTER,
                     f"arn:aws:iam::{ACCT}:user/${{aws:username}}", f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalOrgID}}",
                     f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalTag/team, 'boss'}}"]

operators = st.builds(
    lambda qualifier, base, if_exists: f"{qualifier}{base}{'IfExists' if if_exists else ''}",
    st.sampled_from(["", "", "ForAllValues:", "ForAnyValue:"]), st.sampled_from([*BASES, "Null"]), st.booleans(),
).filter(lambda name: not name.startswith("NullIfExists"))
policy_values = st.sampled_from(VALUES) | st.integers(-5, 5) | st.booleans()
condition_blocks = st.dictionaries(
    operators, st.dictionaries(st.sampled_from(KEYS), policy_values | st.lists(policy_values, min_size=1, max_size=3),
                               min_size=1, max_size=2), min_size=1, max_size=2)
statements = st.builds(
    lambda effect, negate, actions, resources, condition: {
        "Effect": effect, ("NotAction" if negate else "Action"): actions,
        ("NotResource" if negate else "Resource"): resources, **({"Condition": condition} if condition else {}),
    },
    st.sampled_from(["Allow", "Deny"]), st.booleans(), st.lists(st.sampled_from(["*", "iam:*", "iam:Get*", *ACTIONS]),
                                                                min_size=1, max_size=2),
    st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2), st.none() | condition_blocks,
)
policy_sets = st.lists(st.lists(statements, min_size=1, max_size=3), max_size=3).map(
    lambda sets: [(f"p{i}", parse(s)) for i, s in enumerate(sets)])
key_values = st.lists(st.sampled_from(VALUES) | st.text(max_size=6), max_size=3).map(tuple)
contexts = st.builds(
    lambda action, resource, keys, unknown: RequestContext(
        action, resource, BOSS, ACCT, keys, lambda name: name in unknown),
    st.sampled_from(ACTIONS), st.sampled_from(RESOURCES),
    st.dictionaries(st.sampled_from(KEYS), key_values, max_size=5),
    st.frozensets(st.sampled_from([key.lower() for key in KEYS]), max_size=3),
)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(policy_sets, contexts, statements)
def test_adding_a_deny_never_grants(policies: list[tuple[str, PolicyDocument]], ctx: RequestContext,
                                    extra: Statement) -> None:
    denial = {**extra, "Effect": "Deny"}
    before = evaluate(policies, ctx)
    for position in (0, len(policies)):
        after = evaluate([*policies[:position], ("deny", parse([denial])), *policies[position:]], ctx)
        assert not after.allowed or before.allowed
        assert after.explicit_deny or not before.explicit_deny


@FAST
@given(policy_sets, contexts, operators, st.sampled_from(KEYS), st.lists(policy_values, min_size=1, max_size=2),
       st.data())
def test_a_condition_never_widens_an_allow(policies: list[tuple[str, PolicyDocument]], ctx: RequestContext,
                                          operator: str, key: str, values: list[Any], data: st.DataObject) -> None:
    allows = [(name, i) for name, (_, doc) in enumerate(policies) for i, s in enumerate(doc.statements)
              if s.effect == "Allow"]
    if not allows:
        return
    which, index = data.draw(st.sampled_from(allows))
    name, document = policies[which]
    condition = Condition(operator, key, tuple(json.dumps(v) if not isinstance(v, str) else v for v in values))
    narrowed = dataclasses.replace(document.statements[index],
                                   conditions=(*document.statements[index].conditions, condition))
    statements_after = (*document.statements[:index], narrowed, *document.statements[index + 1:])
    after = [*policies[:which], (name, PolicyDocument(document.version, statements_after)), *policies[which + 1:]]
    assert not evaluate(after, ctx).allowed or evaluate(policies, ctx).allowed


def mentioning(key: str) -> st.SearchStrategy[Statement]:
    """A statement whose condition tests ``key``, or whose Resource or condition value names it as a variable."""
    variable = f"${{{key}}}"
    return st.builds(
        lambda effect, operator, values, where: {
            "Effect": effect, "Action": "*",
            ("NotResource" if where == "not-resource" else "Resource"):
                f"arn:aws:iam::{ACCT}:user/{variable}" if where.endswith("resource") else "*",
            "Condition": {operator: {key: values} if where == "key" else {"aws:username": [variable, *values]}},
        },
        st.sampled_from(["Allow", "Deny"]), operators, st.lists(policy_values, min_size=1, max_size=2),
        st.sampled_from(["key", "key", "resource", "not-resource", "value"]),
    )


@FAST
@given(policy_sets, contexts, st.sampled_from(KEYS), key_values, st.data())
def test_an_unknown_key_never_grants_more_than_any_value_it_could_have(
    policies: list[tuple[str, PolicyDocument]], ctx: RequestContext, key: str, values: tuple[str, ...],
    data: st.DataObject,
) -> None:
    """Both for an Allow and a Deny whose condition (or variable) needs the key."""
    policies = [*policies, ("focus", parse(data.draw(st.lists(mentioning(key), min_size=1, max_size=2))))]
    lowered = key.lower()
    without = {name: v for name, v in ctx.condition_keys.items() if name.lower() != lowered}
    unknown = dataclasses.replace(ctx, condition_keys=without,
                                  unknown=lambda name: name == lowered or ctx.unknown(name))
    absent = dataclasses.replace(ctx, condition_keys=without,
                                 unknown=lambda name: name != lowered and ctx.unknown(name))
    present = dataclasses.replace(ctx, condition_keys={**without, key: values})
    if evaluate(policies, unknown).allowed:
        assert evaluate(policies, absent).allowed
        assert evaluate(policies, present).allowed
    if evaluate(policies, absent).explicit_deny or evaluate(policies, present).explicit_deny:
        assert evaluate(policies, unknown).explicit_deny


@FAST
@given(st.dictionaries(operators | st.text(max_size=30), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=2),
    max_leaves=8), max_size=3), contexts)
def test_evaluation_never_raises_on_any_parsed_condition(block: dict[str, Any], ctx: RequestContext) -> None:
    try:
        policy = parse([allow(), deny(Condition=block)])
    except MalformedPolicyDocument:
        return
    assert isinstance(evaluate([("p", policy)], ctx), Decision)
