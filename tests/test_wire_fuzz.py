"""Every served EKS, IAM and STS operation, fuzzed from botocore's shapes against a running kubegate.

Hypothesis draws each operation's input from the model that boto3 uses: either valid values
or values with one constraint broken (over-long, under the minimum, outside the enum, off
the pattern, a required member left out, a value of the wrong type). boto3 sends them with
its client-side validation off, so what meets them is the server's own checking; a few
requests no client would send (JSON of any type anywhere, deep nesting) go out as raw
bytes signed with botocore's SigV4Auth. Every answer must be:

- not a 5xx;
- an error code the operation's model lists, or one of the few common codes in ``COMMON``;
- a success that botocore parses and whose members fit the output shape (types, required
  members, enums: ``check_output``, since botocore's parsers do not check those).

A request with a constraint broken must be refused with the protocol's validation error,
and with "1 validation error detected" when the draw broke exactly one.

The server is the session's, shared with the other test files. Objects created here are
named ``fz-…``: a module fixture creates the ones the fuzz refers to (a cluster with an
access entry, a user with a key, a role, a managed policy), and every name a mutating
operation acts on is one of those or starts with ``fz-``. Nothing else is changed, the root
is never named, and every ``fz-`` object is deleted at the end. EKS and IAM are called as
the root; STS as ``fz-caller``, because AWS refuses AssumeRole to the root.

The strategies themselves (``Draw``, ``check_output``) are in ``botocore_strategies``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import botocore
import botocore.session
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from botocore_strategies import Draw, bounds, check_output
from conftest import Server, ensure_role, ensure_user, trust_policy
from kubegate.api import iam as iam_api

_session = botocore.session.get_session()
MODELS: dict[str, ServiceModel] = {name: _session.get_service_model(name) for name in ("eks", "iam", "sts")}

EKS_OPERATIONS = [
    "CreateCluster", "DescribeCluster", "ListClusters", "UpdateClusterConfig", "DescribeUpdate", "ListUpdates",
    "CreateAccessEntry", "DescribeAccessEntry", "ListAccessEntries", "UpdateAccessEntry", "ListAccessPolicies",
    "AssociateAccessPolicy", "ListAssociatedAccessPolicies", "TagResource", "ListTagsForResource",
    # the destructive ones last: each operation's test first restores the objects the fuzz refers to
    "UntagResource", "DisassociateAccessPolicy", "DeleteAccessEntry", "DeleteCluster",
]
STS_OPERATIONS = ["GetCallerIdentity", "AssumeRole", "AssumeRoleWithWebIdentity"]


def _destructive_last(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (n.startswith(("Delete", "Detach", "Untag", "Update")), n))


SERVED = (
    [("eks", op) for op in EKS_OPERATIONS]
    + [("iam", op) for op in _destructive_last(list(iam_api.handlers()))]
    + [("sts", op) for op in STS_OPERATIONS]
)

# Errors any operation may answer besides the ones its model lists, and why.
COMMON: dict[str, dict[str, str]] = {
    "eks": {
        "InvalidParameterException": "kubegate's answer to any model-validation failure (docs/architecture.md), "
                                     "the code EKS itself uses for bad parameters",
        "SerializationException": "a body that is not a JSON object: AWS's common error of the JSON protocols",
        "UnknownOperationException": "a path no operation has (an empty or dot-segment URI label): the 404 "
                                     "AWS's restJson1 front ends give an unroutable request",
        "AccessDeniedException": "the common authorization error of every AWS JSON API",
    },
    "iam": {
        "ValidationError": "AWS's common query-protocol error for an input that breaks a constraint "
                           "(IAM API reference, Common Errors)",
        "AccessDenied": "the common authorization error of the query protocol",
        "MalformedQueryString": "a form that is not UTF-8 (Common Errors), raw requests only",
    },
}
COMMON["sts"] = COMMON["iam"]
VALIDATION_CODE = {"eks": "InvalidParameterException", "iam": "ValidationError", "sts": "ValidationError"}
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
POLICY_DOCUMENT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": "*"}],
})
# 20 examples per operation keep the file under a minute on 2 cores; KUBEGATE_FUZZ_EXAMPLES=500
# digs deeper. Failures print Hypothesis's reproduce_failure blob.
FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("KUBEGATE_FUZZ_EXAMPLES", "20")), deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the objects the fuzz refers to ---------------------------------------------------------

@dataclass
class World:
    """The ``fz-`` objects the fuzz names so that it reaches past NotFound."""

    server: Server
    account: str = ""
    cluster: str = "fz-cluster"
    user: str = "fz-user"
    role: str = "fz-role"
    role_arn: str = ""
    user_arn: str = ""
    policy_arn: str = ""
    key_id: str = ""
    cluster_arn: str = ""
    entry_arn: str = ""
    update_ids: list[str] = field(default_factory=list)
    eks_tokens: list[str] = field(default_factory=list)
    iam_markers: list[str] = field(default_factory=list)
    caller_key: tuple[str, str] | None = None  # fz-caller's: AssumeRole refuses the root, as AWS does

    def ensure(self) -> None:
        """Create whatever an earlier operation's fuzz deleted (idempotent, a few calls)."""
        eks, iam = self.server.client("eks"), self.server.client("iam")
        self.account = self.server.account()
        self.role_arn = ensure_role(self.server, self.role)
        self.user_arn = ensure_user(self.server, self.user)
        self.policy_arn = f"arn:aws:iam::{self.account}:policy/fz-policy"
        try:
            iam.get_policy(PolicyArn=self.policy_arn)
        except iam.exceptions.NoSuchEntityException:
            iam.create_policy(PolicyName="fz-policy", PolicyDocument=POLICY_DOCUMENT)
        keys = iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        self.key_id = keys[0]["AccessKeyId"] if keys else iam.create_access_key(UserName=self.user)["AccessKey"]["AccessKeyId"]
        try:
            cluster = eks.describe_cluster(name=self.cluster)["cluster"]
        except eks.exceptions.ResourceNotFoundException:
            cluster = eks.create_cluster(
                name=self.cluster, roleArn=self.role_arn, resourcesVpcConfig={"subnetIds": ["subnet-fz"]},
                accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
            )["cluster"]
        self.cluster_arn = cluster["arn"]
        try:
            entry = eks.describe_access_entry(clusterName=self.cluster, principalArn=self.role_arn)["accessEntry"]
        except eks.exceptions.ResourceNotFoundException:
            entry = eks.create_access_entry(clusterName=self.cluster, principalArn=self.role_arn,
                                            kubernetesGroups=["fz-group"])["accessEntry"]
        self.entry_arn = entry["accessEntryArn"]
        eks.associate_access_policy(clusterName=self.cluster, principalArn=self.role_arn, policyArn=VIEW_POLICY,
                                    accessScope={"type": "namespace", "namespaces": ["fz"]})
        self.update_ids = eks.list_updates(name=self.cluster)["updateIds"] or ["no-update"]
        self.eks_tokens = [t for t in (eks.list_access_policies(maxResults=1).get("nextToken"),
                                       eks.list_clusters(maxResults=1).get("nextToken")) if t]
        self.iam_markers = [m for m in (iam.list_users(MaxItems=1).get("Marker"),
                                        iam.list_policies(MaxItems=1).get("Marker")) if m]
        if self.caller_key is None:
            ensure_user(self.server, "fz-caller")
            for key in iam.list_access_keys(UserName="fz-caller")["AccessKeyMetadata"]:
                iam.delete_access_key(UserName="fz-caller", AccessKeyId=key["AccessKeyId"])
            made = iam.create_access_key(UserName="fz-caller")["AccessKey"]
            self.caller_key = (made["AccessKeyId"], made["SecretAccessKey"])
            iam.put_user_policy(UserName="fz-caller", PolicyName="fz-assume", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }))


