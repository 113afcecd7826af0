"""AWS query protocol (IAM, STS), server side, checked against botocore's own client-side code.

Requests are built by botocore's query serializer and form-encoded by the same request
preparation a real client uses; responses are read back by botocore's query parser. So
these tests pin the wire format to what boto3 and the AWS CLI actually do.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict, create_request_object, prepare_request_dict
from botocore.errorfactory import ClientExceptionsFactory
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.query import HttpResponse, QueryProtocol

ACCOUNT = "111122223333"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/dev/deployer"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "a&b<c>\"d\" 'e' café ñ ÿ"}},
    }],
}, indent=2, ensure_ascii=False).replace("\n", "\r\n") + "\t"
CREATED = datetime(2026, 11, 29, 3, 33, tzinfo=timezone.utc)
REQUEST_ID = "4d5f0c1e-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def iam_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("iam")


@pytest.fixture(scope="module")
def sts_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sts")


@pytest.fixture(scope="module")
def iam(iam_model: ServiceModel) -> QueryProtocol:
    return QueryProtocol(iam_model)


@pytest.fixture(scope="module")
def sts(sts_model: ServiceModel) -> QueryProtocol:
    return QueryProtocol(sts_model)


def wire_form(model: ServiceModel, operation: str, params: Mapping[str, Any], *, validate: bool = True) -> dict[str, list[str]]:
    """The form a botocore client would POST, decoded the way the server will decode it."""
    request = create_serializer("query", include_validation=validate).serialize_to_request(
        dict(params), model.operation_model(operation),
    )
    prepare_request_dict(request, endpoint_url="https://example.amazonaws.com")
    body = create_request_object(request).prepare().body
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return parse_qs(text, keep_blank_values=True, strict_parsing=True)


def serve(proto: QueryProtocol, model: ServiceModel, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    form = wire_form(model, operation, params)
    op = proto.operation(form)
    assert op.name == operation
    return proto.parse(op, form)


def client_parse(model: ServiceModel, operation: str | None, response: HttpResponse) -> dict[str, Any]:
    """Read a response the way a botocore client does; RequestId must always come back."""
    shape = model.operation_model(operation).output_shape if operation else None
    raw = {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body}
    parsed: dict[str, Any] = create_parser("query").parse(raw, shape)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == REQUEST_ID
    assert metadata["HTTPStatusCode"] == response.status
    return parsed


def rejected(proto: QueryProtocol, form: Mapping[str, list[str]], code: str = "ValidationError") -> str:
    with pytest.raises(AwsError) as info:
        proto.parse(proto.operation(form), form)
    assert info.value.code == code and info.value.status == 400
    return info.value.message


def invalid(proto: QueryProtocol, model: ServiceModel, operation: str, params: Mapping[str, Any]) -> str:
    return rejected(proto, wire_form(model, operation, params, validate=False))


# --- requests: botocore serializes, we pick the operation and parse; params round-trip exactly ---

TAGS = [{"Key": "team", "Value": "platform"}, {"Key": "ünïcödé key", "Value": ""}, {"Key": "a:b/c=d+e-f@g_h.i", "Value": "x y"}]

IAM_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("CreateRole", {
        "Path": "/dev/", "RoleName": "deployer+ci=x,y.z@w-1", "AssumeRolePolicyDocument": TRUST,
        "Description": "Deploys <things> & \"stuff\" - only Latin-1: café ±", "MaxSessionDuration": 7200,
        "PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary", "Tags": TAGS,
    }),
    ("CreateRole", {"RoleName": "bare", "AssumeRolePolicyDocument": "{}", "Tags": []}),
    ("PutRolePolicy", {"RoleName": "deployer", "PolicyName": "inline", "PolicyDocument": TRUST}),
    ("ListRoles", {"PathPrefix": "/dev/", "Marker": "opaque marker/+=&?%", "MaxItems": 1000}),
    ("ListRoles", {}),
    ("CreateAccessKey", {"UserName": "alice"}),
    ("CreateAccessKey", {}),
    ("UpdateAccessKey", {"UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
    ("ListPolicies", {"OnlyAttached": False, "Scope": "Local", "MaxItems": 5}),
    ("UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": False}),
    ("CreateOpenIDConnectProvider", {
        "Url": "https://oidc.example.com/id/ABC", "ClientIDList": ["sts.amazonaws.com", "kubernetes"],
        "ThumbprintList": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"], "Tags": TAGS[:1],
    }),
    ("PutAccountProperties", {"Properties": {"RoleManager/Enabled": "true", "RoleManager/Mode": "x y"}}),
    ("AcquireRole", {
        "TemplateArn": f"arn:aws:iam::{ACCOUNT}:role-template/t", "TemplateMinorVersion": 3,
        "ReplacementValues": {"Bucket": {"Values": ["a", "b"]}, "Other": {"Values": ["c & d"]}},
    }),
    ("GetAccountSummary", {}),
]

STS_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("AssumeRole", {
        "RoleArn": ROLE_ARN, "RoleSessionName": "botocore-session-1753817708", "DurationSeconds": 900,
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {"arn": f"arn:aws:iam::{ACCOUNT}:policy/p"}],
        "Policy": TRUST, "Tags": TAGS, "TransitiveTagKeys": ["team"], "ExternalId": "ext-id:1/2",
        "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/alice", "TokenCode": "123456", "SourceIdentity": "alice@example.com",
    }),
    ("AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 43200}),
    ("GetCallerIdentity", {}),
    ("GetSessionToken", {"DurationSeconds": 129600}),
]


@pytest.mark.parametrize(("operation", "params"), IAM_REQUESTS, ids=[op for op, _ in IAM_REQUESTS])
def test_iam_request_round_trip(iam: QueryProtocol, iam_model: ServiceModel, operation: str, params: dict[str, Any]) -> None:
    assert serve(iam, iam_model, operation, params) == params


@pytest.mark.parametrize(("operation", "params"), STS_REQUESTS, ids=[op for op, _ in STS_REQUESTS])
def test_sts_request_round_trip(sts: QueryProtocol, sts_model: ServiceModel, operation: str, params: dict[str, Any]) -> None:
    assert serve(sts, sts_model, operation, params) == params


def test_presigned_get_caller_identity_query_is_accepted(sts: QueryProtocol) -> None:
    """aws-iam-authenticator's token is a presigned GET: X-Amz-* parameters ride along and are ignored."""
    form = parse_qs(
        "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        keep_blank_values=True,
    )
    assert sts.parse(sts.operation(form), form) == {}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(
    st.text(st.characters(categories=["L", "N", "Zs"], include_characters="_.:/=+-@"), min_size=1, max_size=20),
    st.text(st.characters(categories=["L", "N", "Zs"], include_characters="_.:/=+-@"), max_size=20),
), max_size=8))
def test_any_valid_tags_survive(sts: QueryProtocol, sts_model: ServiceModel, pairs: list[tuple[str, str]]) -> None:
    params = {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "Tags": [{"Key": k, "Value": v} for k, v in pairs]}
    assert serve(sts, sts_model, "AssumeRole", params) == params


