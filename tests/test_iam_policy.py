"""IAM policy documents: IAM's validation messages, and AWS's evaluation of identity and trust policies."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.domain.errors import LimitExceeded, MalformedPolicyDocument
from kubegate.domain.iam_policy import (
    DEFAULT_VERSION,
    Condition,
    Decision,
    PolicyDocument,
    Principals,
    RequestContext,
    Statement,
    TrustCaller,
    evaluate,
    evaluate_trust,
    parse_policy,
    policy_size,
)

ACCT = "111122223333"
OTHER = "444455556666"
USER = f"arn:aws:iam::{ACCT}:user/alice"
ROLE = f"arn:aws:iam::{ACCT}:role/deploy"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/deploy/ci-run"
CLUSTER = f"arn:aws:eks:us-east-1:{ACCT}:cluster/prod"
ENTRY = f"arn:aws:eks:us-east-1:{ACCT}:access-entry/prod/role/{ACCT}/dev/8ac1"


def stmt(effect: str = "Allow", action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect, **extra}
    if action is not None:
        body["Action"] = action
    if resource is not None:
        body["Resource"] = resource
    return body


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return json.dumps(document)


def identity(*statements: dict[str, Any], version: str | None = "2012-10-17") -> PolicyDocument:
    return parse_policy(doc(*statements, version=version), kind="identity")


def trust(*statements: dict[str, Any]) -> PolicyDocument:
    return parse_policy(doc(*statements), kind="trust")


def allow_from(principal: Any, **extra: Any) -> dict[str, Any]:
    return stmt(action="sts:AssumeRole", resource=None, Principal=principal, **extra)


def context(
    action: str = "eks:DescribeCluster", resource: str = CLUSTER, keys: dict[str, tuple[str, ...]] | None = None
) -> RequestContext:
    return RequestContext(action=action, resource=resource, principal_arn=USER, account=ACCT,
                          condition_keys={"aws:username": ("alice",)} if keys is None else keys)


# ---------------------------------------------------------------- evaluation table

CASES: list[tuple[str, list[list[dict[str, Any]]], RequestContext, bool, bool]] = [
    ("allow", [[stmt(action="eks:DescribeCluster", resource=CLUSTER)]], context(), True, False),
    ("deny beats allow, same policy", [[stmt(), stmt("Deny", "eks:DescribeCluster")]], context(), False, True),
    ("deny beats allow, other policy", [[stmt()], [stmt("Deny")]], context(), False, True),
    ("deny of another action", [[stmt()], [stmt("Deny", "eks:DeleteCluster")]], context(), True, False),
    ("NotAction allows the rest", [[stmt(action=None, NotAction="eks:Delete*")]], context(), True, False),
    ("NotAction excludes", [[stmt(action=None, NotAction="eks:Delete*")]], context("eks:DeleteCluster"), False, False),
    ("Deny with NotAction", [[stmt(), stmt("Deny", None, NotAction="eks:Describe*")]], context("eks:ListClusters"),
     False, True),
    ("NotResource allows others", [[stmt(resource=None, NotResource=CLUSTER)]], context(resource=ENTRY), True, False),
    ("NotResource excludes", [[stmt(resource=None, NotResource=CLUSTER)]], context(), False, False),
    ("eks:*", [[stmt(action="eks:*")]], context(), True, False),
    ("eks:Describe*", [[stmt(action="eks:Describe*")]], context(), True, False),
    ("eks:Describe* not List", [[stmt(action="eks:Describe*")]], context("eks:ListClusters"), False, False),
    ("? is one character", [[stmt(action="eks:List?ccessEntries")]], context("eks:ListAccessEntries"), True, False),
    ("? is exactly one", [[stmt(action="eks:List?ccessEntries")]], context("eks:ListAAccessEntries"), False, False),
    ("* action", [[stmt(action="*")]], context("iam:CreateUser"), True, False),
    ("actions ignore case", [[stmt(action="EKS:describecluster")]], context(), True, False),
    ("resources keep case", [[stmt(resource=CLUSTER.replace("prod", "Prod"))]], context(), False, False),
    ("* spans / at a segment end", [[stmt(resource=f"arn:aws:eks:*:{ACCT}:access-entry/*")]],
     context(resource=ENTRY), True, False),
    ("trailing * spans colons", [[stmt(resource="arn:aws:eks:*")]], context(resource=ENTRY), True, False),
    ("* inside a segment", [[stmt(resource=f"arn:aws:eks:us-*-1:{ACCT}:cluster/prod")]], context(), True, False),
    ("* inside a segment stops at :", [[stmt(resource="arn:aws:eks:us-east-1:1111*3333:cluster/prod")]],
     context(resource="arn:aws:eks:us-east-1:1111:3333:cluster/prod"), False, False),
    ("no statement matches", [[stmt(action="iam:*")]], context(), False, False),
    ("no policies", [], context(), False, False),
    ("StringEquals aws:username", [[stmt(Condition={"StringEquals": {"aws:username": "alice"}})]], context(),
     True, False),
    ("StringEquals other user", [[stmt(Condition={"StringEquals": {"aws:username": "bob"}})]], context(),
     False, False),
    ("key names ignore case", [[stmt(Condition={"StringEquals": {"AWS:UserName": "alice"}})]], context(),
     True, False),
    ("values are ORed", [[stmt(Condition={"StringEquals": {"aws:username": ["bob", "alice"]}})]], context(),
     True, False),
    ("keys are ANDed", [[stmt(Condition={"StringEquals": {"aws:username": "alice", "aws:userid": "AIDA1"}})]],
     context(), False, False),
    ("StringLike", [[stmt(Condition={"StringLike": {"aws:username": "al*"}})]], context(), True, False),
    ("ArnLike aws:PrincipalArn", [[stmt(Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/*"}})]],
     context(), True, False),
    ("ArnLike per component", [[stmt(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/alice"}})]],
     context(), True, False),
    ("ArnLike * stays in its component",
     [[stmt(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1111*:user/alice"}})]],
     context(keys={"aws:PrincipalArn": ("arn:aws:iam::1111:2222:user/alice",)}), False, False),
    ("ArnNotLike", [[stmt(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/*"}})]],
     context(), True, False),
    ("Bool", [[stmt(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})]],
     context(keys={"aws:MultiFactorAuthPresent": ("true",)}), True, False),
    ("Bool missing key", [[stmt(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})]], context(),
     False, False),
    ("BoolIfExists missing key", [[stmt(Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})]],
     context(), True, False),
    ("IfExists present key still checked", [[stmt(Condition={"StringEqualsIfExists": {"aws:username": "bob"}})]],
     context(), False, False),
    ("StringEquals missing key", [[stmt(Condition={"StringEquals": {"sts:ExternalId": "x"}})]], context(),
     False, False),
    ("StringNotEquals missing key", [[stmt(Condition={"StringNotEquals": {"sts:ExternalId": "x"}})]], context(),
     True, False),
    ("Null true on a missing key", [[stmt(Condition={"Null": {"aws:TokenIssueTime": "true"}})]], context(),
     True, False),
    ("Null false on a missing key", [[stmt(Condition={"Null": {"aws:TokenIssueTime": "false"}})]], context(),
     False, False),
    ("NumericLessThan", [[stmt(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}})]],
     context(keys={"aws:MultiFactorAuthAge": ("120",)}), True, False),
    ("Numeric non-number", [[stmt(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})]],
     context(keys={"aws:MultiFactorAuthAge": ("soon",)}), False, False),
    ("ForAllValues subset", [[stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})]],
     context(keys={"aws:TagKeys": ("team",)}), True, False),
    ("ForAllValues not subset", [[stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}})]],
     context(keys={"aws:TagKeys": ("team", "owner")}), False, False),
    ("ForAllValues missing key", [[stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": "team"}})]],
     context(), True, False),
    ("ForAnyValue overlap", [[stmt(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "team"}})]],
     context(keys={"aws:TagKeys": ("owner", "team")}), True, False),
    ("ForAnyValue missing key, even IfExists",
     [[stmt(Condition={"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "team"}})]], context(), False, False),
    ("DateLessThan is evaluated", [[stmt(Condition={"DateLessThan": {"aws:CurrentTime": "2099-01-01"}})]],
     context(keys={"aws:CurrentTime": ("2020-01-01T00:00:00Z",)}), True, False),
    ("DateLessThan after the date", [[stmt(Condition={"DateLessThan": {"aws:CurrentTime": "2019-01-01"}})]],
     context(keys={"aws:CurrentTime": ("2020-01-01T00:00:00Z",)}), False, False),
    ("IpAddress Deny on an absent key does not apply",
     [[stmt()], [stmt("Deny", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})]], context(), True, False),
    ("NotIpAddress Deny outside the range",
     [[stmt()], [stmt("Deny", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})]],
     context(keys={"aws:SourceIp": ("192.0.2.1",)}), False, True),
    ("variable in Resource", [[stmt(resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}")]],
     context("iam:GetUser", USER), True, False),
    ("variable, another user", [[stmt(resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}")]],
     context("iam:GetUser", f"arn:aws:iam::{ACCT}:user/bob"), False, False),
    ("variable without a value", [[stmt(resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}")]],
     context("iam:GetUser", USER, keys={}), False, False),
    ("variable default", [[stmt(resource=f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalTag/team, 'alice'}}")]],
     context("iam:GetUser", USER, keys={}), True, False),
    ("variable in a condition", [[stmt(Condition={"StringLike": {"aws:PrincipalArn": "*/${aws:username}"}})]],
     context(), True, False),
    ("${*} is a literal star", [[stmt(resource=f"arn:aws:iam::{ACCT}:user/${{*}}")]],
     context("iam:GetUser", USER), False, False),
]


@pytest.mark.parametrize("policies,ctx,allowed,explicit", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluation(policies: list[list[dict[str, Any]]], ctx: RequestContext, allowed: bool, explicit: bool) -> None:
    parsed = [(f"p{i}", identity(*statements)) for i, statements in enumerate(policies)]
    decision = evaluate(parsed, ctx)
    assert (decision.allowed, decision.explicit_deny) == (allowed, explicit), decision.reason


def test_variables_are_literal_before_2012_10_17() -> None:
    policy = identity(stmt(resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}"), version="2008-10-17")
    assert not evaluate([("old", policy)], context("iam:GetUser", USER)).allowed
    literal = RequestContext("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}", USER, ACCT)
    assert evaluate([("old", policy)], literal).allowed


def test_reasons_name_the_statement_and_policy() -> None:
    allow = identity(stmt(action="eks:Describe*"))
    deny = identity(stmt("Deny", Sid="DenyAll"))
    assert evaluate([("eks-read", allow)], context()).reason == 'allowed by statement 1 of policy "eks-read"'
    assert evaluate([("eks-read", allow), ("p1", deny)], context()).reason == (
        'explicitly denied by statement "DenyAll" of policy "p1"'
    )
    nothing = evaluate([], context("eks:CreateAccessEntry"))
    assert nothing.reason == f"no statement allows eks:CreateAccessEntry on {CLUSTER}"


def test_operators_kubegate_does_not_know_fail_closed_even_when_built_directly() -> None:
    def with_condition(effect: str) -> PolicyDocument:
        statement = Statement(None, effect, ("*",), None, ("*",), None, None, None,  # type: ignore[arg-type]
                              (Condition("StringMatchesRegex", "aws:username", ("a.*",)),))
        return PolicyDocument("2012-10-17", (statement,))

    assert not evaluate([("p", with_condition("Allow"))], context()).allowed
    decision = evaluate([("p", identity(stmt())), ("q", with_condition("Deny"))], context())
    assert not decision.allowed and decision.explicit_deny


def test_wildcards_take_polynomial_not_exponential_time() -> None:
    """A backtracking regex needs minutes for this; a policy author must not be able to stall evaluation."""
    hostile = "arn:aws:eks:" + "*a" * 200 + "b"
    policy = identity(stmt(resource=hostile), stmt(Condition={"StringLike": {"aws:username": "*a" * 200 + "b"}}))
    started = time.monotonic()
    ctx = context(resource="arn:aws:eks:" + "a" * 300, keys={"aws:username": ("a" * 300,)})
    assert not evaluate([("hostile", policy)], ctx).allowed
    assert time.monotonic() - started < 5


def test_context_fields_are_default_condition_keys() -> None:
    policy = identity(stmt(Condition={"StringEquals": {"aws:PrincipalAccount": ACCT}}))
    assert evaluate([("p", policy)], context(keys={})).allowed


# ---------------------------------------------------------------- parsing

SYNTAX = "Syntax errors in policy."
GOOD = stmt(action="eks:DescribeCluster")

INVALID: list[tuple[str, str, str, str]] = [
    ("not JSON", "{not json", "identity", SYNTAX),
    ("not an object", "[]", "identity", SYNTAX),
    ("unknown version", doc(GOOD, version="2013-10-17"), "identity", SYNTAX),
    ("unknown top-level key", json.dumps({"Version": "2012-10-17", "Statement": GOOD, "Extra": 1}), "identity", SYNTAX),
    ("Id not a string", json.dumps({"Id": [], "Statement": GOOD}), "identity", SYNTAX),
    ("missing Statement", json.dumps({"Version": "2012-10-17"}), "identity", SYNTAX),
    ("empty Statement", doc(), "identity", SYNTAX),
    ("Statement of strings", json.dumps({"Statement": ["x"]}), "identity", SYNTAX),
    ("unknown statement key", doc({**GOOD, "Extra": 1}), "identity", SYNTAX),
    ("Sid not a string", doc({**GOOD, "Sid": 1}), "identity", SYNTAX),
    ("Effect missing", doc({"Action": "eks:*", "Resource": "*"}), "identity", SYNTAX),
    ("Effect invalid", doc(stmt("Permit")), "identity", SYNTAX),
    ("Effect mis-cased", doc(stmt("allow")), "identity", "The policy failed legacy parsing"),
    ("Action and NotAction", doc(stmt(NotAction="iam:*")), "identity", SYNTAX),
    ("Resource and NotResource", doc(stmt(NotResource=CLUSTER)), "identity", SYNTAX),
    ("Action an object", doc(stmt(action={"a": "b"})), "identity", SYNTAX),
    ("Condition not an object", doc(stmt(Condition=[])), "identity", SYNTAX),
    ("Condition value an object", doc(stmt(Condition={"StringEquals": {"aws:username": {}}})), "identity", SYNTAX),
    ("unknown condition operator", doc(stmt(Condition={"StringSortOf": {"aws:username": "a"}})), "identity", SYNTAX),
    ("unknown set qualifier", doc(stmt(Condition={"ForSome:StringLike": {"aws:username": "a"}})), "identity", SYNTAX),
    ("no actions", doc(stmt(action=None)), "identity", "Policy statement must contain actions."),
    ("empty Action", doc(stmt(action=[])), "identity", "Policy statement must contain actions."),
    ("action without vendor", doc(stmt(action="DescribeCluster")), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("condition key without vendor", doc(stmt(Condition={"StringEquals": {"username": "a"}})), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("two colons", doc(stmt(action="eks:Describe:Cluster")), "identity",
     "Actions/Condition can contain only one colon."),
    ("bad vendor", doc(stmt(action="e ks:DescribeCluster")), "identity", "Vendor e ks is not valid"),
    ("no resources", doc(stmt(resource=None)), "identity", "Policy statement must contain resources."),
    ("empty Resource", doc(stmt(resource=[])), "identity", "Policy statement must contain resources."),
    ("resource not an ARN", doc(stmt(resource="cluster/prod")), "identity",
     'Resource cluster/prod must be in ARN format or "*".'),
    ("resource without service", doc(stmt(resource="arn:aws")), "identity",
     "Resource vendor must be fully qualified and cannot contain regexes."),
    ("principal in identity policy", doc(stmt(Principal={"AWS": ACCT})), "identity",
     "Policy document should not specify a principal."),
    ("NotPrincipal in identity policy", doc(stmt("Deny", NotPrincipal={"AWS": ACCT})), "identity",
     "Policy document should not specify a principal."),
    ("duplicate Sids", doc({**GOOD, "Sid": "A"}, {**GOOD, "Sid": "A"}), "identity",
     "Statement IDs (SID) in a single policy must be unique."),
    ("trust without Principal", doc(stmt(action="sts:AssumeRole", resource=None)), "trust",
     "The passed in policy has a statement with no principals!"),
    ("trust with empty Principal", doc(allow_from({"AWS": []})), "trust",
     "The passed in policy has a statement with no principals!"),
    ("trust with Resource", doc(stmt(action="sts:AssumeRole", Principal={"AWS": ACCT})), "trust",
     "Has prohibited field Resource"),
    ("trust with NotPrincipal", doc(stmt("Deny", "sts:AssumeRole", None, NotPrincipal={"AWS": ACCT})), "trust",
     "Has prohibited field NotPrincipal"),
    ("trust with a non-STS action", doc(allow_from({"AWS": ACCT}) | {"Action": "eks:DescribeCluster"}), "trust",
     "AssumeRole policy may only specify STS AssumeRole actions."),
    ("trust with sts:*", doc(allow_from({"AWS": ACCT}) | {"Action": "sts:*"}), "trust",
     "AssumeRole policy may only specify STS AssumeRole actions."),
    ("trust principal not an ARN", doc(allow_from({"AWS": "bob"})), "trust",
     'Invalid principal in policy: "AWS":"bob"'),
    ("trust principal with a wildcard", doc(allow_from({"AWS": f"arn:aws:iam::{ACCT}:role/*"})), "trust",
     f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCT}:role/*"'),
    ("trust principal of unknown kind", doc(allow_from({"CanonicalUser": "abc"})), "trust",
     'Invalid principal in policy: "CanonicalUser":"abc"'),
]


@pytest.mark.parametrize("text,kind,message", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_documents(text: str, kind: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as excinfo:
        parse_policy(text, kind=kind)  # type: ignore[arg-type]
    assert excinfo.value.message == message


def test_statement_as_object_or_list_and_action_as_string_or_list() -> None:
    as_object = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": GOOD}), kind="identity")
    as_list = parse_policy(doc(GOOD), kind="identity")
    assert as_object == as_list
    assert as_object.statements[0].actions == ("eks:DescribeCluster",)
    listed = identity(stmt(action=["eks:DescribeCluster", "eks:ListClusters"], resource=[CLUSTER]))
    assert listed.statements[0].actions == ("eks:DescribeCluster", "eks:ListClusters")
    assert listed.statements[0].resources == (CLUSTER,)


def test_parsed_statement_shape() -> None:
    policy = identity(stmt(action=None, resource=None, NotAction="iam:*", NotResource=CLUSTER, Sid="S1",
                           Condition={"Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"s3:max-keys": 10}}))
    assert policy.statements[0] == Statement(
        sid="S1", effect="Allow", actions=None, not_actions=("iam:*",), resources=None, not_resources=(CLUSTER,),
        principals=None, not_principals=None,
        conditions=(Condition("Bool", "aws:SecureTransport", ("true",)),
                    Condition("NumericLessThan", "s3:max-keys", ("10",))),
    )


def test_version_is_optional_and_2008_is_accepted() -> None:
    assert identity(GOOD, version=None).version == DEFAULT_VERSION == "2008-10-17"
    assert identity(GOOD, version="2008-10-17").version == "2008-10-17"


def test_trust_principals_are_normalised() -> None:
    assert trust(allow_from("*")).statements[0].principals == Principals(aws=("*",))
    both = trust(allow_from({"AWS": [ACCT, USER], "Service": "eks.amazonaws.com"})).statements[0].principals
    assert both == Principals(aws=(ACCT, USER), service=("eks.amazonaws.com",))
    assert trust(allow_from({"AWS": SESSION})).statements[0].principals == Principals(aws=(SESSION,))


def test_size_quota_counts_non_whitespace_and_is_limit_exceeded() -> None:
    text = doc(GOOD)
    assert parse_policy(text.replace(",", ",    \n"), kind="identity", max_length=policy_size(text))
    with pytest.raises(LimitExceeded, match=r"^Cannot exceed quota for PolicySize: 10$"):
        parse_policy(text, kind="identity", max_length=10)
    with pytest.raises(LimitExceeded, match=r"^Cannot exceed quota for ACLSizePerRole: 10$"):
        parse_policy(doc(allow_from({"AWS": ACCT})), kind="trust", max_length=10)


# ---------------------------------------------------------------- trust policies

ALICE = TrustCaller(arn=USER, principal_arn=USER, account=ACCT)
CI_SESSION = TrustCaller(arn=SESSION, principal_arn=ROLE, account=ACCT)
STRANGER = TrustCaller(arn=f"arn:aws:iam::{OTHER}:user/eve", principal_arn=f"arn:aws:iam::{OTHER}:user/eve",
                       account=OTHER)

TRUST_CASES: list[tuple[str, Any, TrustCaller, bool, bool]] = [
    ("account root", {"AWS": f"arn:aws:iam::{ACCT}:root"}, ALICE, True, True),
    ("account id", {"AWS": ACCT}, ALICE, True, True),
    ("exact user", {"AWS": USER}, ALICE, True, False),
    ("role of a session", {"AWS": ROLE}, CI_SESSION, True, False),
    ("exact session", {"AWS": SESSION}, CI_SESSION, True, False),
    ("another session of the role", {"AWS": SESSION.replace("ci-run", "other")}, CI_SESSION, False, False),
    ("anyone", "*", STRANGER, True, False),
    ("anyone, as AWS", {"AWS": "*"}, ALICE, True, False),
    ("service", {"Service": "eks.amazonaws.com"}, ALICE, False, False),
    ("federated", {"Federated": f"arn:aws:iam::{ACCT}:oidc-provider/oidc.example.com"}, ALICE, False, False),
    ("wrong account root", {"AWS": f"arn:aws:iam::{ACCT}:root"}, STRANGER, False, False),
    ("wrong account id", {"AWS": ACCT}, STRANGER, False, False),
    ("other user", {"AWS": f"arn:aws:iam::{ACCT}:user/bob"}, ALICE, False, False),
    ("account and user: the user counts", {"AWS": [ACCT, USER]}, ALICE, True, False),
]


@pytest.mark.parametrize("principal,caller,allowed,via_account", [c[1:] for c in TRUST_CASES],
                         ids=[c[0] for c in TRUST_CASES])
def test_trust(principal: Any, caller: TrustCaller, allowed: bool, via_account: bool) -> None:
    decision = evaluate_trust(trust(allow_from(principal)), caller=caller, action="sts:AssumeRole", condition_keys={})
    assert (decision.allowed, decision.via_account, decision.explicit_deny) == (allowed, via_account, False)


def test_deny_in_trust_beats_allow() -> None:
    policy = trust(allow_from({"AWS": USER}), stmt("Deny", "sts:AssumeRole", None, Principal={"AWS": ACCT}, Sid="No"))
    decision = evaluate_trust(policy, caller=ALICE, action="sts:AssumeRole", condition_keys={})
    assert (decision.allowed, decision.explicit_deny) == (False, True)
    assert decision.reason == 'explicitly denied by statement "No" of the trust policy'


def test_trust_conditions_and_actions() -> None:
    policy = trust(allow_from({"AWS": ACCT}, Condition={"StringEquals": {"sts:ExternalId": "s3cret"}}))
    keys = {"sts:ExternalId": ("s3cret",)}
    assert evaluate_trust(policy, caller=ALICE, action="sts:AssumeRole", condition_keys=keys).allowed
    assert not evaluate_trust(policy, caller=ALICE, action="sts:AssumeRole", condition_keys={}).allowed
    assert not evaluate_trust(policy, caller=ALICE, action="sts:TagSession", condition_keys=keys).allowed
    by_arn = trust(allow_from("*", Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/*"}}))
    assert evaluate_trust(by_arn, caller=CI_SESSION, action="sts:AssumeRole", condition_keys={}).allowed
    assert not evaluate_trust(by_arn, caller=ALICE, action="sts:AssumeRole", condition_keys={}).allowed


# ---------------------------------------------------------------- properties

ACTIONS = ["eks:DescribeCluster", "eks:ListClusters", "eks:CreateAccessEntry", "iam:GetUser", "sts:AssumeRole"]
RESOURCES = [CLUSTER, ENTRY, USER, "*"]
ACTION_PATTERNS = ["*", "eks:*", "eks:Describe*", "eks:List?lusters", "iam:Get*", "EKS:describecluster", *ACTIONS]
RESOURCE_PATTERNS = ["*", CLUSTER, f"arn:aws:eks:*:{ACCT}:cluster/*", f"arn:aws:iam::{ACCT}:user/${{aws:username}}",
                     "arn:aws:eks:us-*-1:*", f"arn:aws:iam::{ACCT}:user/${{aws:PrincipalTag/x, 'a'}}"]
CONDITIONS = [
    {"StringEquals": {"aws:username": "alice"}},
    {"StringNotLike": {"aws:PrincipalArn": "*:role/*"}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "t*"}},
    {"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "10"}},
    {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
    {"Null": {"aws:TokenIssueTime": "false"}},
]

statements = st.builds(
    lambda effect, negate, actions, resources, condition: {
        "Effect": effect,
        ("NotAction" if negate else "Action"): actions,
        ("NotResource" if negate else "Resource"): resources,
        **({"Condition": condition} if condition else {}),
    },
    st.sampled_from(["Allow", "Deny"]), st.booleans(),
    st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3),
    st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3),
    st.none() | st.sampled_from(CONDITIONS),
)
policy_sets = st.lists(st.lists(statements, min_size=1, max_size=4), max_size=4).map(
    lambda sets: [(f"p{i}", identity(*s)) for i, s in enumerate(sets)]
)
key_values = st.lists(st.text(max_size=12), max_size=3).map(tuple)
condition_keys = st.dictionaries(
    st.sampled_from(["aws:username", "AWS:USERNAME", "aws:TagKeys", "aws:MultiFactorAuthAge", "aws:PrincipalTag/x",
                     "aws:TokenIssueTime", "aws:CurrentTime"]),
    key_values, max_size=5,
)
contexts = st.builds(
    RequestContext,
    action=st.sampled_from(ACTIONS) | st.text(max_size=30),
    resource=st.sampled_from(RESOURCES) | st.text(max_size=60),
    principal_arn=st.sampled_from([USER, ROLE]),
    account=st.just(ACCT),
    condition_keys=condition_keys,
)


@settings(max_examples=200)
@given(policy_sets, contexts, st.data())
def test_a_matching_deny_always_denies(policies: list[tuple[str, PolicyDocument]], ctx: RequestContext,
                                       data: st.DataObject) -> None:
    action = data.draw(st.sampled_from(["*", ctx.action])) if ctx.action in ACTIONS else "*"
    resource = data.draw(st.sampled_from(["*", ctx.resource])) if ctx.resource in RESOURCES else "*"
    deny = stmt("Deny", action, resource)
    policies = policies + [("deny", identity(deny))]
    position = data.draw(st.integers(0, len(policies) - 1))
    policies.insert(position, policies.pop())
    decision = evaluate(policies, ctx)
    assert not decision.allowed and decision.explicit_deny


@given(contexts)
def test_no_policies_always_deny(ctx: RequestContext) -> None:
    assert evaluate([], ctx) == Decision(False, f"no statement allows {ctx.action} on {ctx.resource}", False)


@settings(max_examples=300)
@given(policy_sets, contexts)
def test_evaluation_never_raises(policies: list[tuple[str, PolicyDocument]], ctx: RequestContext) -> None:
    assert isinstance(evaluate(policies, ctx), Decision)


@given(policy_sets, contexts)
def test_allow_everything_allows_anything_absent_a_deny(policies: list[tuple[str, PolicyDocument]],
                                                        ctx: RequestContext) -> None:
    allows_only = [(name, PolicyDocument(p.version, tuple(s for s in p.statements if s.effect == "Allow")))
                   for name, p in policies]
    decision = evaluate([*allows_only, ("admin", identity(stmt()))], ctx)
    assert decision.allowed and not decision.explicit_deny


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["*", "eks:*", "Allow", CLUSTER]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["Version", "Statement", "Effect", "Action", "NotAction", "Resource", "Principal", "Sid",
                         "Condition", "AWS", "StringEquals", "aws:username", "x"]), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values, st.sampled_from(["identity", "trust"]))
def test_parsing_only_ever_raises_malformed_policy_document(value: Any, kind: str) -> None:
    try:
        parse_policy(json.dumps(value), kind=kind)  # type: ignore[arg-type]
    except MalformedPolicyDocument:
        pass