def _cleanup(server: Server) -> None:
    """Delete every ``fz-`` object: clusters, then users (keys, policies), roles, managed policies."""
    eks, iam = server.client("eks"), server.client("iam")

    def quietly(call: Callable[..., Any], **params: Any) -> None:
        try:
            call(**params)
        except ClientError:
            pass

    for name in eks.list_clusters(maxResults=100)["clusters"]:
        if name.startswith("fz-"):
            quietly(eks.delete_cluster, name=name)
    for kind, lister, key in (("User", iam.list_users, "Users"), ("Role", iam.list_roles, "Roles")):
        for entity in lister(MaxItems=1000)[key]:
            name = entity[f"{kind}Name"]
            if not name.startswith("fz-"):
                continue
            owner = {f"{kind}Name": name}
            if kind == "User":
                for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                    quietly(iam.delete_access_key, UserName=name, AccessKeyId=k["AccessKeyId"])
            for policy in getattr(iam, f"list_{kind.lower()}_policies")(**owner)["PolicyNames"]:
                quietly(getattr(iam, f"delete_{kind.lower()}_policy"), PolicyName=policy, **owner)
            for attached in getattr(iam, f"list_attached_{kind.lower()}_policies")(**owner)["AttachedPolicies"]:
                quietly(getattr(iam, f"detach_{kind.lower()}_policy"), PolicyArn=attached["PolicyArn"], **owner)
            quietly(getattr(iam, f"delete_{kind.lower()}"), **owner)
    for policy in iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]:
        if policy["PolicyName"].startswith("fz-"):
            quietly(iam.delete_policy, PolicyArn=policy["Arn"])


