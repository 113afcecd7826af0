"""restJson1 server protocol, checked against botocore's own client-side code.

Requests are built by botocore's serializer and sent through the same URL preparation a
real client uses; responses are read back by botocore's parser. So these tests pin the
wire format to what boto3 and the AWS CLI actually do, not to our reading of the spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict, prepare_request_dict
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.restjson import HttpResponse, RestJsonProtocol, Route

ENDPOINT = "https://eks.us-east-1.amazonaws.com"
ROLE = "arn:aws:iam::111122223333:role/dev/team+ops@x"
POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
CLUSTER_ARN = "arn:aws:eks:us-east-1:111122223333:cluster/dev"


@pytest.fixture(scope="module")
def model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("eks")


@pytest.fixture(scope="module")
def proto(model: ServiceModel) -> RestJsonProtocol:
    return RestJsonProtocol(model)


def wire_request(model: ServiceModel, operation: str, params: Mapping[str, Any]) -> tuple[str, str, str, dict[str, str], bytes]:
    """What botocore would put on the wire: method, raw path, raw query, headers, body."""
    request = create_serializer("rest-json").serialize_to_request(dict(params), model.operation_model(operation))
    prepare_request_dict(request, endpoint_url=ENDPOINT)
    url = urlsplit(request["url"])
    body = request["body"]
    body = body.encode() if isinstance(body, str) else body
    headers = {name.lower(): value for name, value in request["headers"].items()}
    return request["method"], url.path, url.query, headers, body


def serve(proto: RestJsonProtocol, model: ServiceModel, operation: str, params: Mapping[str, Any]) -> tuple[Route, dict[str, Any]]:
    method, path, query, headers, body = wire_request(model, operation, params)
    route = proto.route(method, path)
    return route, proto.parse(route, query, headers, body)


def client_parse(model: ServiceModel, operation: str, response: HttpResponse) -> dict[str, Any]:
    """Read a response the way a botocore client does (headers are case-insensitive there)."""
    raw = {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body}
    parsed: dict[str, Any] = create_parser("rest-json").parse(raw, model.operation_model(operation).output_shape)
    parsed.pop("ResponseMetadata")
    return parsed


def validation_error(proto: RestJsonProtocol, route: Route, query: str = "", body: Any = None, headers: Mapping[str, str] | None = None) -> AwsError:
    raw = b"" if body is None else json.dumps(body).encode()
    with pytest.raises(AwsError) as info:
        proto.parse(route, query, headers or {}, raw)
    assert info.value.code == "InvalidParameterException"
    return info.value


# --- requests: botocore serializes, we route and parse, params must round-trip exactly ---

ROUND_TRIPS: list[tuple[str, dict[str, Any]]] = [
    ("CreateCluster", {
        "name": "dev-1",
        "version": "1.31",
        "roleArn": "arn:aws:iam::111122223333:role/eks",
        "resourcesVpcConfig": {
            "subnetIds": ["subnet-a", "subnet-b"],
            "securityGroupIds": ["sg-1"],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": False,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
        "logging": {"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
        "accessConfig": {"bootstrapClusterCreatorAdminPermissions": True, "authenticationMode": "API_AND_CONFIG_MAP"},
        "clientRequestToken": "token-1",
        "tags": {"team": "platform", "env": "dev"},
    }),
    ("CreateAccessEntry", {
        "clusterName": "dev",
        "principalArn": ROLE,
        "kubernetesGroups": ["system:masters", "viewers"],
        "username": "admin:{{SessionName}}",
        "type": "STANDARD",
        "tags": {"a": "b"},
    }),
    ("DescribeAccessEntry", {"clusterName": "dev", "principalArn": ROLE}),
    ("DeleteAccessEntry", {"clusterName": "dev", "principalArn": ROLE}),
    ("UpdateAccessEntry", {"clusterName": "dev", "principalArn": ROLE, "kubernetesGroups": [], "username": "u"}),
    ("ListAccessEntries", {"clusterName": "dev", "maxResults": 7, "nextToken": "abc/+= ?&", "associatedPolicyArn": POLICY}),
    ("ListAccessEntries", {"clusterName": "dev"}),
    ("UntagResource", {"resourceArn": CLUSTER_ARN, "tagKeys": ["team", "env"]}),
    ("TagResource", {"resourceArn": CLUSTER_ARN, "tags": {"k": "v"}}),
    ("AssociateAccessPolicy", {
        "clusterName": "dev",
        "principalArn": ROLE,
        "policyArn": POLICY,
        "accessScope": {"type": "namespace", "namespaces": ["default", "kube-system"]},
    }),
    ("ListAssociatedAccessPolicies", {"clusterName": "dev", "principalArn": ROLE, "maxResults": 100}),
    ("DisassociateAccessPolicy", {"clusterName": "dev", "principalArn": ROLE, "policyArn": POLICY}),
    ("DescribeUpdate", {"name": "dev", "updateId": "u-1", "nodegroupName": "ng 1", "addonName": "vpc-cni"}),
    ("ListClusters", {"maxResults": 3, "include": ["all"]}),
    ("ListClusters", {}),
    ("DescribeIdentityProviderConfig", {"clusterName": "dev", "identityProviderConfig": {"type": "oidc", "name": "okta"}}),
]


@pytest.mark.parametrize(("operation", "params"), ROUND_TRIPS, ids=[op for op, _ in ROUND_TRIPS])
def test_request_round_trip(proto: RestJsonProtocol, model: ServiceModel, operation: str, params: dict[str, Any]) -> None:
    route, parsed = serve(proto, model, operation, params)
    assert route.operation.name == operation
    assert parsed == params


def test_labels_are_decoded_after_matching_the_encoded_path(proto: RestJsonProtocol, model: ServiceModel) -> None:
    method, path, _, _, _ = wire_request(model, "DisassociateAccessPolicy", {"clusterName": "dev", "principalArn": ROLE, "policyArn": POLICY})
    assert "%2F" in path and "%3A" in path  # botocore really encodes '/' and ':' inside labels
    route = proto.route(method, path)
    assert route.labels == {"name": "dev", "principalArn": ROLE, "policyArn": POLICY}


def test_every_eks_operation_routes_to_itself(proto: RestJsonProtocol, model: ServiceModel) -> None:
    """No two EKS routes shadow each other: each requestUri, filled with labels, comes back to its operation."""
    for name in model.operation_names:
        operation = model.operation_model(name)
        path = operation.http["requestUri"].split("?")[0].replace("{", "x").replace("}", "")
        assert proto.route(operation.http["method"], path).operation.name == name


def test_more_literal_segments_win() -> None:
    """A synthetic model where a label route and a literal route both match."""
    model = ServiceModel({
        "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01", "endpointPrefix": "x", "serviceId": "X"},
        "operations": {
            "GetThing": {"name": "GetThing", "http": {"method": "GET", "requestUri": "/things/{id}"}, "input": {"shape": "In"}},
            "GetLatest": {"name": "GetLatest", "http": {"method": "GET", "requestUri": "/things/latest"}},
            "GetFile": {"name": "GetFile", "http": {"method": "GET", "requestUri": "/files/{key+}?meta"}, "input": {"shape": "FileIn"}},
        },
        "shapes": {
            "In": {"type": "structure", "required": ["id"], "members": {"id": {"shape": "S", "location": "uri", "locationName": "id"}}},
            "FileIn": {"type": "structure", "required": ["key"], "members": {"key": {"shape": "S", "location": "uri", "locationName": "key"}}},
            "S": {"type": "string"},
        },
    })
    proto = RestJsonProtocol(model)
    assert proto.route("GET", "/things/latest").operation.name == "GetLatest"
    assert proto.route("GET", "/things/other").operation.name == "GetThing"
    route = proto.route("GET", "/files/a/b%20c/d")
    assert route.operation.name == "GetFile" and route.labels == {"key": "a/b c/d"}
    assert proto.parse(route, "", {}, b"") == {"key": "a/b c/d"}


ARN_TEXT = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(principal=ARN_TEXT.map(lambda s: f"arn:aws:iam::111122223333:role/{s}"), cluster=ARN_TEXT)
def test_any_label_value_survives_routing(proto: RestJsonProtocol, model: ServiceModel, principal: str, cluster: str) -> None:
    """':', '/', '%', '+', spaces and non-ASCII in labels all come back exactly as the client sent them."""
    route, parsed = serve(proto, model, "DescribeAccessEntry", {"clusterName": cluster, "principalArn": principal})
    assert route.operation.name == "DescribeAccessEntry"
    assert parsed == {"clusterName": cluster, "principalArn": principal}


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5))
def test_any_query_list_survives(proto: RestJsonProtocol, model: ServiceModel, keys: list[str]) -> None:
    _, parsed = serve(proto, model, "UntagResource", {"resourceArn": CLUSTER_ARN, "tagKeys": keys})
    assert parsed["tagKeys"] == keys


# --- responses: we serialize, botocore's parser reads them back ---

CREATED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)


def access_entry() -> dict[str, Any]:
    return {
        "clusterName": "dev",
        "principalArn": ROLE,
        "kubernetesGroups": ["viewers"],
        "accessEntryArn": "arn:aws:eks:us-east-1:111122223333:access-entry/dev/role/111122223333/dev/abc",
        "createdAt": CREATED,
        "modifiedAt": datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
        "tags": {"a": "b"},
        "username": "admin",
        "type": "STANDARD",
    }


RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("CreateAccessEntry", {"accessEntry": access_entry()}),
    ("DescribeAccessEntry", {"accessEntry": access_entry()}),
    ("ListAccessEntries", {"accessEntries": [ROLE, "arn:aws:iam::1:user/x"], "nextToken": "n"}),
    ("ListAccessEntries", {"accessEntries": []}),
    ("AssociateAccessPolicy", {
        "clusterName": "dev",
        "principalArn": ROLE,
        "associatedAccessPolicy": {
            "policyArn": POLICY,
            "accessScope": {"type": "cluster", "namespaces": []},
            "associatedAt": CREATED,
            "modifiedAt": CREATED + timedelta(days=1),
        },
    }),
    ("DescribeCluster", {"cluster": {
        "name": "dev",
        "arn": CLUSTER_ARN,
        "createdAt": CREATED,
        "version": "1.31",
        "status": "ACTIVE",
        "resourcesVpcConfig": {"subnetIds": ["s"], "endpointPublicAccess": True},
        "certificateAuthority": {"data": "LS0t"},
        "accessConfig": {"authenticationMode": "API"},
        "health": {"issues": [{"code": "AccessDenied", "message": "m", "resourceIds": ["r"]}]},
        "tags": {},
    }}),
    ("DescribeUpdate", {"update": {"id": "u", "status": "Successful", "type": "VersionUpdate",
                                   "params": [{"type": "Version", "value": "1.31"}], "createdAt": CREATED, "errors": []}}),
    ("DeleteAccessEntry", {}),
    ("ListTagsForResource", {"tags": {"k": "v"}}),
]


@pytest.mark.parametrize(("operation", "output"), RESPONSES, ids=[op for op, _ in RESPONSES])
def test_response_round_trip(proto: RestJsonProtocol, model: ServiceModel, operation: str, output: dict[str, Any]) -> None:
    response = proto.serialize(model.operation_model(operation), output, request_id="req-1")
    assert response.status == 200
    assert ("x-amzn-RequestId", "req-1") in response.headers
    assert ("Content-Type", "application/json") in response.headers
    assert client_parse(model, operation, response) == output


def test_timestamps_are_epoch_numbers_and_come_back_tz_aware(proto: RestJsonProtocol, model: ServiceModel) -> None:
    response = proto.serialize(model.operation_model("DescribeAccessEntry"), {"accessEntry": access_entry()}, request_id="r")
    entry = json.loads(response.body)["accessEntry"]
    assert entry["createdAt"] == pytest.approx(CREATED.timestamp()) and isinstance(entry["createdAt"], float)
    assert entry["modifiedAt"] == 1714979289 and isinstance(entry["modifiedAt"], int)
    parsed = client_parse(model, "DescribeAccessEntry", response)["accessEntry"]["createdAt"]
    assert parsed.tzinfo is not None and parsed == CREATED


def test_naive_datetime_means_utc(proto: RestJsonProtocol, model: ServiceModel) -> None:
    entry = {**access_entry(), "createdAt": CREATED.replace(tzinfo=None)}
    response = proto.serialize(model.operation_model("DescribeAccessEntry"), {"accessEntry": entry}, request_id="r")
    assert client_parse(model, "DescribeAccessEntry", response)["accessEntry"]["createdAt"] == CREATED


def test_empty_output_is_an_empty_object(proto: RestJsonProtocol, model: ServiceModel) -> None:
    assert proto.serialize(model.operation_model("DeleteAccessEntry"), {}, request_id="r").body == b"{}"


def test_none_values_are_omitted(proto: RestJsonProtocol, model: ServiceModel) -> None:
    response = proto.serialize(model.operation_model("ListAccessEntries"), {"accessEntries": ["a"], "nextToken": None}, request_id="r")
    assert json.loads(response.body) == {"accessEntries": ["a"]}


@pytest.mark.parametrize("output", [
    {"accessEntry": access_entry(), "extra": 1},
    {"accessEntry": {**access_entry(), "secret": "x"}},
])
def test_off_model_output_fields_are_rejected(proto: RestJsonProtocol, model: ServiceModel, output: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="extra|accessEntry.secret"):
        proto.serialize(model.operation_model("DescribeAccessEntry"), output, request_id="r")


def test_wrong_output_type_is_rejected(proto: RestJsonProtocol, model: ServiceModel) -> None:
    with pytest.raises(TypeError, match="accessEntry.kubernetesGroups.member"):
        proto.serialize(model.operation_model("DescribeAccessEntry"), {"accessEntry": {"kubernetesGroups": [1]}}, request_id="r")


# --- errors ---

@pytest.mark.parametrize(("error", "status"), [
    (AwsError("ResourceNotFoundException", "No access entry found", fields={"clusterName": "dev"}), 404),
    (AwsError("ResourceInUseException", "in use"), 409),
    (AwsError("InvalidParameterException", "bad"), 400),
    (AwsError("NotAModeledError", "who knows"), 400),
    (AwsError("AccessDeniedException", "forced", status=401), 401),
])
def test_error_round_trip(proto: RestJsonProtocol, model: ServiceModel, error: AwsError, status: int) -> None:
    response = proto.serialize_error(error, request_id="req-9")
    assert response.status == status
    raw = {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body}
    parsed = create_parser("rest-json").parse(raw, model.operation_model("DescribeAccessEntry").output_shape)
    assert parsed["Error"] == {"Code": error.code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"
    assert json.loads(response.body) == {"message": error.message, **error.fields}


def test_real_client_end_to_end(proto: RestJsonProtocol, model: ServiceModel) -> None:
    """A botocore client, its signing and validation included, talking to us via before-send."""
    client = botocore.session.get_session().create_client(
        "eks", region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="secret")
    seen: list[dict[str, Any]] = []

    def handler(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.body or b""
        try:
            route = proto.route(request.method, url.path)
            params = proto.parse(route, url.query, headers, body if isinstance(body, bytes) else body.encode())
            seen.append(params)
            if route.operation.name == "DescribeAccessEntry":
                raise AwsError("ResourceNotFoundException", "nope", fields={"clusterName": params["clusterName"]})
            response = proto.serialize(route.operation, {"accessEntry": {**access_entry(), "principalArn": params["principalArn"]}}, request_id="r")
        except AwsError as exc:
            response = proto.serialize_error(exc, request_id="r")
        return AWSResponse(request.url, response.status, dict(response.headers), _Raw(response.body))

    client.meta.events.register("before-send.eks", handler)
    created = client.create_access_entry(clusterName="dev", principalArn=ROLE, kubernetesGroups=["g"])
    assert created["accessEntry"]["principalArn"] == ROLE and created["accessEntry"]["createdAt"] == CREATED
    assert seen[-1] == {"clusterName": "dev", "principalArn": ROLE, "kubernetesGroups": ["g"], "clientRequestToken": seen[-1]["clientRequestToken"]}
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.describe_access_entry(clusterName="dev", principalArn=ROLE)
    assert info.value.response["Error"]["Message"] == "nope"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


class _Raw:
    """The minimal urllib3-like raw body AWSResponse needs."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


