"""The management endpoint against an attacker (security review findings 9-11, 12's files, 13).

Everything here is sent as an attacker would send it: boto3, botocore's signers and raw
HTTPS (or raw TLS) to a real `kubegate up`. The server's log must never gain a stack trace
from any of it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import botocore.auth
import httpx
import pytest
import yaml
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import BIN, Server, ensure_role

READ_TIMEOUT = 2.0  # the hardened server's --request-read-timeout
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    instance = Server(tmp_path_factory.mktemp("hardened") / "data",
                      extra_args=("--request-read-timeout", str(READ_TIMEOUT)))
    instance.start()
    yield instance
    if instance.process is not None:
        instance.stop()


@contextmanager
def no_trace_logged(server: Server) -> Iterator[None]:
    before = len(server.log())
    yield
    time.sleep(0.2)  # the log line of the last request
    assert "Traceback" not in server.log()[before:], server.log()[before:]


def client(server: Server, service: str, region: str = "us-east-1", key: tuple[str, str] | None = None) -> Any:
    access_key, secret = key or server.credentials()
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region, aws_access_key_id=access_key,
                        aws_secret_access_key=secret, verify=server.ca, config=Config(retries={"max_attempts": 1}))


def send(server: Server, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
         service: str | None = "eks", region: str = "us-east-1", key: tuple[str, str] | None = None) -> httpx.Response:
    """One request as botocore signs it (service None: unsigned), sent as is."""
    request = AWSRequest(method=method, url=server.endpoint + path, data=body, headers=headers or {})
    if service is not None:
        SigV4Auth(Credentials(*(key or server.credentials())), service, region).add_auth(request)
    prepared = request.prepare()
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as http:
        return http.request(method, prepared.url, content=body, headers=dict(prepared.headers.items()))


def presign(server: Server, path: str, monkeypatch: pytest.MonkeyPatch, *, service: str, expires: int,
            age: dt.timedelta, params: dict[str, str] | None = None, region: str = "us-east-1") -> httpx.Response:
    """GET a URL presigned `age` ago for `expires` seconds."""
    signed_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - age
    with monkeypatch.context() as patch:
        patch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
        request = AWSRequest(method="GET", url=server.endpoint + path, params=params or {})
        SigV4QueryAuth(Credentials(*server.credentials()), service, region, expires=expires).add_auth(request)
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as http:
        return http.get(request.prepare().url)


def eks_error(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers["x-amzn-ErrorType"].split(":")[0], response.json()["message"]


def tls(server: Server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=server.ca)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5),
                               server_hostname="127.0.0.1")


def raw_exchange(server: Server, data: bytes) -> bytes:
    with tls(server) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


# --- finding 9: explain and who-can show only what the EKS API would ------------------------------------

@pytest.fixture(scope="module")
def insight(hard: Server) -> dict[str, Any]:
    eks = client(hard, "eks")
    eks.create_cluster(name="ins", roleArn=ensure_role(hard, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    entries = {}
    for name in ("ins-a", "ins-b"):
        role = ensure_role(hard, name)
        entry = eks.create_access_entry(clusterName="ins", principalArn=role, username=f"user-{name}",
                                        kubernetesGroups=[f"group-{name}"])["accessEntry"]
        eks.associate_access_policy(clusterName="ins", principalArn=role, policyArn=VIEW,
                                    accessScope={"type": "cluster"})
        entries[name] = {"role": role, "entry_arn": entry["accessEntryArn"]}
    iam = client(hard, "iam")
    iam.create_user(UserName="peek")
    key = iam.create_access_key(UserName="peek")["AccessKey"]
    cluster_arn = eks.describe_cluster(name="ins")["cluster"]["arn"]
    return {"entries": entries, "key": (key["AccessKeyId"], key["SecretAccessKey"]), "cluster_arn": cluster_arn}


def allow(server: Server, statements: list[dict[str, Any]]) -> None:
    client(server, "iam").put_user_policy(UserName="peek", PolicyName="insight", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]}))


def explain(server: Server, key: tuple[str, str], principal: str) -> httpx.Response:
    query = urlencode({"principalArn": principal, "verb": "get", "resource": "pods", "namespace": "ns-ins-a"})
    return send(server, "GET", f"/kubegate/clusters/ins/explain?{query}", key=key)


def who_can(server: Server, key: tuple[str, str]) -> httpx.Response:
    return send(server, "GET", "/kubegate/clusters/ins/who-can?verb=get&resource=pods&namespace=ns-ins-a", key=key)


def test_explain_requires_reading_the_principals_entry(hard: Server, insight: dict[str, Any]) -> None:
    a, b = insight["entries"]["ins-a"], insight["entries"]["ins-b"]
    allow(hard, [{"Action": "eks:ListAccessEntries", "Resource": insight["cluster_arn"]}])
    refused = explain(hard, insight["key"], a["role"])
    assert refused.status_code == 403 and refused.json()["code"] == "AccessDeniedException"
    assert "eks:DescribeAccessEntry" in refused.json()["message"] and "user-ins-a" not in refused.text
    allow(hard, [{"Action": "eks:ListAccessEntries", "Resource": insight["cluster_arn"]},
                 {"Action": "eks:DescribeAccessEntry", "Resource": a["entry_arn"]}])
    assert explain(hard, insight["key"], a["role"]).status_code == 403  # the policies are a second read
    allow(hard, [{"Action": "eks:ListAccessEntries", "Resource": insight["cluster_arn"]},
                 {"Action": ["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"],
                  "Resource": a["entry_arn"]}])
    answer = explain(hard, insight["key"], a["role"])
    assert answer.status_code == 200 and answer.json()["username"] == "user-ins-a" and answer.json()["allowed"]
    other = explain(hard, insight["key"], b["role"])
    assert other.status_code == 403 and "user-ins-b" not in other.text
    allow(hard, [{"Action": ["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"],
                  "Resource": a["entry_arn"]}])
    assert explain(hard, insight["key"], a["role"]).status_code == 403  # and ListAccessEntries on the cluster


def test_who_can_withholds_entries_the_caller_may_not_read(hard: Server, insight: dict[str, Any]) -> None:
    a, b = insight["entries"]["ins-a"], insight["entries"]["ins-b"]
    everything = send(hard, "GET", "/kubegate/clusters/ins/who-can?verb=get&resource=pods").json()  # as the root
    assert {h["principalArn"] for h in everything["holders"]} == {a["role"], b["role"]}
    assert everything["withheld"] == 0
    allow(hard, [{"Action": "eks:ListAccessEntries", "Resource": insight["cluster_arn"]}])
    nothing = send(hard, "GET", "/kubegate/clusters/ins/who-can?verb=get&resource=pods", key=insight["key"])
    assert nothing.status_code == 200 and nothing.json()["holders"] == [] and nothing.json()["withheld"] == 2
    assert "ins-a" not in nothing.text and "ins-b" not in nothing.text
    allow(hard, [{"Action": "eks:ListAccessEntries", "Resource": insight["cluster_arn"]},
                 {"Action": ["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"],
                  "Resource": a["entry_arn"]},
                 {"Action": "eks:DescribeAccessEntry", "Resource": b["entry_arn"]}])  # b: only half of it
    some = send(hard, "GET", "/kubegate/clusters/ins/who-can?verb=get&resource=pods", key=insight["key"]).json()
    assert [h["principalArn"] for h in some["holders"]] == [a["role"]] and some["withheld"] == 1
    assert "ins-b" not in json.dumps(some)


@pytest.mark.parametrize(("service", "region", "message"), [
    ("iam", "us-east-1", "Credential should be scoped to correct service: 'eks'."),
    ("sts", "us-east-1", "Credential should be scoped to correct service: 'eks'."),
    ("eks", "eu-west-1", "Credential should be scoped to a valid region, not 'eu-west-1'."),
])
def test_insight_requires_an_eks_signature_for_kubegates_region(hard: Server, insight: dict[str, Any], service: str,
                                                               region: str, message: str) -> None:
    for path in ("/kubegate/clusters/ins/who-can?verb=get&resource=pods",
                 "/kubegate/clusters/ins/explain?verb=get&resource=pods&"
                 + urlencode({"principalArn": insight["entries"]["ins-a"]["role"]})):
        refused = send(hard, "GET", path, service=service, region=region)
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"code": "InvalidSignatureException", "message": message}


def test_insight_body_over_one_mib_is_refused_cleanly(hard: Server, insight: dict[str, Any]) -> None:
    with no_trace_logged(hard):
        for path in ("/kubegate/clusters/ins/who-can?verb=get&resource=pods", "/kubegate/clusters/ins/explain"):
            response = send(hard, "GET", path, body=b"x" * (1024 * 1024 + 1))
            assert response.status_code == 413 and "exceeds" in response.json()["message"]


# --- finding 10: SigV4 as AWS checks it ---------------------------------------------------------------

def test_presigned_management_call_expires(hard: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    two_minutes = dt.timedelta(minutes=2)
    fresh = presign(hard, "/clusters", monkeypatch, service="eks", expires=300, age=two_minutes)
    assert fresh.status_code == 200, fresh.text
    stale = presign(hard, "/clusters", monkeypatch, service="eks", expires=60, age=two_minutes)
    status, code, message = eks_error(stale)
    assert (status, code) == (403, "InvalidSignatureException") and message.startswith("Signature expired:")
    assert message.endswith("- 60 sec.)")
    iam = presign(hard, "/", monkeypatch, service="iam", expires=60, age=two_minutes,
                  params={"Action": "ListUsers", "Version": "2010-05-08"})
    assert iam.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in iam.content
    assert b"Signature expired:" in iam.content


def test_presigned_sts_get_caller_identity_outlives_x_amz_expires(hard: Server,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """As AWS's STS: `aws eks get-token` presigns for 60 seconds, kubectl uses the token for 14 minutes."""
    response = presign(hard, "/", monkeypatch, service="sts", expires=60, age=dt.timedelta(minutes=10),
                       params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert response.status_code == 200 and b"<Arn>arn:aws:iam::" in response.content


def test_credential_scope_region_must_be_kubegates(hard: Server) -> None:
    with pytest.raises(ClientError) as caught:
        client(hard, "eks", "us-west-2").list_clusters()
    error = caught.value.response
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert error["Error"]["Message"] == "Credential should be scoped to a valid region, not 'us-west-2'."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    for service, call in (("sts", "get_caller_identity"), ("iam", "list_users")):
        with pytest.raises(ClientError) as caught:
            getattr(client(hard, service, "eu-west-1"), call)()
        assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        assert caught.value.response["Error"]["Message"] == "Credential should be scoped to a valid region, not 'eu-west-1'."
    client(hard, "eks").list_clusters()
    client(hard, "iam").list_users()
    client(hard, "sts").get_caller_identity()


def test_the_path_picks_the_api_not_the_scope(hard: Server) -> None:
    iam = client(hard, "iam")
    create_user = "Action=CreateUser&Version=2010-05-08&UserName="
    # An IAM-signed call on EKS's path: EKS answers (in its format) and no IAM handler runs.
    on_query = send(hard, "POST", f"/clusters?{create_user}via-query", service="iam")
    on_form = send(hard, "POST", "/clusters", body=f"{create_user}via-form".encode(), service="iam",
                   headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    for response in (on_query, on_form):
        assert eks_error(response) == (403, "InvalidSignatureException",
                                       "Credential should be scoped to correct service: 'eks'.")
    # An EKS-signed query-protocol call: the query protocol answers, and refuses.
    on_root = send(hard, "POST", "/", body=f"{create_user}via-root".encode(), service="eks",
                   headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert on_root.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in on_root.content
    for name in ("via-query", "via-form", "via-root"):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=name)
    # An STS-signed CreateUser is STS's to refuse: it has no such operation.
    on_sts = send(hard, "POST", "/", body=f"{create_user}via-sts".encode(), service="sts",
                  headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert on_sts.status_code == 400 and b"InvalidAction" in on_sts.content


def test_a_server_in_another_region(tmp_path: Path) -> None:
    """EKS and STS signed for the data dir's region; IAM for us-east-1 or (SDKs sent to a custom endpoint) it;
    tokens from `kubegate token` and `aws eks get-token` still verify through the embedded STS."""
    server = Server(tmp_path / "data", extra_args=("--region", "eu-west-1"))
    server.start()
    try:
        eks = client(server, "eks", "eu-west-1")
        eks.create_cluster(name="west", roleArn=ensure_role_in(server, "eu-west-1"),
                           resourcesVpcConfig={"subnetIds": ["s"]})
        client(server, "iam", "eu-west-1").list_users()
        client(server, "iam", "us-east-1").list_users()
        client(server, "sts", "eu-west-1").get_caller_identity()
        for service, call in (("eks", "list_clusters"), ("sts", "get_caller_identity")):
            with pytest.raises(ClientError) as caught:
                getattr(client(server, service, "us-east-1"), call)()
            assert "Credential should be scoped to a valid region, not 'us-east-1'." in str(caught.value)
        out = tmp_path / "webhook"
        subprocess.run([str(BIN / "kubegate"), "webhook-config", "--data-dir", str(server.data_dir), "--cluster", "west",
                        "--out", str(out)], check=True, capture_output=True)
        review = reviewer(out / "authn.kubeconfig")
        env = server.cli_env()
        token = json.loads(subprocess.run([str(BIN / "kubegate"), "token", "--cluster", "west"], env=env, check=True,
                                          capture_output=True, text=True).stdout)["status"]["token"]
        assert review(token)["authenticated"] is True
        aws = subprocess.run([str(BIN / "aws"), "eks", "get-token", "--cluster-name", "west", "--output", "json"],
                             env={**env, "AWS_ENDPOINT_URL_STS": server.endpoint}, capture_output=True, text=True)
        assert aws.returncode == 0, aws.stderr
        assert review(json.loads(aws.stdout)["status"]["token"])["authenticated"] is True
    finally:
        server.stop()


def ensure_role_in(server: Server, region: str) -> str:
    iam = client(server, "iam", region)
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                   "Principal": {"Service": "eks.amazonaws.com"}}]})
    return str(iam.create_role(RoleName="eks", AssumeRolePolicyDocument=document)["Role"]["Arn"])