@pytest.fixture(scope="module")
def world(server: Server) -> Iterator[World]:
    made = World(server)
    made.ensure()
    yield made
    _cleanup(server)


@pytest.fixture(scope="module")
def unchecked(server: Server, world: World) -> dict[str, Any]:
    """boto3 clients that send whatever they are given: the server alone validates.

    EKS and IAM calls are the root's; STS calls are fz-caller's, since the root may not
    assume roles and AssumeRole would never get past that.
    """
    config = Config(parameter_validation=False, retries={"max_attempts": 1})
    clients = {name: server.client(name, config=config) for name in ("eks", "iam")}
    clients["sts"] = server.client("sts", config=config, key=world.caller_key)
    return clients


def _fz(strategy: SearchStrategy[str], high: int | None) -> SearchStrategy[str]:
    """Names a mutating call may use: valid by the model and starting with fz-."""
    return strategy.map(lambda s: ("fz-" + s)[: high or None])


def _prefer(real: list[Any], other: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """A real object two times in three, so that the fuzz gets past NotFound."""
    return st.one_of(st.sampled_from(real), st.sampled_from(real), other) if real else other


def overrides(service: str, operation: str, world: World) -> dict[str, SearchStrategy[Any]]:
    """Values of the input's members that name real objects and keep every mutation on fz- objects."""
    shape = MODELS[service].operation_model(operation).input_shape
    members = shape.members if shape is not None else {}
    plain = Draw(MODELS[service].protocol == "rest-json", {})

    def fz_or(name: str, *real: str) -> SearchStrategy[str]:
        member = members[name]
        return _prefer(list(real), _fz(plain.valid(member), bounds(member)[1]))

    text = st.text(st.characters(codec="utf-8"), max_size=30)
    if service == "eks":
        iam_name = st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,20}", fullmatch=True)
        new_principal = st.builds(lambda kind, name: f"arn:aws:iam::111122223333:{kind}/fz-{name}",
                                  st.sampled_from(["role", "user", "role/path"]), iam_name)
        odd_principal = st.builds(lambda kind, name: f"arn:aws:iam::{world.account}:{kind}/{name}",
                                  st.sampled_from(["role", "user", "group"]), st.text(max_size=12))
        out = {
            "principalArn": _prefer([world.role_arn, world.user_arn, f"arn:aws:iam::{world.account}:root"],
                                    st.one_of(new_principal, new_principal, odd_principal, text)),
            "roleArn": _prefer([world.role_arn], text),
            "policyArn": _prefer([VIEW_POLICY, VIEW_POLICY.replace("View", "Edit"),
                                  VIEW_POLICY.replace("View", "AutoNode")], text),
            "associatedPolicyArn": _prefer([VIEW_POLICY], text),
            "resourceArn": _prefer([world.cluster_arn, world.entry_arn], text),
            "updateId": _prefer(world.update_ids, text),
            "nextToken": _prefer(world.eks_tokens, st.one_of(
                text, st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()))),
            "username": st.one_of(text, st.sampled_from(["fz:{{SessionName}}", "{{SessionName}}", "system:fz",
                                                         "fz\u202e", "fz\x00", "fz:{{AccountID}}"])),
            "type": _prefer(["STANDARD", "EC2_LINUX", "EC2", "FARGATE_LINUX"], text),
            "accessScope": st.one_of(
                st.just({"type": "cluster"}),
                st.builds(lambda ns: {"type": "namespace", "namespaces": ns},
                          st.lists(st.from_regex(r"[a-z0-9]{1,8}\*?", fullmatch=True), max_size=3)),
                plain.valid(members["accessScope"]) if "accessScope" in members else st.nothing(),
            ),
        }
        cluster_name = st.from_regex(r"[A-Za-z0-9_-]{0,20}", fullmatch=True)
        for name in ("name", "clusterName"):
            if name in members:
                out[name] = _prefer([world.cluster], st.one_of(_fz(cluster_name, 100), fz_or(name)))
        return out
    if service == "iam":
        trust = trust_policy(world.account)
        out = {
            "PolicyArn": _prefer([world.policy_arn], _fz(plain.valid(members["PolicyArn"]), 2048))
            if "PolicyArn" in members else st.nothing(),
            "Marker": _prefer(world.iam_markers, plain.valid(members["Marker"]))
            if "Marker" in members else st.nothing(),
            "AccessKeyId": _prefer([world.key_id], plain.valid(members["AccessKeyId"]))
            if "AccessKeyId" in members else st.nothing(),
            "PolicyDocument": _prefer([POLICY_DOCUMENT, trust], plain.valid(members["PolicyDocument"]))
            if "PolicyDocument" in members else st.nothing(),
            "AssumeRolePolicyDocument": _prefer([trust], plain.valid(members["AssumeRolePolicyDocument"]))
            if "AssumeRolePolicyDocument" in members else st.nothing(),
        }
        real_names = {"UserName": world.user, "RoleName": world.role, "PolicyName": "fz-inline"}
        for name, member in members.items():
            if name.endswith("Name") and member.type_name == "string":  # NewUserName and the like too
                out[name] = fz_or(name, *([real_names[name]] if name in real_names else []))
        return out
    return {"RoleArn": _prefer([world.role_arn], plain.valid(members["RoleArn"]))} if members else {}