# --- responses: we serialize, botocore's parser reads them back ---

def role(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "Path": "/dev/", "RoleName": name, "RoleId": "AROAEXAMPLEID1234567", "Arn": f"arn:aws:iam::{ACCOUNT}:role/dev/{name}",
        "CreateDate": CREATED, **extra,
    }


IAM_RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("CreateRole", {"Role": role(
        "deployer", AssumeRolePolicyDocument=TRUST, Description="a & b < c > \"d\" 'e' \r\n\t café 😀",
        MaxSessionDuration=3600, Tags=TAGS,
        PermissionsBoundary={"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/b"},
        RoleLastUsed={"LastUsedDate": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), "Region": "us-east-1"},
    )}),
    ("ListRoles", {"Roles": [role("a", Tags=TAGS), role("b", Tags=[]), role("c")], "IsTruncated": True, "Marker": "m&<>"}),
    ("ListRoles", {"Roles": [], "IsTruncated": False}),
    ("CreateAccessKey", {"AccessKey": {
        "UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active",
        "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "CreateDate": CREATED,
    }}),
    ("GetAccountSummary", {"SummaryMap": {"Roles": 3, "Users": 0, "AccessKeysPerUserQuota": 2}}),
    ("GetCredentialReport", {"Content": b"user,arn\n<root>,\x00\xff", "ReportFormat": "text/csv", "GeneratedTime": CREATED}),
    ("CreateOpenIDConnectProvider", {"OpenIDConnectProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/x", "Tags": TAGS}),
    ("ListRoleTags", {"Tags": TAGS, "IsTruncated": False}),
]