def reviewer(kubeconfig: Path) -> Any:
    """POST a TokenReview with the webhook kubeconfig's client certificate; return its status."""
    import base64

    config = yaml.safe_load(kubeconfig.read_text())
    user = config["users"][0]["user"]
    directory = Path(tempfile.mkdtemp())
    (directory / "c.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
    (directory / "c.key").write_bytes(base64.b64decode(user["client-key-data"]))
    (directory / "ca.crt").write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    context.load_cert_chain(str(directory / "c.crt"), str(directory / "c.key"))
    url = config["clusters"][0]["cluster"]["server"]

    def review(token: str) -> dict[str, Any]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        with httpx.Client(verify=context) as http:
            response = http.post(url, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json()["status"])

    return review


# --- finding 11: malformed input gets a 4xx, never a 500 or a trace -------------------------------------

def test_absurd_x_amz_expires(hard: Server) -> None:
    with no_trace_logged(hard):
        for expires in ("9" * 5000, "0" * 5000 + "60"):
            query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fus-east-1"
                     "%2Feks%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host"
                     f"&X-Amz-Signature=00&X-Amz-Expires={expires}")
            response = send(hard, "GET", f"/clusters?{query}", service=None)
            assert 400 <= response.status_code < 500, response.text
            assert response.headers["x-amzn-ErrorType"].split(":")[0] in (
                "IncompleteSignatureException", "InvalidSignatureException", "UnrecognizedClientException")