def plausible(service: str, operation: str, world: World) -> SearchStrategy[dict[str, Any]] | None:
    """Requests shaped the way the service needs beyond its model, so that some succeed."""
    if operation == "UpdateClusterConfig":
        shape = MODELS[service].operation_model(operation).input_shape
        plain = Draw(MODELS[service].protocol == "rest-json", {})
        return st.one_of(
            st.builds(lambda mode: {"accessConfig": {"authenticationMode": mode}},
                      st.sampled_from(["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"])),
            plain.valid(shape.members["logging"]).map(lambda v: {"logging": v}),
            plain.valid(shape.members["resourcesVpcConfig"]).map(lambda v: {"resourcesVpcConfig": v}),
        ).map(lambda change: {"name": world.cluster, **change})
    return None


def request(service: str, operation: str, world: World) -> SearchStrategy[tuple[dict[str, Any], bool | None]]:
    """(params, None) for a valid draw; (params, exact) with a constraint broken."""
    shape = MODELS[service].operation_model(operation).input_shape
    if shape is None:
        return st.just(({}, None))
    draw = Draw(MODELS[service].protocol == "rest-json", overrides(service, operation, world))
    valid = [draw.members(shape, 0), draw.members(shape, 0, minimal=True)]
    extra = plausible(service, operation, world)
    if extra is not None:
        valid.append(extra)
    strategies: list[SearchStrategy[tuple[dict[str, Any], bool | None]]] = [
        st.one_of(valid).map(lambda p: (p, None))]
    broken = draw.broken(shape, None)
    if broken is not None:
        strategies.append(broken)
    drawn = st.one_of(strategies)
    if operation in ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"):
        # without UserName these act on the caller's own keys: never let the fuzz touch the root's
        drawn = drawn.filter(lambda pair: "UserName" in pair[0])
    return drawn


# --- checking answers -----------------------------------------------------------------------

