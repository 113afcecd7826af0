"""Requests no SDK would send: unsigned, badly signed, stale, oversized, malformed.

Each must get an AWS error code and message in the EKS wire format, never a trace.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Server


def send(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    key: tuple[str, str] | None = None,
    signed: bool = True,
    at: dt.datetime | None = None,
    service: str = "eks",
    token: str | None = None,
    tamper: dict[str, str] | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> httpx.Response:
    url = server.endpoint + path
    headers = {"Content-Type": "application/json"}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    if signed:
        access_key, secret = key or server.credentials()
        if at is not None:
            assert monkeypatch is not None
            monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
        SigV4Auth(Credentials(access_key, secret, token), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    sent_headers = dict(prepared.headers.items())
    sent_headers.update(tamper or {})
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as client:
        return client.request(method, prepared.url, content=body, headers=sent_headers)


def code(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers["x-amzn-ErrorType"].split(":")[0], response.json()["message"]


def test_signed_request_is_served(server: Server) -> None:
    response = send(server, "GET", "/clusters")
    assert response.status_code == 200 and "clusters" in response.json()


def test_unsigned_request(server: Server) -> None:
    assert code(send(server, "GET", "/clusters", signed=False)) == (
        403, "MissingAuthenticationTokenException", "Missing Authentication Token"
    )


def test_unknown_access_key(server: Server) -> None:
    status, error, message = code(send(server, "GET", "/clusters", key=("AKIAUNKNOWNUNKNOWN12", "x" * 40)))
    assert (status, error) == (403, "UnrecognizedClientException")
    assert message == "The security token included in the request is invalid."


def test_wrong_secret(server: Server) -> None:
    access_key, _ = server.credentials()
    status, error, message = code(send(server, "GET", "/clusters", key=(access_key, "wrong" * 8)))
    assert (status, error) == (403, "InvalidSignatureException")
    assert message.startswith("The request signature we calculated does not match the signature you provided.")


def test_tampered_body(server: Server) -> None:
    body = json.dumps({"name": "tamper", "roleArn": "arn:aws:iam::111122223333:role/x",
                       "resourcesVpcConfig": {"subnetIds": ["s"]}}).encode()
    request = AWSRequest(method="POST", url=server.endpoint + "/clusters", data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(*server.credentials()), "eks", "us-east-1").add_auth(request)
    prepared = request.prepare()
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as client:
        response = client.post(prepared.url, content=body.replace(b"tamper", b"evil!!"), headers=dict(prepared.headers.items()))
    assert code(response)[:2] == (403, "InvalidSignatureException")


@pytest.mark.parametrize("minutes", [-16, 16])
def test_stale_or_future_date(server: Server, monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    status, error, message = code(send(server, "GET", "/clusters", at=when, monkeypatch=monkeypatch))
    assert (status, error) == (403, "InvalidSignatureException")
    assert message.startswith("Signature expired:" if minutes < 0 else "Signature not yet current:")


def test_date_inside_window_is_accepted(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=10)
    assert send(server, "GET", "/clusters", at=when, monkeypatch=monkeypatch).status_code == 200


def test_session_token_for_a_long_term_key(server: Server) -> None:
    assert code(send(server, "GET", "/clusters", token="not-a-session"))[:2] == (403, "UnrecognizedClientException")


def test_malformed_authorization_header(server: Server) -> None:
    response = send(server, "GET", "/clusters", signed=False, tamper={"Authorization": "AWS4-HMAC-SHA256 garbage"})
    assert response.status_code in (400, 403)
    assert response.headers["x-amzn-ErrorType"].startswith("IncompleteSignatureException")


def test_body_over_one_mib(server: Server) -> None:
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    status, error, message = code(send(server, "POST", "/clusters", body))
    assert status == 400 and "exceeds" in message


def test_malformed_json(server: Server) -> None:
    status, error, message = code(send(server, "POST", "/clusters", b'{"name": "dev",'))
    assert status == 400 and error in ("SerializationException", "BadRequestException") and message


def test_json_that_is_not_an_object(server: Server) -> None:
    assert code(send(server, "POST", "/clusters", b"[1, 2]"))[0] == 400


def test_unknown_operation(server: Server) -> None:
    status, error, _ = code(send(server, "GET", "/no-such-thing"))
    assert (status, error) == (404, "UnknownOperationException")


def test_model_operation_kubegate_does_not_serve(server: Server) -> None:
    status, error, message = code(send(server, "GET", "/addons/supported-versions"))
    assert status == 400 and error == "InvalidRequestException" and "DescribeAddonVersions" in message


def test_missing_required_member(server: Server) -> None:
    status, error, message = code(send(server, "POST", "/clusters", b'{"name": "x"}'))
    assert (status, error) == (400, "InvalidParameterException")
    assert "roleArn" in message and "resourcesVpcConfig" in message


def test_percent_encoded_arn_in_path_is_decoded(server: Server, eks: Any) -> None:
    eks.create_cluster(name="enc", roleArn="arn:aws:iam::111122223333:role/eks",
                       resourcesVpcConfig={"subnetIds": ["s"]}, accessConfig={"authenticationMode": "API"})
    try:
        principal = "arn:aws:iam::111122223333:role/with/path/dev"
        eks.create_access_entry(clusterName="enc", principalArn=principal)
        from urllib.parse import quote

        response = send(server, "GET", f"/clusters/enc/access-entries/{quote(principal, safe='')}")
        assert response.status_code == 200
        assert response.json()["accessEntry"]["principalArn"] == principal
    finally:
        eks.delete_cluster(name="enc")