@pytest.mark.parametrize("credential", ["%FF%FE%2F20260101%2Fus-east-1%2Feks%2Faws4_request",
                                        "AKIA%ED%A0%80%2F20260101%2Fus-east-1%2Feks%2Faws4_request"])
def test_undecodable_access_key(hard: Server, credential: str) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={now}"
             "&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60")
    with no_trace_logged(hard):
        response = send(hard, "GET", f"/clusters?{query}", service=None)
        assert eks_error(response)[:2] == (403, "UnrecognizedClientException")
        token = send(hard, "GET", f"/clusters?{query.replace('%FF%FE', 'ASIAEXAMPLE')}&X-Amz-Security-Token=%FF",
                     service=None)
        assert token.status_code == 403


def test_hostile_host_header(hard: Server) -> None:
    with no_trace_logged(hard):
        for host in (b"[", b"[::1", b"a b"):
            answer = raw_exchange(hard, b"GET /clusters HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
            assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 403 Forbidden", b"HTTP/1.1 400 Bad Request"), answer


def test_management_body_over_one_mib(hard: Server) -> None:
    with no_trace_logged(hard):
        response = send(hard, "POST", "/", body=b"Action=ListUsers&" + b"x" * (1024 * 1024), service=None,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 413 and b"RequestEntityTooLarge" in response.content


# --- finding 12 (files): the data dir and the database are the owner's only ------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_database_are_private(hard: Server) -> None:
    assert mode(hard.data_dir) == 0o700
    database = hard.data_dir / "kubegate.db"
    assert mode(database) == 0o600
    for side in hard.data_dir.glob("kubegate.db-*"):
        assert mode(side) == 0o600, side
    for name in ("ca.key", "server.key", "secret.key", "credentials"):
        assert mode(hard.data_dir / name) == 0o600


def test_an_existing_loose_data_dir_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir)
    server.start()
    server.stop()
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "kubegate.db", 0o644)
    server.start()
    try:
        assert mode(data_dir) == 0o700 and mode(data_dir / "kubegate.db") == 0o600
        assert "was mode 0755; tightened to 0700" in server.log()
        assert "kubegate.db was mode 0644; tightened to 0600" in server.log()
    finally:
        server.stop()