def allowed_codes(service: str, operation: OperationModel) -> set[str]:
    codes = set(COMMON[service])
    for shape in operation.error_shapes:
        codes.add(shape.name)
        codes.add(shape.metadata.get("error", {}).get("code", shape.name))
    return codes


def check_error(service: str, operation: OperationModel, status: int, code: str, message: str, params: Any) -> None:
    assert status < 500, f"{operation.name}: {status} {code}: {message}"
    assert code in allowed_codes(service, operation), (
        f"{operation.name} answered {code} ({status}: {message}), which neither its model nor COMMON lists")
    assert message and "Traceback" not in message


def unroutable(model: OperationModel, params: dict[str, Any]) -> bool:
    """A URI label no path can carry: routing fails before validation, as in AWS's front ends."""
    labels = [n for n, m in model.input_shape.members.items() if m.serialization.get("location") == "uri"]
    return any(params.get(n) in ("", ".", "..") for n in labels)


def call(client: Any, service: str, operation: str, params: dict[str, Any], exact: bool | None) -> None:
    model = MODELS[service].operation_model(operation)
    try:
        output = getattr(client, botocore.xform_name(operation))(**params)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        check_error(service, model, status, code, message, params)
        if exact is not None:
            routed_first = code == "UnknownOperationException" and unroutable(model, params)
            assert code == VALIDATION_CODE[service] or routed_first, f"broken input got {code}: {message}"
            if exact and not routed_first:
                assert message.startswith("1 validation error detected: "), message
        return
    assert exact is None, f"{operation} accepted input with a constraint broken: {params!r}"
    if model.output_shape is not None:
        check_output(model.output_shape, output, operation)


# --- the fuzz -------------------------------------------------------------------------------

@pytest.mark.parametrize(("service", "operation"), SERVED, ids=[f"{s}:{o}" for s, o in SERVED])
def test_operation_answers_by_its_model(
    service: str, operation: str, world: World, unchecked: dict[str, Any],
) -> None:
    world.ensure()
    client = unchecked[service]

    @FUZZ_SETTINGS
    @given(request(service, operation, world))
    def fuzz(drawn: tuple[dict[str, Any], bool | None]) -> None:
        params, exact = drawn
        call(client, service, operation, params, exact)

    fuzz()


def signed(server: Server, service: str, method: str, path: str, body: bytes, content_type: str) -> httpx.Response:
    """A request no SDK would build, signed as one would sign it."""
    request_ = AWSRequest(method=method, url=server.endpoint + path, data=body, headers={"Content-Type": content_type})
    SigV4Auth(Credentials(*server.credentials()), service, "us-east-1").add_auth(request_)
    prepared = request_.prepare()
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as client:
        return client.request(method, prepared.url, content=body, headers=dict(prepared.headers.items()))