STS_RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("AssumeRole", {
        "Credentials": {
            "AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "secret/+=", "SessionToken": "token+/=" * 40,
            "Expiration": CREATED,
        },
        "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLEID1234567:s1", "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/s1"},
        "PackedPolicySize": 0, "SourceIdentity": "alice",
    }),
    ("GetCallerIdentity", {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}),
]


@pytest.mark.parametrize(("operation", "output"), IAM_RESPONSES, ids=[op for op, _ in IAM_RESPONSES])
def test_iam_response_round_trip(iam: QueryProtocol, iam_model: ServiceModel, operation: str, output: dict[str, Any]) -> None:
    response = iam.serialize(iam_model.operation_model(operation), output, request_id=REQUEST_ID)
    assert response.status == 200
    assert client_parse(iam_model, operation, response) == output


@pytest.mark.parametrize(("operation", "output"), STS_RESPONSES, ids=[op for op, _ in STS_RESPONSES])
def test_sts_response_round_trip(sts: QueryProtocol, sts_model: ServiceModel, operation: str, output: dict[str, Any]) -> None:
    response = sts.serialize(sts_model.operation_model(operation), output, request_id=REQUEST_ID)
    assert client_parse(sts_model, operation, response) == output


def test_xml_envelope(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    response = sts.serialize(sts_model.operation_model("GetCallerIdentity"), {"Account": ACCOUNT}, request_id=REQUEST_ID)
    assert dict(response.headers) == {"Content-Type": "text/xml", "x-amzn-RequestId": REQUEST_ID}
    ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
    root = ET.fromstring(response.body)
    assert root.tag == f"{ns}GetCallerIdentityResponse"
    assert [child.tag for child in root] == [f"{ns}GetCallerIdentityResult", f"{ns}ResponseMetadata"]
    assert root.findtext(f"{ns}GetCallerIdentityResult/{ns}Account") == ACCOUNT
    assert root.findtext(f"{ns}ResponseMetadata/{ns}RequestId") == REQUEST_ID


def test_timestamps_are_iso8601_utc(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    naive = datetime(2026, 11, 29, 3, 33)  # naive means UTC
    local = datetime(2026, 11, 29, 4, 33, tzinfo=timezone(timedelta(hours=1)))
    for when in (CREATED, naive, local):
        response = iam.serialize(iam_model.operation_model("CreateRole"), {"Role": role("r", CreateDate=when)}, request_id=REQUEST_ID)
        assert b"<CreateDate>2026-11-29T03:33:00Z</CreateDate>" in response.body
        assert client_parse(iam_model, "CreateRole", response)["Role"]["CreateDate"] == CREATED


def test_output_without_result_has_only_metadata(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    response = iam.serialize(iam_model.operation_model("PutRolePolicy"), {}, request_id=REQUEST_ID)
    assert b"Result" not in response.body
    assert client_parse(iam_model, "PutRolePolicy", response) == {}


def test_empty_result_is_still_wrapped(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    """botocore looks the result wrapper up unconditionally; it must exist even with nothing in it."""
    response = iam.serialize(iam_model.operation_model("CreateAccessKey"), {}, request_id=REQUEST_ID)
    assert b"<CreateAccessKeyResult />" in response.body or b"<CreateAccessKeyResult/>" in response.body
    assert client_parse(iam_model, "CreateAccessKey", response) == {}


def test_none_values_are_omitted(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    output = {"UserId": "AIDAEXAMPLE", "Account": None, "Arn": None}
    response = sts.serialize(sts_model.operation_model("GetCallerIdentity"), output, request_id=REQUEST_ID)
    assert b"Account" not in response.body
    assert client_parse(sts_model, "GetCallerIdentity", response) == {"UserId": "AIDAEXAMPLE"}


def test_xml_cannot_carry_control_characters(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    response = iam.serialize(iam_model.operation_model("CreateRole"), {"Role": role("r", Description="a\x00b\x1fc")}, request_id=REQUEST_ID)
    assert client_parse(iam_model, "CreateRole", response)["Role"]["Description"] == "a\ufffdb\ufffdc"


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs", "Cc"], include_characters="\t\r\n")))
def test_any_text_survives_the_xml(iam: QueryProtocol, iam_model: ServiceModel, text: str) -> None:
    response = iam.serialize(iam_model.operation_model("ListRoles"), {"Roles": [], "Marker": text}, request_id=REQUEST_ID)
    parsed = client_parse(iam_model, "ListRoles", response)
    assert parsed.get("Marker", "") == text.replace("\ufffe", "\ufffd").replace("\uffff", "\ufffd")


@pytest.mark.parametrize(("output", "fragment"), [
    ({"Nope": 1}, "Nope"),
    ({"Role": {**role("r"), "Extra": "x"}}, "Role.Extra"),
    ({"Role": role("r", Tags=[{"Key": "k", "Value": "v", "Colour": "red"}])}, "Role.Tags.1.Colour"),
])
def test_off_model_output_fields_are_rejected(iam: QueryProtocol, iam_model: ServiceModel, output: dict[str, Any], fragment: str) -> None:
    for as_json in (False, True):
        with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
            iam.serialize(iam_model.operation_model("CreateRole"), output, request_id=REQUEST_ID, json=as_json)


def test_output_for_an_operation_without_output_is_rejected(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    with pytest.raises(ValueError, match="RoleName"):
        iam.serialize(iam_model.operation_model("DeleteRole"), {"RoleName": "x"}, request_id=REQUEST_ID)


@pytest.mark.parametrize(("output", "fragment"), [
    ({"Role": role("r", MaxSessionDuration="3600")}, "MaxSessionDuration: expected integer"),
    ({"Role": role("r", MaxSessionDuration=True)}, "MaxSessionDuration: expected integer"),
    ({"Role": role("r", CreateDate="2026-01-01")}, "CreateDate: expected timestamp"),
    ({"Role": role("r", Tags={"k": "v"})}, "Tags: expected list"),
    ({"Role": "deployer"}, "Role: expected structure"),
])
def test_wrong_output_types_are_rejected(iam: QueryProtocol, iam_model: ServiceModel, output: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TypeError, match=fragment):
        iam.serialize(iam_model.operation_model("CreateRole"), output, request_id=REQUEST_ID)


# --- JSON: STS answers Accept: application/json (aws-iam-authenticator relies on it) ---

def test_get_caller_identity_as_json(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    output = {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}
    response = sts.serialize(sts_model.operation_model("GetCallerIdentity"), output, request_id=REQUEST_ID, json=True)
    assert dict(response.headers) == {"Content-Type": "application/json", "x-amzn-RequestId": REQUEST_ID}
    assert json.loads(response.body) == {"GetCallerIdentityResponse": {
        "GetCallerIdentityResult": output, "ResponseMetadata": {"RequestId": REQUEST_ID},
    }}


def test_json_is_generic(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    output = {"Roles": [role("a", Tags=TAGS, MaxSessionDuration=3600)], "IsTruncated": False}
    response = iam.serialize(iam_model.operation_model("ListRoles"), output, request_id=REQUEST_ID, json=True)
    result = json.loads(response.body)["ListRolesResponse"]["ListRolesResult"]
    assert result["IsTruncated"] is False
    assert result["Roles"][0]["Tags"] == TAGS
    assert result["Roles"][0]["MaxSessionDuration"] == 3600
    assert result["Roles"][0]["CreateDate"] == CREATED.timestamp()
    empty = iam.serialize(iam_model.operation_model("DeleteRole"), {}, request_id=REQUEST_ID, json=True)
    assert json.loads(empty.body) == {"DeleteRoleResponse": {"ResponseMetadata": {"RequestId": REQUEST_ID}}}


# --- errors ---

@pytest.mark.parametrize(("error", "status", "code", "kind"), [
    (AwsError("NoSuchEntity", "The role with name x cannot be found."), 404, "NoSuchEntity", "Sender"),
    (AwsError("NoSuchEntityException", "by shape name"), 404, "NoSuchEntity", "Sender"),
    (AwsError("EntityAlreadyExists", "Role with name x already exists."), 409, "EntityAlreadyExists", "Sender"),
    (AwsError("LimitExceeded", "Cannot exceed quota for RolesPerAccount: 1000"), 409, "LimitExceeded", "Sender"),
    (AwsError("MalformedPolicyDocument", "Syntax errors in policy & <stuff>"), 400, "MalformedPolicyDocument", "Sender"),
    (AwsError("DeleteConflict", "Cannot delete entity, must detach all policies first."), 409, "DeleteConflict", "Sender"),
    (AwsError("ServiceFailure", "oops"), 500, "ServiceFailure", "Receiver"),
    (AwsError("ValidationError", "1 validation error detected: …"), 400, "ValidationError", "Sender"),
    (AwsError("AccessDenied", "not allowed", status=403), 403, "AccessDenied", "Sender"),
    (AwsError("NoSuchEntity", "explicit status wins", status=410), 410, "NoSuchEntity", "Sender"),
    (AwsError("InternalFailure", "boom", status=500, sender_fault=False), 500, "InternalFailure", "Receiver"),
])
def test_error_round_trip(iam: QueryProtocol, iam_model: ServiceModel, error: AwsError, status: int, code: str, kind: str) -> None:
    response = iam.serialize_error(error, request_id=REQUEST_ID)
    assert response.status == status
    assert dict(response.headers) == {"Content-Type": "text/xml", "x-amzn-RequestId": REQUEST_ID}
    parsed = client_parse(iam_model, "CreateRole", response)
    assert parsed == {"Error": {"Type": kind, "Code": code, "Message": error.message}}


def test_modeled_errors_map_to_boto3_exception_classes(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    exceptions = ClientExceptionsFactory().create_client_exceptions(iam_model)
    parsed = client_parse(iam_model, None, iam.serialize_error(AwsError("NoSuchEntityException", "gone"), request_id=REQUEST_ID))
    assert exceptions.from_code(parsed["Error"]["Code"]) is exceptions.NoSuchEntityException


def test_sts_error_envelope(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    response = sts.serialize_error(AwsError("ExpiredTokenException", "The security token included in the request is expired"), request_id=REQUEST_ID)
    ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
    root = ET.fromstring(response.body)
    assert root.tag == f"{ns}ErrorResponse"
    assert [child.tag for child in root] == [f"{ns}Error", f"{ns}RequestId"]
    details = root.find(f"{ns}Error")
    assert details is not None and [child.tag for child in details] == [f"{ns}Type", f"{ns}Code", f"{ns}Message"]
    assert client_parse(sts_model, "AssumeRole", response)["Error"]["Code"] == "ExpiredTokenException"


def test_error_fields_are_extra_elements(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    response = iam.serialize_error(AwsError("NoSuchEntity", "m", fields={"Detail": "d"}), request_id=REQUEST_ID)
    assert client_parse(iam_model, None, response)["Error"] == {"Type": "Sender", "Code": "NoSuchEntity", "Message": "m", "Detail": "d"}


def test_error_as_json(sts: QueryProtocol) -> None:
    response = sts.serialize_error(AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", status=403), request_id=REQUEST_ID, json=True)
    assert response.status == 403
    assert ("Content-Type", "application/json") in response.headers
    assert json.loads(response.body) == {
        "Error": {"Type": "Sender", "Code": "InvalidClientTokenId", "Message": "The security token included in the request is invalid."},
        "RequestId": REQUEST_ID,
    }


# --- operation lookup ---

@pytest.mark.parametrize(("query", "code", "message"), [
    ("Version=2011-06-15", "MissingAction", "The request is missing an action or a required parameter."),
    ("Action=&Version=2011-06-15", "MissingAction", "The request is missing an action or a required parameter."),
    ("Action=CreateRole&Version=2011-06-15", "InvalidAction", "Could not find operation CreateRole for version 2011-06-15"),
    ("Action=GetCallerIdentity&Version=2010-05-08", "InvalidAction", "Could not find operation GetCallerIdentity for version 2010-05-08"),
    ("Action=GetCallerIdentity", "InvalidAction", "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"),
    ("Action=getcalleridentity&Version=2011-06-15", "InvalidAction", "Could not find operation getcalleridentity for version 2011-06-15"),
])
def test_operation_lookup_errors(sts: QueryProtocol, query: str, code: str, message: str) -> None:
    with pytest.raises(AwsError) as info:
        sts.operation(parse_qs(query, keep_blank_values=True))
    assert (info.value.code, info.value.message, info.value.status) == (code, message, 400)


def test_every_operation_is_found(iam: QueryProtocol, sts: QueryProtocol, iam_model: ServiceModel, sts_model: ServiceModel) -> None:
    for proto, model in ((iam, iam_model), (sts, sts_model)):
        for name in model.operation_names:
            assert proto.operation({"Action": [name], "Version": [model.api_version]}).name == name


# --- validation: AWS's own message format ---

def test_pattern_violation_message(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    message = invalid(sts, sts_model, "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "bad name!"})
    assert message == (
        "1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    )


def test_duration_below_model_minimum(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    message = invalid(sts, sts_model, "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 899})
    assert message == (
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900"
    )


def test_missing_required(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    message = invalid(iam, iam_model, "CreateRole", {"AssumeRolePolicyDocument": "{}"})
    assert message == "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"


def test_bad_enum(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    message = invalid(iam, iam_model, "UpdateAccessKey", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Disabled"})
    assert message == (
        "1 validation error detected: Value 'Disabled' at 'status' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Active, Inactive, Expired]"
    )


def test_lengths_and_ranges(iam: QueryProtocol, iam_model: ServiceModel, sts: QueryProtocol, sts_model: ServiceModel) -> None:
    message = invalid(iam, iam_model, "CreateRole", {"RoleName": "r" * 65, "AssumeRolePolicyDocument": "{}", "MaxSessionDuration": 43201})
    assert message == (
        "2 validation errors detected: "
        f"Value '{'r' * 65}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64; "
        "Value '43201' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"
    )
    assert "Member must have value greater than or equal to 1" in invalid(iam, iam_model, "ListRoles", {"MaxItems": 0})
    short_session = invalid(sts, sts_model, "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s"})
    assert "at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2" in short_session


def test_list_size_and_nested_paths(sts: QueryProtocol, sts_model: ServiceModel) -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50" in invalid(
        sts, sts_model, "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "Tags": tags},
    )
    message = invalid(sts, sts_model, "AssumeRole", {
        "RoleArn": ROLE_ARN, "RoleSessionName": "s1",
        "Tags": [{"Key": "ok", "Value": "MOJ D&T"}, {"Key": "no-value"}], "PolicyArns": [{"arn": "short"}],
    })
    assert message == (
        "3 validation errors detected: "
        "Value 'short' at 'policyArns.1.member.arn' failed to satisfy constraint: Member must have length greater than or equal to 20; "
        "Value 'MOJ D&T' at 'tags.1.member.value' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*; "
        "Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null"
    )


def test_patterns_are_java_patterns(iam: QueryProtocol, iam_model: ServiceModel) -> None:
    """Java's \\w is ASCII-only and \\p{L} is Unicode letters; the whole value must match."""
    assert "at 'roleName'" in invalid(iam, iam_model, "CreateRole", {"RoleName": "rôle", "AssumeRolePolicyDocument": "{}"})
    assert "at 'roleName'" in invalid(iam, iam_model, "CreateRole", {"RoleName": "ok then", "AssumeRolePolicyDocument": "{}"})
    assert "at 'path'" in invalid(iam, iam_model, "CreateRole", {"RoleName": "r", "Path": "/a/b", "AssumeRolePolicyDocument": "{}"})
    assert "at 'assumeRolePolicyDocument'" in invalid(iam, iam_model, "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{\"€\": 1}"})
    params = {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Tags": [{"Key": "Ωμέγα٣", "Value": "日本語\u00a0x"}]}
    assert serve(iam, iam_model, "CreateRole", params) == params


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"MaxItems": ["ten"]}, "Value 'ten' at 'maxItems' failed to satisfy constraint: Member must be of type integer"),
    ({"MaxItems": ["99999999999"]}, "Value '99999999999' at 'maxItems'"),
    ({"MaxItems": ["1.5"]}, "at 'maxItems'"),
])
def test_malformed_numbers(iam: QueryProtocol, extra: dict[str, list[str]], fragment: str) -> None:
    form = {"Action": ["ListRoles"], "Version": ["2010-05-08"], **extra}
    assert fragment in rejected(iam, form)


def test_booleans(iam: QueryProtocol) -> None:
    form = {"Action": ["ListPolicies"], "Version": ["2010-05-08"], "OnlyAttached": ["TRUE"]}
    assert iam.parse(iam.operation(form), form) == {"OnlyAttached": True}
    form["OnlyAttached"] = ["yes"]
    assert "Value 'yes' at 'onlyAttached' failed to satisfy constraint: Member must be of type boolean" in rejected(iam, form)


def test_list_items_are_ordered_by_number_and_gaps_are_fine(sts: QueryProtocol) -> None:
    form = {
        "Action": ["AssumeRole"], "Version": ["2011-06-15"], "RoleArn": [ROLE_ARN], "RoleSessionName": ["s1"],
        "TransitiveTagKeys.member.10": ["ten"], "TransitiveTagKeys.member.2": ["two"], "TransitiveTagKeys.member.x": ["junk"],
    }
    assert sts.parse(sts.operation(form), form)["TransitiveTagKeys"] == ["two", "ten"]


def test_custom_validation_error_code(iam_model: ServiceModel) -> None:
    proto = QueryProtocol(iam_model, validation_error_code="InvalidInput")
    message = rejected(proto, wire_form(iam_model, "ListRoles", {"MaxItems": 0}, validate=False), code="InvalidInput")
    assert message.startswith("1 validation error detected: Value '0' at 'maxItems'")


# --- a real botocore client (signing, validation, retries, exception classes) talking to us ---

class _Raw:
    """The minimal urllib3-like raw body AWSResponse needs."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_real_clients_end_to_end(iam: QueryProtocol, sts: QueryProtocol) -> None:
    session = botocore.session.get_session()
    seen: list[tuple[str, dict[str, Any]]] = []

    def handler(proto: QueryProtocol) -> Any:
        def send(request: Any, **_: Any) -> AWSResponse:
            body = request.body or b""
            form = parse_qs(body.decode() if isinstance(body, bytes) else body, keep_blank_values=True)
            for key, values in parse_qs(urlsplit(request.url).query, keep_blank_values=True).items():
                form.setdefault(key, []).extend(values)
            try:
                operation = proto.operation(form)
                params = proto.parse(operation, form)
                seen.append((operation.name, params))
                if operation.name == "GetRole":
                    raise AwsError("NoSuchEntityException", f"The role with name {params['RoleName']} cannot be found.")
                output = STS_RESPONSES[0][1] if operation.name == "AssumeRole" else {}
                response = proto.serialize(operation, output, request_id=REQUEST_ID)
            except AwsError as exc:
                response = proto.serialize_error(exc, request_id=REQUEST_ID)
            return AWSResponse(request.url, response.status, dict(response.headers), _Raw(response.body))
        return send

    sts_client = session.create_client("sts", region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s")
    sts_client.meta.events.register("before-send.sts", handler(sts))
    assumed = sts_client.assume_role(RoleArn=ROLE_ARN, RoleSessionName="s1", Tags=TAGS, DurationSeconds=3600)
    assert assumed["Credentials"] == STS_RESPONSES[0][1]["Credentials"]
    assert seen[-1] == ("AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "Tags": TAGS, "DurationSeconds": 3600})

    iam_client = session.create_client("iam", region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s")
    iam_client.meta.events.register("before-send.iam", handler(iam))
    with pytest.raises(iam_client.exceptions.NoSuchEntityException) as info:
        iam_client.get_role(RoleName="ghost")
    assert info.value.response["Error"] == {"Type": "Sender", "Code": "NoSuchEntity", "Message": "The role with name ghost cannot be found."}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --- layouts IAM and STS do not use: flattened lists/maps and locationNames, on a synthetic model ---

SYNTHETIC = ServiceModel({
    "metadata": {"protocol": "query", "apiVersion": "2020-01-01", "endpointPrefix": "thing", "serviceId": "Thing"},
    "operations": {"Echo": {
        "name": "Echo", "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "Shapes"}, "output": {"shape": "Shapes", "resultWrapper": "EchoResult"},
    }},
    "shapes": {
        "Shapes": {"type": "structure", "members": {
            "Renamed": {"shape": "S", "locationName": "OtherName"},
            "Flat": {"shape": "FlatList"},
            "FlatNamed": {"shape": "FlatNamedList"},
            "Named": {"shape": "NamedList"},
            "Nested": {"shape": "Shapes"},
            "Map": {"shape": "Map"},
            "FlatMap": {"shape": "FlatMap"},
            "When": {"shape": "T"},
            "Data": {"shape": "B"},
            "Ratio": {"shape": "D"},
            "Big": {"shape": "L"},
        }},
        "FlatList": {"type": "list", "member": {"shape": "S"}, "flattened": True},
        "FlatNamedList": {"type": "list", "member": {"shape": "S", "locationName": "Item"}, "flattened": True},
        "NamedList": {"type": "list", "member": {"shape": "S", "locationName": "Thing"}},
        "Map": {"type": "map", "key": {"shape": "S", "locationName": "Name"}, "value": {"shape": "S", "locationName": "Val"}},
        "FlatMap": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "I"}, "flattened": True},
        "S": {"type": "string"}, "I": {"type": "integer"}, "T": {"type": "timestamp"}, "B": {"type": "blob"},
        "D": {"type": "double"}, "L": {"type": "long"},
    },
})
SYNTHETIC_VALUE: dict[str, Any] = {
    "Renamed": "r", "Flat": ["a", "b"], "FlatNamed": ["c"], "Named": ["d", "e"],
    "Nested": {"Renamed": "inner", "Named": ["f"], "Map": {"k": "v"}},
    "Map": {"x": "1", "y": "2"}, "FlatMap": {"p": 1, "q": -2},
    "When": datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc), "Data": b"\x00\xffbin", "Ratio": 0.25, "Big": 2**40,
}


def test_synthetic_request_layouts() -> None:
    proto = QueryProtocol(SYNTHETIC)
    form = wire_form(SYNTHETIC, "Echo", SYNTHETIC_VALUE)
    assert {"OtherName", "Flat.1", "Item.1", "Named.Thing.2", "Map.entry.1.Name", "Map.entry.2.Val", "FlatMap.1.key"} <= set(form)
    assert proto.parse(proto.operation(form), form) == SYNTHETIC_VALUE


def test_synthetic_response_layouts() -> None:
    proto = QueryProtocol(SYNTHETIC)
    response = proto.serialize(SYNTHETIC.operation_model("Echo"), SYNTHETIC_VALUE, request_id=REQUEST_ID)
    assert b'xmlns="https://thing.amazonaws.com/doc/2020-01-01/"' in response.body  # no xmlNamespace in the model
    assert client_parse(SYNTHETIC, "Echo", response) == SYNTHETIC_VALUE