# --- finding 13: slow clients cannot hold a connection ----------------------------------------------------

def closes_within(sock: ssl.SSLSocket, seconds: float, trickle: bytes = b"") -> tuple[bool, bytes]:
    """Whether the server closed the connection within `seconds` while we trickled a byte every 0.2 s."""
    deadline = time.monotonic() + seconds
    received = b""
    sock.setblocking(False)
    while time.monotonic() < deadline:
        if trickle:
            try:
                sock.send(trickle)
            except (ssl.SSLWantWriteError, BlockingIOError):
                pass
            except OSError:
                return True, received
        readable, _, _ = select.select([sock], [], [], 0.2)
        if not readable:
            continue
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            continue
        except OSError:
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received


BOUND = READ_TIMEOUT + 10  # generous: this is about "closed at all", not about timing


def test_a_trickled_body_is_cut_off(hard: Server) -> None:
    with no_trace_logged(hard):
        for method, path in ((b"POST", b"/clusters"), (b"POST", b"/k8s/clusters/ins/authenticate"),
                             (b"GET", b"/kubegate/clusters/ins/who-can")):
            with tls(hard) as sock:
                sock.sendall(method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
                closed, answer = closes_within(sock, BOUND, trickle=b" ")
            assert closed and answer.startswith(b"HTTP/1.1 408 "), (path, answer)


def test_trickled_headers_and_an_idle_connection_are_cut_off(hard: Server) -> None:
    with tls(hard) as sock:
        sock.sendall(b"GET /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed, answer = closes_within(sock, BOUND, trickle=b"a")
        assert closed and answer.startswith(b"HTTP/1.1 408 ")
    with tls(hard) as sock:  # connects, then says nothing
        assert closes_within(sock, BOUND)[0]


def test_a_normal_client_is_not_cut_off(hard: Server) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=hard.ca)) as http:
        for _ in range(3):  # one connection, kept alive across requests spaced under the keep-alive limit
            assert http.get(hard.endpoint + "/healthz").status_code == 200
            time.sleep(READ_TIMEOUT / 2)


def test_oversized_headers_are_refused(hard: Server) -> None:
    with no_trace_logged(hard):
        answer = raw_exchange(hard, b"GET /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(80)) + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 400 ")