def eks_error(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers.get("x-amzn-ErrorType", "").split(":")[0], response.json().get("message", "")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
BODY_OPERATIONS = ["CreateCluster", "UpdateClusterConfig", "CreateAccessEntry", "UpdateAccessEntry",
                   "AssociateAccessPolicy", "TagResource"]


@pytest.mark.parametrize("operation", BODY_OPERATIONS)
def test_eks_body_of_any_json(operation: str, world: World, server: Server) -> None:
    """JSON of any type at any member (what botocore cannot send): never a 5xx, only modeled codes."""
    world.ensure()
    model = MODELS["eks"].operation_model(operation)
    shape = model.input_shape
    body_members = [n for n, m in shape.members.items() if "location" not in m.serialization]
    labels = {"name": world.cluster, "principalArn": world.role_arn, "resourceArn": world.cluster_arn}
    path = re.sub(r"\{(\w+)\}", lambda m: quote(labels[m.group(1)], safe=""), model.http["requestUri"])

    @FUZZ_SETTINGS
    @given(st.dictionaries(st.sampled_from(body_members), JSON_VALUES, max_size=4)
           | st.builds(lambda v: {"wrapper": v}, JSON_VALUES))
    def fuzz(document: dict[str, Any]) -> None:
        if operation == "CreateCluster":  # every name a draw creates must be fz-
            document = {**document, "name": "fz-raw"}
        response = signed(server, "eks", model.http["method"], path, json.dumps(document).encode(), "application/json")
        if response.status_code < 300:
            return
        check_error("eks", model, *eks_error(response), document)

    fuzz()


FORM_OPERATIONS = {"ListUsers": {}, "CreateRole": {"RoleName": "fz-raw"}, "TagUser": {"UserName": "fz-user"},
                   "PutUserPolicy": {"UserName": "fz-user"}, "AttachRolePolicy": {"RoleName": "fz-role"}}


@pytest.mark.parametrize("operation", list(FORM_OPERATIONS))
def test_iam_form_of_any_shape(operation: str, world: World, server: Server) -> None:
    """Query-protocol forms no SDK writes: list and map suffixes anywhere, any text in any member."""
    model = MODELS["iam"].operation_model(operation)
    names = list(model.input_shape.members)
    suffix = st.sampled_from(["", ".member.1", ".member.0", ".member.a", ".1", ".entry.1.key", ".member.1.Key",
                              ".member.2.Value", ".", ".." + "x." * 40])
    world.ensure()

    @FUZZ_SETTINGS
    @given(st.dictionaries(st.builds(str.__add__, st.sampled_from(names), suffix), st.text(max_size=12), max_size=5))
    def fuzz(form: dict[str, str]) -> None:
        fields = {**form, **FORM_OPERATIONS[operation], "Action": operation, "Version": "2010-05-08"}
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields.items()).encode()
        response = signed(server, "iam", "POST", "/", body, "application/x-www-form-urlencoded; charset=utf-8")
        if response.status_code >= 300:
            error = ET.fromstring(response.content).find("{*}Error")
            assert error is not None, response.text
            check_error("iam", model, response.status_code, error.findtext("{*}Code", ""),
                        error.findtext("{*}Message", ""), fields)

    fuzz()


def test_iam_form_that_is_not_utf8(server: Server) -> None:
    response = signed(server, "iam", "POST", "/", b"Action=ListUsers&Version=2010-05-08&Marker=\xff",
                      "application/x-www-form-urlencoded")
    assert response.status_code == 400 and b"<Code>MalformedQueryString</Code>" in response.content


# --- the findings, one test each --------------------------------------------------------------