# --- negative cases ---

@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/nope"),
    ("GET", "/clusters/dev/access-entries/a/b"),
    ("GET", "/clusters//access-entries"),
    ("PUT", "/clusters"),
    ("PATCH", "/clusters/dev/access-entries/x"),
    ("GET", "clusters"),
])
def test_unknown_operation(proto: RestJsonProtocol, method: str, path: str) -> None:
    with pytest.raises(AwsError) as info:
        proto.route(method, path)
    assert info.value.code == "UnknownOperationException" and info.value.status == 404
    assert response_status(proto, info.value) == 404


def response_status(proto: RestJsonProtocol, error: AwsError) -> int:
    return proto.serialize_error(error, request_id="r").status


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"\xff\xfe", b"null"])
def test_malformed_body(proto: RestJsonProtocol, body: bytes) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    with pytest.raises(AwsError) as info:
        proto.parse(route, "", {}, body)
    assert info.value.code == "SerializationException" and info.value.status == 400


def test_empty_body_is_an_empty_object(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    error = validation_error(proto, route)
    assert error.message == "1 validation error detected: Value null at 'principalArn' failed to satisfy constraint: Member must not be null"


def test_body_of_bodyless_operation_is_ignored(proto: RestJsonProtocol) -> None:
    route = proto.route("GET", "/clusters/dev")
    assert proto.parse(route, "", {}, b"not json") == {"name": "dev"}


def test_unknown_json_members_are_ignored(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    assert proto.parse(route, "", {}, b'{"principalArn": "p", "bogus": [1], "username": null}') == {"clusterName": "dev", "principalArn": "p"}


def test_range(proto: RestJsonProtocol) -> None:
    route = proto.route("GET", "/clusters/dev/access-entries")
    assert validation_error(proto, route, "maxResults=101").message == (
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100")
    assert "greater than or equal to 1" in validation_error(proto, route, "maxResults=0").message


def test_query_type_error(proto: RestJsonProtocol) -> None:
    route = proto.route("GET", "/clusters/dev/access-entries")
    assert validation_error(proto, route, "maxResults=abc").message == (
        "1 validation error detected: Value 'abc' at 'maxResults' failed to satisfy constraint: Member must be of type integer")


def test_enum(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries/p/access-policies")
    error = validation_error(proto, route, body={"policyArn": POLICY, "accessScope": {"type": "world"}})
    assert error.message == (
        "1 validation error detected: Value 'world' at 'accessScope.type' failed to satisfy constraint: "
        "Member must satisfy enum value set: [cluster, namespace]")


def test_length_and_pattern(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters")
    base = {"roleArn": "r", "resourcesVpcConfig": {}}
    assert validation_error(proto, route, body={**base, "name": "-bad"}).message == (
        "1 validation error detected: Value '-bad' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[0-9A-Za-z][A-Za-z0-9\\-_]*")
    too_long = validation_error(proto, route, body={**base, "name": "a" * 101}).message
    assert too_long.endswith("Member must have length less than or equal to 100")
    empty = validation_error(proto, route, body={**base, "name": ""}).message
    assert empty.startswith("2 validation errors detected: ")
    assert "Member must have length greater than or equal to 1" in empty and "regular expression" in empty


def test_collection_sizes(proto: RestJsonProtocol) -> None:
    route = proto.route("DELETE", "/tags/arn")
    assert validation_error(proto, route, "").message.endswith("Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
    many = "&".join(f"tagKeys=k{i}" for i in range(51))
    assert validation_error(proto, route, many).message.endswith("Member must have length less than or equal to 50")
    create = proto.route("POST", "/clusters/dev/access-entries")
    assert validation_error(proto, create, body={"principalArn": "p", "tags": {}}).message == (
        "1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")


@pytest.mark.parametrize(("body", "path", "kind"), [
    ({"principalArn": 5}, "principalArn", "string"),
    ({"principalArn": "p", "kubernetesGroups": "g"}, "kubernetesGroups", "list"),
    ({"principalArn": "p", "kubernetesGroups": ["g", 1]}, "kubernetesGroups.member", "string"),
    ({"principalArn": "p", "tags": {"k": 1}}, "tags.value", "string"),
    ({"principalArn": "p", "tags": []}, "tags", "map"),
    ({"principalArn": True}, "principalArn", "string"),
])
def test_wrong_json_types(proto: RestJsonProtocol, body: dict[str, Any], path: str, kind: str) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    error = validation_error(proto, route, body=body)
    assert error.message.startswith("1 validation error detected: ")
    assert f"at '{path}' failed to satisfy constraint: Member must be of type {kind}" in error.message


def test_wrong_types_in_nested_and_numeric_members(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/node-groups")
    body = {"nodegroupName": "ng", "subnets": ["s"], "nodeRole": "r",
            "scalingConfig": {"minSize": "1", "maxSize": True, "desiredSize": 2.5}, "diskSize": 20}
    message = validation_error(proto, route, body=body).message
    assert message.startswith("3 validation errors detected: ")
    for member, kind in [("minSize", "integer"), ("maxSize", "integer"), ("desiredSize", "integer")]:
        assert f"at 'scalingConfig.{member}' failed to satisfy constraint: Member must be of type {kind}" in message


def test_nested_errors_are_all_reported(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters")
    body = {"name": "ok", "roleArn": "r", "resourcesVpcConfig": {},
            "outpostConfig": {"outpostArns": []},
            "logging": {"clusterLogging": [{"types": ["api", "nope"]}]},
            "encryptionConfig": [{}, {}]}
    message = validation_error(proto, route, body=body).message
    assert message.startswith("3 validation errors detected: ")
    assert "Value null at 'outpostConfig.controlPlaneInstanceType' failed to satisfy constraint: Member must not be null" in message
    assert "Value 'nope' at 'logging.clusterLogging.member.types.member' failed to satisfy constraint: Member must satisfy enum value set: [api, audit" in message
    assert "Value '[{}, {}]' at 'encryptionConfig' failed to satisfy constraint: Member must have length less than or equal to 1" in message


def test_required_and_type_errors_are_not_double_reported(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    message = validation_error(proto, route, body={"principalArn": ["x"]}).message
    assert message == "1 validation error detected: Value '[x]' at 'principalArn' failed to satisfy constraint: Member must be of type string"


def test_null_list_items_are_errors(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    message = validation_error(proto, route, body={"principalArn": "p", "kubernetesGroups": [None]}).message
    assert "Value null at 'kubernetesGroups.member' failed to satisfy constraint: Member must not be null" in message


def test_idempotency_token_is_not_invented(proto: RestJsonProtocol) -> None:
    route = proto.route("POST", "/clusters/dev/access-entries")
    assert "clientRequestToken" not in proto.parse(route, "", {}, b'{"principalArn": "p"}')


def test_custom_validation_error_code(model: ServiceModel) -> None:
    proto = RestJsonProtocol(model, validation_error_code="ValidationException")
    with pytest.raises(AwsError) as info:
        proto.parse(proto.route("GET", "/clusters/dev/access-entries"), "maxResults=0", {}, b"")
    assert info.value.code == "ValidationException"
    assert response_status(proto, info.value) == 400


def test_path_is_not_valid_utf8(proto: RestJsonProtocol) -> None:
    with pytest.raises(AwsError) as info:
        proto.route("GET", "/clusters/%ff")
    assert info.value.status == 400


# --- the rest of restJson1 that EKS does not use, on a synthetic model ---

WIDGETS = ServiceModel({
    "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01", "endpointPrefix": "w", "serviceId": "W"},
    "operations": {
        "PutWidget": {
            "name": "PutWidget", "http": {"method": "PUT", "requestUri": "/widgets/{id}", "responseCode": 201},
            "input": {"shape": "PutIn"}, "output": {"shape": "PutOut"},
        },
        "GetBlob": {
            "name": "GetBlob", "http": {"method": "POST", "requestUri": "/blobs/{key+}"},
            "input": {"shape": "BlobIn"}, "output": {"shape": "BlobOut"},
        },
    },
    "shapes": {
        "PutIn": {"type": "structure", "required": ["id"], "members": {
            "id": {"shape": "Str", "location": "uri", "locationName": "id"},
            "flag": {"shape": "Bool", "location": "querystring", "locationName": "flag"},
            "since": {"shape": "Time", "location": "querystring", "locationName": "since"},
            "ratio": {"shape": "Double", "location": "querystring", "locationName": "ratio"},
            "extra": {"shape": "StrMap", "location": "querystring"},
            "token": {"shape": "Str", "location": "header", "locationName": "X-Token"},
            "when": {"shape": "Time", "location": "header", "locationName": "X-When"},
            "names": {"shape": "StrList", "location": "header", "locationName": "X-Names"},
            "meta": {"shape": "StrMap", "location": "headers", "locationName": "x-meta-"},
            "doc": {"shape": "JsonStr", "location": "header", "locationName": "X-Doc"},
            "data": {"shape": "Blob"},
            "count": {"shape": "Long"},
            "size": {"shape": "Double"},
            "at": {"shape": "IsoTime"},
            "renamed": {"shape": "Str", "locationName": "Renamed"},
            "choice": {"shape": "Choice"},
        }},
        "PutOut": {"type": "structure", "members": {
            "status": {"shape": "Int", "location": "statusCode"},
            "when": {"shape": "Time", "location": "header", "locationName": "X-When"},
            "names": {"shape": "StrList", "location": "header", "locationName": "X-Names"},
            "meta": {"shape": "StrMap", "location": "headers", "locationName": "x-meta-"},
            "data": {"shape": "Blob"},
            "at": {"shape": "IsoTime"},
            "size": {"shape": "Double"},
            "renamed": {"shape": "Str", "locationName": "Renamed"},
        }},
        "BlobIn": {"type": "structure", "required": ["key"], "payload": "body", "members": {
            "key": {"shape": "Str", "location": "uri", "locationName": "key"},
            "body": {"shape": "Blob"},
        }},
        "BlobOut": {"type": "structure", "payload": "body", "members": {"body": {"shape": "Blob"}}},
        "Choice": {"type": "structure", "union": True, "members": {"a": {"shape": "Str"}, "b": {"shape": "Int"}}},
        "Str": {"type": "string"},
        "JsonStr": {"type": "string", "jsonvalue": True},
        "Bool": {"type": "boolean"},
        "Int": {"type": "integer"},
        "Long": {"type": "long"},
        "Double": {"type": "double"},
        "Blob": {"type": "blob"},
        "Time": {"type": "timestamp"},
        "IsoTime": {"type": "timestamp", "timestampFormat": "iso8601"},
        "StrList": {"type": "list", "member": {"shape": "Str"}},
        "StrMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Str"}},
    },
})


def test_every_location_and_type_round_trips() -> None:
    proto = RestJsonProtocol(WIDGETS)
    params = {
        "id": "w/1", "flag": False, "since": CREATED, "ratio": 0.25, "extra": {"color": "red"},
        "token": "t", "when": CREATED.replace(microsecond=0), "names": ["a", "b,c", 'd"e'], "meta": {"owner": "me"},
        "doc": {"k": [1, 2]}, "data": b"\x00\xffbytes", "count": 2**40, "size": 1.5, "at": CREATED,
        "renamed": "r", "choice": {"b": 3},
    }
    method, path, query, headers, body = wire_request(WIDGETS, "PutWidget", params)
    assert b'"Renamed": "r"' in body
    assert proto.parse(proto.route(method, path), query, headers, body) == params


def test_output_locations_round_trip() -> None:
    proto = RestJsonProtocol(WIDGETS)
    output = {"when": CREATED.replace(microsecond=0), "names": ["a", "b"], "meta": {"owner": "me"},
              "data": b"\x01\x02", "at": CREATED, "size": 2.5, "renamed": "r"}
    response = proto.serialize(WIDGETS.operation_model("PutWidget"), output, request_id="r")
    assert response.status == 201
    assert json.loads(response.body)["at"] == "2024-05-06T07:08:09.123456Z"
    assert client_parse(WIDGETS, "PutWidget", response) == {**output, "status": 201}
    teapot = proto.serialize(WIDGETS.operation_model("PutWidget"), {"status": 418}, request_id="r")
    assert teapot.status == 418 and teapot.body == b"{}"


def test_blob_payloads_are_the_raw_body() -> None:
    proto = RestJsonProtocol(WIDGETS)
    method, path, query, headers, body = wire_request(WIDGETS, "GetBlob", {"key": "a/b c", "body": b"raw{"})
    route = proto.route(method, path)
    assert route.labels == {"key": "a/b c"}
    assert proto.parse(route, query, headers, body) == {"key": "a/b c", "body": b"raw{"}
    response = proto.serialize(WIDGETS.operation_model("GetBlob"), {"body": b"out"}, request_id="r")
    assert response.body == b"out"


@pytest.mark.parametrize(("query", "headers", "body", "fragment"), [
    ("flag=yes", {}, {}, "Value 'yes' at 'flag' failed to satisfy constraint: Member must be of type boolean"),
    ("ratio=1_0", {}, {}, "at 'ratio' failed to satisfy constraint: Member must be of type double"),
    ("since=someday", {}, {}, "at 'since' failed to satisfy constraint: Member must be of type timestamp"),
    ("", {"x-when": "not a date"}, {}, "at 'when' failed to satisfy constraint: Member must be of type timestamp"),
    ("", {}, {"data": "***"}, "Value '***' at 'data' failed to satisfy constraint: Member must be of type blob"),
    ("", {}, {"count": 2**63}, "at 'count' failed to satisfy constraint: Member must be of type long"),
    ("", {}, {"size": "1.5"}, "at 'size' failed to satisfy constraint: Member must be of type double"),
    ("", {}, {"choice": {"a": "x", "b": 1}}, "Value null at 'choice' failed to satisfy constraint: Member must have exactly one member set"),
])
def test_synthetic_type_errors(query: str, headers: dict[str, str], body: dict[str, Any], fragment: str) -> None:
    proto = RestJsonProtocol(WIDGETS)
    route = proto.route("PUT", "/widgets/1")
    with pytest.raises(AwsError) as info:
        proto.parse(route, query, headers, json.dumps(body).encode())
    assert fragment in info.value.message
