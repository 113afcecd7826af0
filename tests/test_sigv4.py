"""SigV4 verification checked against botocore as the reference client: whatever botocore (and the
AWS CLI's `eks get-token`) signs must verify, and any tampering must not."""
from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.identity import sigv4
from kubegate.identity.sigv4 import SignedRequest, SigV4Error, parse_signature, verify_signature

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EKS = "https://eks.us-west-2.amazonaws.com"
ROLE_ARN = "arn:aws:iam::123456789012:role/dev team"


@dataclasses.dataclass(frozen=True)
class Wire:
    """A request as the server sees it: raw path and query, lower-cased headers, body bytes."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def with_header(self, name: str, value: str) -> Wire:
        return dataclasses.replace(self, headers={**self.headers, name: value})

    @property
    def timestamp(self) -> datetime:
        return parse_signature(self.method, self.raw_path, self.raw_query, self.headers).timestamp


def wire_of(prepared: AWSPreparedRequest) -> Wire:
    parts = urlsplit(prepared.url)
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)  # botocore signs it; the HTTP client adds it
    body = prepared.body or b""
    return Wire(prepared.method, parts.path, parts.query, headers, body.encode() if isinstance(body, str) else body)


def sign(method: str, url: str, *, data: bytes = b"", headers: dict[str, str] | None = None,
         params: Any = None, service: str = "eks", region: str = "us-west-2", token: str | None = None) -> Wire:
    request = AWSRequest(method=method, url=url, data=data, headers=headers or {}, params=params or {})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET, token), service, region).add_auth(request)
    return wire_of(request.prepare())


def check(wire: Wire, *, secret: str = SECRET, now: datetime | None = None) -> SignedRequest:
    signed = parse_signature(wire.method, wire.raw_path, wire.raw_query, wire.headers)
    verify_signature(signed, method=wire.method, raw_path=wire.raw_path, raw_query=wire.raw_query,
                     headers=wire.headers, body=wire.body, secret_access_key=secret,
                     now=now or datetime.now(timezone.utc))
    return signed


def rejected(wire: Wire, **kwargs: Any) -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        check(wire, **kwargs)
    return caught.value


def assert_mismatch(wire: Wire, **kwargs: Any) -> None:
    error = rejected(wire, **kwargs)
    assert (error.code, error.message, error.status) == ("InvalidSignatureException", sigv4.SIGNATURE_MISMATCH, 403)


class _Sent(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def _stop_before_send(request: AWSPreparedRequest, **_: Any) -> None:
    raise _Sent(request)


@pytest.fixture
def eks() -> Iterator[Any]:
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
                                    region_name="us-west-2")
    client = session.client("eks", endpoint_url=EKS)
    client.meta.events.register("before-send", _stop_before_send)
    yield client


def sent(client: Any, operation: str, **params: Any) -> Wire:
    with pytest.raises(_Sent) as caught:
        getattr(client, operation)(**params)
    return wire_of(caught.value.request)


def eks_get_token(cluster: str, token: str | None = None) -> Wire:
    """Exactly what `aws eks get-token --cluster-name <cluster>` produces, decoded back to a request."""
    session = botocore.session.Session()
    session.set_credentials(ACCESS_KEY, SECRET, token)
    client = STSClientFactory(session).get_sts_client(region_name="us-east-1")
    encoded = TokenGenerator(client).get_token(cluster).removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parts = urlsplit(url)
    return Wire("GET", parts.path, parts.query, {"host": parts.netloc, "x-k8s-aws-id": cluster}, b"")


# --- accepted ---------------------------------------------------------------------------------------

def test_header_get_verifies_and_exposes_claims() -> None:
    signed = check(sign("GET", f"{EKS}/clusters"))
    assert (signed.access_key_id, signed.region, signed.service, signed.presigned) == (
        ACCESS_KEY, "us-west-2", "eks", False)
    assert signed.signed_headers == ("host", "x-amz-date")
    assert signed.timestamp.tzinfo is not None and signed.scope_date == signed.timestamp.strftime("%Y%m%d")


def test_real_client_post_with_json_body(eks: Any) -> None:
    wire = sent(eks, "create_access_entry", clusterName="prod", principalArn=ROLE_ARN, kubernetesGroups=["a b"])
    assert wire.method == "POST" and wire.body.startswith(b"{")
    check(wire)


def test_real_client_path_with_percent_encoded_arn(eks: Any) -> None:
    wire = sent(eks, "describe_access_entry", clusterName="prod", principalArn=ROLE_ARN)
    assert wire.raw_path == "/clusters/prod/access-entries/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev%20team"
    check(wire)
    reference = SigV4Auth(Credentials(ACCESS_KEY, SECRET), "eks", "us-west-2")._normalize_url_path(wire.raw_path)
    assert sigv4._canonical_uri(wire.raw_path) == reference  # encoded once more: %3A -> %253A
    assert "%253A" in reference


def test_real_client_repeated_query_keys(eks: Any) -> None:
    wire = sent(eks, "untag_resource", resourceArn="arn:aws:eks:us-west-2:1:cluster/c", tagKeys=["a", "b c", "d+e"])
    assert wire.raw_query == "tagKeys=a&tagKeys=b%20c&tagKeys=d%2Be"
    check(wire)


def test_query_with_repeated_keys_empty_values_and_reserved_characters() -> None:
    params = [("tagKeys", "b c"), ("tagKeys", "a"), ("empty", ""), ("odd key", "é/+=&?%"), ("~-_.", "*")]
    check(sign("GET", f"{EKS}/tags/x", params=params))


def test_raw_url_query_signed_verbatim_by_botocore() -> None:
    check(sign("GET", f"{EKS}/tags/x?tagKeys=a&tagKeys=b%20c&maxResults="))


def test_session_token_is_reported() -> None:
    signed = check(sign("GET", f"{EKS}/clusters", token="FQoGZXIvYXdzEXAMPLE"))
    assert signed.security_token == "FQoGZXIvYXdzEXAMPLE"
    assert "x-amz-security-token" in signed.signed_headers


def test_date_header_instead_of_x_amz_date() -> None:
    wire = sign("GET", f"{EKS}/clusters", headers={"Date": "placeholder"})
    assert "x-amz-date" not in wire.headers
    check(wire)


def test_truthful_content_sha256_header_is_used() -> None:
    check(sign("POST", f"{EKS}/clusters", data=b"{}", headers={"X-Amz-Content-SHA256": sigv4.hashlib.sha256(
        b"{}").hexdigest()}))


def test_sts_presigned_get_as_eks_get_token_makes_it() -> None:
    wire = eks_get_token("prod", token="SESSIONTOKEN")
    signed = check(wire)
    assert signed.presigned and signed.service == "sts" and signed.expires_in == 60
    assert signed.signed_headers == ("host", "x-k8s-aws-id") and signed.security_token == "SESSIONTOKEN"


def test_presigned_token_outlives_x_amz_expires_like_sts() -> None:
    """kubectl caches get-token output for 14 minutes although X-Amz-Expires is 60 seconds."""
    wire = eks_get_token("prod")
    check(wire, now=wire.timestamp + timedelta(minutes=14))


def test_sigv4_query_auth_presign() -> None:
    request = AWSRequest(method="GET", url=f"{EKS}/clusters", params={"maxResults": "5"})
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "eks", "us-west-2", expires=300).add_auth(request)
    assert check(wire_of(request.prepare())).expires_in == 300


def test_changing_an_unsigned_header_still_verifies() -> None:
    check(sign("GET", f"{EKS}/clusters").with_header("user-agent", "something else"))


@pytest.mark.parametrize(("service", "operation", "params"), [
    ("sts", "get_caller_identity", {}),
    ("iam", "get_user", {"UserName": "alice"}),
])
def test_real_query_protocol_clients(service: str, operation: str, params: dict[str, str]) -> None:
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
                                    region_name="us-east-1")
    client = session.client(service, endpoint_url="http://localhost:8443")
    client.meta.events.register("before-send", _stop_before_send)
    wire = sent(client, operation, **params)
    assert wire.method == "POST" and wire.body.startswith(b"Action=")
    assert check(wire).service == service


def test_scope_is_whatever_the_client_signed_for() -> None:
    signed = check(sign("POST", "https://sts.amazonaws.com/", data=b"Action=GetCallerIdentity",
                        service="sts", region="eu-central-1"))
    assert (signed.service, signed.region) == ("sts", "eu-central-1")


_text = st.text(st.characters(exclude_categories=("Cs",)))


@settings(max_examples=75, deadline=None)
@given(st.lists(st.tuples(_text, _text), max_size=6))
def test_any_query_botocore_signs_verifies(params: list[tuple[str, str]]) -> None:
    check(sign("GET", f"{EKS}/clusters", params=params))


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(_text.filter(lambda k: not k.startswith("X-Amz-")), _text, max_size=4))
def test_any_presigned_query_botocore_signs_verifies(params: dict[str, str]) -> None:
    request = AWSRequest(method="GET", url=f"{EKS}/clusters", params=params)
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "eks", "us-west-2").add_auth(request)
    check(wire_of(request.prepare()))


def test_s3_style_unsigned_payload_presign_of_an_empty_body() -> None:
    request = AWSRequest(method="GET", url=f"{EKS}/clusters")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "eks", "us-west-2").add_auth(request)
    check(wire_of(request.prepare()))


# --- tampering --------------------------------------------------------------------------------------

def test_changed_body(eks: Any) -> None:
    wire = sent(eks, "create_access_entry", clusterName="prod", principalArn=ROLE_ARN)
    tampered = wire.body.replace(b"dev team", b"dev-team")
    assert tampered != wire.body
    assert_mismatch(dataclasses.replace(wire, body=tampered))


def test_changed_path() -> None:
    assert_mismatch(dataclasses.replace(sign("GET", f"{EKS}/clusters/a"), raw_path="/clusters/b"))


def test_changed_query_param() -> None:
    wire = sign("GET", f"{EKS}/tags/x", params=[("tagKeys", "a"), ("tagKeys", "b")])
    assert_mismatch(dataclasses.replace(wire, raw_query="tagKeys=a&tagKeys=c"))
    assert_mismatch(dataclasses.replace(wire, raw_query=wire.raw_query + "&extra=1"))


def test_changed_signed_header() -> None:
    assert_mismatch(eks_get_token("prod").with_header("x-k8s-aws-id", "other-cluster"))
    assert_mismatch(sign("GET", f"{EKS}/clusters").with_header("host", "evil.example"))


def test_wrong_secret() -> None:
    assert_mismatch(sign("GET", f"{EKS}/clusters"), secret="not-the-secret")
    assert_mismatch(eks_get_token("prod"), secret="not-the-secret")


def test_scope_is_part_of_the_string_to_sign() -> None:
    wire = sign("GET", f"{EKS}/clusters")
    auth = wire.headers["authorization"]
    assert_mismatch(wire.with_header("authorization", auth.replace("/us-west-2/eks/", "/us-east-1/eks/")))
    assert_mismatch(wire.with_header("authorization", auth.replace("/us-west-2/eks/", "/us-west-2/iam/")))


def test_content_sha256_header_must_cover_the_body() -> None:
    unsigned = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    assert_mismatch(sign("POST", f"{EKS}/clusters", data=b"{}", headers=unsigned))
    assert_mismatch(sign("POST", f"{EKS}/clusters", data=b"{}", headers={"X-Amz-Content-SHA256": "0" * 64}))
    check(sign("GET", f"{EKS}/clusters", headers=unsigned))  # nothing left unauthenticated


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("wire_of_kind", [lambda: sign("GET", f"{EKS}/clusters"), lambda: eks_get_token("prod")])
def test_expired_signature(wire_of_kind: Any) -> None:
    wire = wire_of_kind()
    now = wire.timestamp + timedelta(minutes=15, seconds=1)
    error = rejected(wire, now=now)
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    assert error.message == (f"Signature expired: {_stamp(wire.timestamp)} is now earlier than "
                             f"{_stamp(now - timedelta(minutes=15))} ({_stamp(now)} - 15 min.)")
    check(wire, now=wire.timestamp + timedelta(minutes=15))


def test_signature_from_the_future() -> None:
    wire = sign("GET", f"{EKS}/clusters")
    now = wire.timestamp - timedelta(minutes=16)
    error = rejected(wire, now=now)
    assert error.message == (f"Signature not yet current: {_stamp(wire.timestamp)} is still later than "
                             f"{_stamp(now + timedelta(minutes=15))} ({_stamp(now)} + 15 min.)")


def test_scope_date_mismatch() -> None:
    wire = sign("GET", f"{EKS}/clusters")
    day = wire.timestamp.strftime("%Y%m%d")
    error = rejected(wire.with_header("authorization", wire.headers["authorization"].replace(day, "20200101")))
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    assert error.message == ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                             f"from HTTP: '20200101' != '{day}', from '{_stamp(wire.timestamp)}'.")


# --- malformed ---------------------------------------------------------------------------------------

def parse_error(headers: dict[str, str], raw_query: str = "") -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        parse_signature("GET", "/clusters", raw_query, {"host": "h", **headers})
    return caught.value


CRED = f"Credential={ACCESS_KEY}/20260101/us-west-2/eks/aws4_request"
DATE = {"x-amz-date": "20260101T000000Z"}


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer abc"}, {"authorization": ""}])
def test_missing_authentication(headers: dict[str, str]) -> None:
    error = parse_error(headers)
    assert (error.code, error.message, error.status) == (
        "MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    assert error.for_query_protocol().code == "MissingAuthenticationToken"


@pytest.mark.parametrize(("authorization", "extra", "message"), [
    ("AWS4-HMAC-SHA1 " + CRED, DATE, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'."),
    (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host", DATE,
     f"Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 {CRED}, "
     "SignedHeaders=host"),
    (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host, Signature=ab", {},
     "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
     f"Authorization=AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host, Signature=ab"),
    ("AWS4-HMAC-SHA256 FooBar, Signature=ab", DATE,
     "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization header: "
     "'AWS4-HMAC-SHA256 FooBar, Signature=ab'."),
    ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/eks, SignedHeaders=host, Signature=ab", DATE,
     "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
     "got 'AKID/20260101/us-west-2/eks'"),
    (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host, Signature=ab", {"x-amz-date": "2026-01-01T00:00:00Z"},
     "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"),
])
def test_incomplete_signature(authorization: str, extra: dict[str, str], message: str) -> None:
    error = parse_error({"authorization": authorization, **extra})
    assert (error.code, error.message, error.status) == ("IncompleteSignatureException", message, 400)
    assert error.for_query_protocol().code == "IncompleteSignature"


@pytest.mark.parametrize(("authorization", "message"), [
    (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=x-amz-date, Signature=ab",
     "'Host' must be a 'SignedHeader' in the AWS Authorization."),
    ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/eks/aws5_request, SignedHeaders=host, Signature=ab",
     "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."),
])
def test_invalid_signature_claims(authorization: str, message: str) -> None:
    error = parse_error({"authorization": authorization, **DATE})
    assert (error.code, error.message, error.status) == ("InvalidSignatureException", message, 403)
    assert error.for_query_protocol().code == "SignatureDoesNotMatch"


def test_presigned_and_header_together() -> None:
    wire = eks_get_token("prod")
    error = parse_error({"authorization": "AWS4-HMAC-SHA256 x"}, wire.raw_query)
    assert error.code == "InvalidSignatureException" and "Found both" in error.message


def test_presigned_missing_parameters() -> None:
    error = parse_error({}, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z")
    assert (error.code, error.status) == ("IncompleteSignatureException", 400)
    assert error.message == ("AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string "
                             "parameters must include 'X-Amz-Signature'. AWS query-string parameters must include "
                             "'X-Amz-SignedHeaders'. Re-examine the query-string parameters.")


@pytest.mark.parametrize("expires", ["0", "604801", "-5", "soon"])
def test_presigned_expires_out_of_range(expires: str) -> None:
    query = eks_get_token("prod").raw_query.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
    assert parse_error({"x-k8s-aws-id": "prod"}, query).code == "IncompleteSignatureException"


def test_presigned_duplicate_signature_rejected() -> None:
    wire = eks_get_token("prod")
    assert parse_error({}, wire.raw_query + "&X-Amz-Signature=00").code == "IncompleteSignatureException"


# --- presigned expiry, credential scope, hostile claims (security review findings 10 and 11) --------

def _presigned_eks(expires: int) -> Wire:
    request = AWSRequest(method="GET", url=f"{EKS}/clusters")
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "eks", "us-west-2", expires=expires).add_auth(request)
    return wire_of(request.prepare())


def test_presigned_url_is_refused_after_x_amz_expires() -> None:
    wire = _presigned_eks(300)
    check(wire, now=wire.timestamp + timedelta(seconds=300))  # inclusive, like the clock check
    now = wire.timestamp + timedelta(seconds=301)
    error = rejected(wire, now=now)
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    assert error.message == (f"Signature expired: {_stamp(wire.timestamp)} is now earlier than "
                             f"{_stamp(now - timedelta(seconds=300))} ({_stamp(now)} - 300 sec.)")
    assert error.for_query_protocol().code == "SignatureDoesNotMatch"


def test_sts_presigned_url_ignores_x_amz_expires_but_not_the_clock() -> None:
    wire = eks_get_token("prod")  # X-Amz-Expires=60
    check(wire, now=wire.timestamp + timedelta(minutes=15))
    assert rejected(wire, now=wire.timestamp + timedelta(minutes=15, seconds=1)).message.startswith("Signature expired")


@pytest.mark.parametrize("expires", ["9" * 5000, "0" * 5000 + "60", "1" + "0" * 4400])
def test_absurdly_long_x_amz_expires_is_a_clean_error(expires: str) -> None:
    query = eks_get_token("prod").raw_query.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
    if expires.startswith("0"):
        assert parse_signature("GET", "/", query, {"host": "h"}).expires_in == 60
    else:
        error = parse_error({"x-k8s-aws-id": "prod"}, query)
        assert error.code == "IncompleteSignatureException" and len(error.message) < 200


@pytest.mark.parametrize(("region", "service", "message"), [
    ("us-west-2", "eks", None),
    ("eu-west-1", "eks", "Credential should be scoped to a valid region, not 'eu-west-1'."),
    ("us-west-2", "iam", "Credential should be scoped to correct service: 'eks'."),
    ("eu-west-1", "sts", "Credential should be scoped to a valid region, not 'eu-west-1'. "
                         "Credential should be scoped to correct service: 'eks'."),
])
def test_check_scope(region: str, service: str, message: str | None) -> None:
    signed = check(sign("GET", f"{EKS}/clusters", service=service, region=region))
    if message is None:
        sigv4.check_scope(signed, service="eks", regions=("us-west-2",))
        return
    with pytest.raises(SigV4Error) as caught:
        sigv4.check_scope(signed, service="eks", regions=("us-west-2",))
    assert (caught.value.code, caught.value.status, caught.value.message) == ("InvalidSignatureException", 403, message)
    presigned = _presigned_eks(60)  # the presigned form says the same
    with pytest.raises(SigV4Error) as caught:
        sigv4.check_scope(check(presigned), service="eks", regions=("eu-central-1",))
    assert caught.value.message == "Credential should be scoped to a valid region, not 'us-west-2'."


@pytest.mark.parametrize("credential", ["%FF%FE/20200101/us-east-1/eks/aws4_request",
                                        "AKIA%00/20200101/us-east-1/eks/aws4_request"])
def test_undecodable_access_key_is_an_unknown_key(credential: str) -> None:
    query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date=20200101T000000Z"
             "&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
    error = parse_error({}, query)
    assert (error.code, error.status, error.message) == ("UnrecognizedClientException", 403, sigv4.INVALID_TOKEN)


def test_undecodable_bytes_are_shown_printable() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA/20200101/us-east-1/eks/%FF"
             "&X-Amz-Date=20200101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
    error = parse_error({}, query)
    assert error.message.endswith("not '\ufffd'.") and error.message.encode("utf-8")


_wire_text = st.text(st.characters(codec="latin-1"), max_size=80)
_auth_header = st.one_of(_wire_text, st.builds(
    lambda c, s, g: f"AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={s}, Signature={g}", _wire_text, _wire_text,
    _wire_text))
_query_value = st.one_of(st.text(max_size=40), st.sampled_from(["%FF", "%ED%A0%80", "%", "9" * 5000, "0" * 4400 + "1"]))


@settings(max_examples=300, deadline=None)
@given(authorization=st.one_of(st.none(), _auth_header), date=st.one_of(st.none(), _wire_text),
       amz_date=st.one_of(st.none(), _wire_text, st.just("20260101T000000Z")),
       token=st.one_of(st.none(), _wire_text),
       query=st.dictionaries(st.sampled_from(["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                              "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
                                              "Action"]), _query_value, max_size=8))
def test_hostile_claims_fail_only_as_sigv4_errors(authorization: str | None, date: str | None, amz_date: str | None,
                                                 token: str | None, query: dict[str, str]) -> None:
    """Whatever arrives before authentication: a SigV4Error (an AWS error on the wire), never another exception."""
    headers = {name: value for name, value in (("authorization", authorization), ("date", date),
                                               ("x-amz-date", amz_date), ("x-amz-security-token", token),
                                               ("host", "h")) if value is not None}
    raw_query = "&".join(f"{name}={value}" for name, value in query.items())
    try:
        signed = parse_signature("GET", "/clusters", raw_query, headers)
        sigv4.check_scope(signed, service="eks", regions=("us-east-1",))
        verify_signature(signed, method="GET", raw_path="/clusters", raw_query=raw_query, headers=headers, body=b"",
                         secret_access_key=SECRET, now=datetime.now(timezone.utc))
    except SigV4Error as error:
        assert error.message.encode("utf-8") and 400 <= error.status < 500