def error_of(call_: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call_()
    response = info.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_associate_with_an_empty_access_scope(world: World, unchecked: dict[str, Any]) -> None:
    """accessScope {} is valid by the model (no member is required) but names no scope: was a 500."""
    world.ensure()
    code, message, status = error_of(lambda: unchecked["eks"].associate_access_policy(
        clusterName=world.cluster, principalArn=world.role_arn, policyArn=VIEW_POLICY, accessScope={}))
    assert (code, status) == ("InvalidParameterException", 400)
    assert "accessScope.type" in message


@pytest.mark.parametrize("depth", [3000, 30_000])
def test_next_token_of_deeply_nested_json(depth: int, unchecked: dict[str, Any]) -> None:
    """A token that decodes to [[[[… must be an invalid token, not a RecursionError (500).

    3000 levels fit under the token length cap and reach the JSON decoder; 30 000 do not.
    """
    token = base64.urlsafe_b64encode(b"[" * depth).decode()
    code, message, status = error_of(lambda: unchecked["eks"].list_clusters(nextToken=token))
    assert (code, message, status) == ("InvalidParameterException", "The nextToken parameter is invalid", 400)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"principalArn": ' + b"[" * 100_000, b'{"a": ' * 50_000])
def test_deeply_nested_body(body: bytes, world: World, server: Server) -> None:
    path = f"/clusters/{world.cluster}/access-entries"
    assert eks_error(signed(server, "eks", "POST", path, body, "application/json")) == (
        400, "SerializationException", "Request body is nested too deeply")


def test_nested_value_where_a_string_belongs(world: World, server: Server) -> None:
    """As deep as the JSON decoder goes: the message shows the value only a few levels down."""
    body = b'{"principalArn": ' + b"[" * 800 + b"]" * 800 + b"}"
    status, code, message = eks_error(signed(server, "eks", "POST", f"/clusters/{world.cluster}/access-entries",
                                             body, "application/json"))
    assert (status, code) == (400, "InvalidParameterException")
    assert message.startswith("1 validation error detected: Value '[[[[[[[[[...]]]]]]]]]' at 'principalArn'")


def test_lone_surrogate_in_body(world: World, server: Server) -> None:
    """JSON may escape half a surrogate pair; the store cannot encode it (was a 500 on the tag write)."""
    body = json.dumps({"principalArn": "arn:aws:iam::111122223333:role/fz-surrogate", "tags": {"k": "\ud800"}})
    response = signed(server, "eks", "POST", f"/clusters/{world.cluster}/access-entries", body.encode(),
                      "application/json")
    assert eks_error(response)[:2] == (400, "SerializationException")
    paired = json.dumps({"tags": {"k": "\U0001f600"}})  # an escaped pair is one character, and fine
    response = signed(server, "eks", "POST", f"/tags/{quote(world.cluster_arn, safe='')}", paired.encode(),
                      "application/json")
    assert response.status_code < 300 or eks_error(response)[:2] == (400, "BadRequestException")


IAM_LISTS = [("ListUsers", {}), ("ListRoles", {}), ("ListPolicies", {}), ("ListUserPolicies", {"UserName": "fz-user"}),
             ("ListAttachedRolePolicies", {"RoleName": "fz-role"})]


@pytest.mark.parametrize(("operation", "params"), IAM_LISTS, ids=[op for op, _ in IAM_LISTS])
@pytest.mark.parametrize("marker", ["garbage", base64.urlsafe_b64encode(b"[" * 200).decode(),
                                    base64.urlsafe_b64encode(b'{"after": 1}').decode()])
def test_iam_marker_kubegate_did_not_issue(
    operation: str, params: dict[str, Any], marker: str, world: World, unchecked: dict[str, Any],
) -> None:
    """IAM's answer is the common ValidationError naming Marker, not EKS's nextToken wording."""
    code, message, status = error_of(
        lambda: getattr(unchecked["iam"], botocore.xform_name(operation))(Marker=marker, **params))
    assert (code, message, status) == ("ValidationError", "Invalid Marker.", 400)


def test_iam_marker_kubegate_issued_pages_on(world: World, server: Server) -> None:
    iam = server.client("iam")
    ensure_user(server, "fz-user2")
    first = iam.list_users(MaxItems=1)
    assert first["IsTruncated"]
    second = iam.list_users(MaxItems=1, Marker=first["Marker"])
    assert second["Users"][0]["UserName"] > first["Users"][0]["UserName"]


@pytest.mark.parametrize("label", ["fz\nx", "\nx"])
def test_newline_inside_a_path_label_gets_an_aws_error(label: str, unchecked: dict[str, Any]) -> None:
    code, _, status = error_of(lambda: unchecked["eks"].describe_cluster(name=label))
    assert (code, status) == ("InvalidParameterException", 400)


@pytest.mark.parametrize("principal", [
    "arn:aws:iam::111122223333:role/fz-newline\n",  # "$" matches before a final newline
    "arn:aws:iam::111122223333\n:role/fz-newline",
    "arn:aws:iam::111122223333:role/fz-caf\u00e9",  # IAM names are ASCII; Python's \w is not
    "arn:aws:iam::\u0661\u0661\u0661\u0661\u0662\u0662\u0662\u0662\u0663\u0663\u0663\u0663:role/fz-digits",
])
def test_principal_arns_are_ascii_without_newlines(principal: str, world: World, unchecked: dict[str, Any]) -> None:
    world.ensure()
    code, _, status = error_of(lambda: unchecked["eks"].create_access_entry(
        clusterName=world.cluster, principalArn=principal))
    assert (code, status) == ("InvalidParameterException", 400)


def test_namespace_with_a_final_newline(world: World, unchecked: dict[str, Any]) -> None:
    world.ensure()
    code, _, status = error_of(lambda: unchecked["eks"].associate_access_policy(
        clusterName=world.cluster, principalArn=world.role_arn, policyArn=VIEW_POLICY,
        accessScope={"type": "namespace", "namespaces": ["fz\n"]}))
    assert (code, status) == ("InvalidParameterException", 400)


def test_cluster_name_with_a_final_newline(unchecked: dict[str, Any]) -> None:
    code, _, status = error_of(lambda: unchecked["eks"].describe_cluster(name="fz-cluster\n"))
    assert (code, status) == ("InvalidParameterException", 400)


UNPRINTABLE = ["fz\x00x", "fz\nx", "fz\rx", "\u202esretsam:metsys", "fz\u2066x", "fz\u200bx", "fz\u200dx",
               "\ufefffz", "fz\u200ex", "fz\u2028x", "fz\x7fx"]


@pytest.mark.parametrize("name", UNPRINTABLE, ids=[
    "NUL", "LF", "CR", "RLO", "LRI", "ZWSP", "ZWJ", "BOM", "LRM", "LINE-SEPARATOR", "DEL"])
@pytest.mark.parametrize("member", ["username", "kubernetesGroups"])
def test_access_entry_names_refuse_control_and_format_characters(
    name: str, member: str, world: World, server: Server,
) -> None:
    world.ensure()
    eks = server.client("eks")
    value: Any = name if member == "username" else ["fz-ok", name]
    what = "username" if member == "username" else "kubernetes group name"
    code, message, _ = error_of(lambda: eks.update_access_entry(
        clusterName=world.cluster, principalArn=world.role_arn, **{member: value}))
    assert code == "InvalidParameterException"
    assert message.startswith(f"The {what} must not contain control or invisible formatting characters (found U+")
    code, _, _ = error_of(lambda: eks.create_access_entry(
        clusterName=world.cluster, principalArn="arn:aws:iam::111122223333:role/fz-bidi", **{member: value}))
    assert code == "InvalidParameterException"


@pytest.mark.parametrize("member", ["username", "kubernetesGroups"])
def test_access_entry_names_are_capped(member: str, world: World, server: Server) -> None:
    world.ensure()
    eks = server.client("eks")

    def update(text: str) -> Any:
        value: Any = text if member == "username" else [text]
        return eks.update_access_entry(clusterName=world.cluster, principalArn=world.role_arn, **{member: value})

    code, message, _ = error_of(lambda: update("fz" + "x" * 10_000))
    assert (code, message) == ("InvalidParameterException", f"The {'username' if member == 'username' else 'kubernetes group name'} must be at most 1024 characters long")
    longest = "fz:" + "x" * 1021
    entry = update(longest)["accessEntry"]
    assert (entry["username"] if member == "username" else entry["kubernetesGroups"]) == (
        longest if member == "username" else [longest])


def test_update_params_are_typed_as_the_model_says(world: World, server: Server) -> None:
    """UpdateClusterConfig listed the request member ("logging") as the param type, outside the enum."""
    eks = server.client("eks")
    eks.create_cluster(name="fz-params", roleArn=world.role_arn, resourcesVpcConfig={"subnetIds": ["subnet-fz"]})
    vpc = eks.update_cluster_config(name="fz-params", resourcesVpcConfig={
        "endpointPublicAccess": False, "publicAccessCidrs": ["203.0.113.5/32"]})["update"]
    assert (vpc["type"], vpc["params"]) == ("EndpointAccessUpdate", [
        {"type": "EndpointPublicAccess", "value": "false"},
        {"type": "PublicAccessCidrs", "value": '["203.0.113.5/32"]'},
    ])
    logging = {"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]}
    update = eks.update_cluster_config(name="fz-params", logging=logging)["update"]
    assert (update["type"], [p["type"] for p in update["params"]]) == ("LoggingUpdate", ["ClusterLogging"])
    assert json.loads(update["params"][0]["value"]) == logging
    eks.delete_cluster(name="fz-params")


def test_query_protocol_checks_the_minimum_of_an_empty_list(unchecked: dict[str, Any], world: World) -> None:
    """botocore sends [] as "ProvidedContexts=": the list's minimum was skipped for it."""
    code, message, status = error_of(lambda: unchecked["sts"].assume_role(
        RoleArn=world.role_arn, RoleSessionName="fz", ProvidedContexts=[]))
    assert (code, status) == ("ValidationError", 400)
    assert message == ("1 validation error detected: Value '[]' at 'providedContexts' failed to satisfy constraint: "
                       "Member must have length greater than or equal to 1")
