"""IAM OpenID Connect providers and STS AssumeRoleWithWebIdentity, with boto3, the AWS CLI and
botocore's own web-identity credential provider, and ID tokens minted by a real OpenID provider
(tests/oidc_provider.py) that kubegate trusts through `kubegate up --oidc-ca-file`.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, Server

THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
SUBJECT = "system:serviceaccount:apps:billing"


@pytest.fixture(scope="module")
def kg(oidc_kubegate: Server) -> Server:
    return oidc_kubegate


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def provider_name(issuer: str) -> str:
    return issuer.removeprefix("https://")


@pytest.fixture(scope="module")
def registered(kg: Server, oidc_provider: Any) -> str:
    """The test provider, registered in kubegate's IAM for the audience sts.amazonaws.com."""
    iam = kg.client("iam")
    return str(iam.create_open_id_connect_provider(
        Url=oidc_provider.issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=[THUMBPRINT],
    )["OpenIDConnectProviderArn"])


def web_identity_role(kg: Server, name: str, provider_arn: str, subject: str = SUBJECT, **extra: Any) -> str:
    url = provider_arn.split(":oidc-provider/", 1)[1]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{url}:sub": subject, f"{url}:aud": "sts.amazonaws.com"}},
    }]}
    iam = kg.client("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)["Role"]["Arn"])
    iam.put_role_policy(RoleName=name, PolicyName="eks", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["eks:ListClusters", "eks:DescribeCluster"], "Resource": "*"}],
    }))
    return arn


def unsigned_sts(kg: Server) -> Any:
    """An STS client that could not sign if it wanted to: AssumeRoleWithWebIdentity needs no keys."""
    return boto3.client("sts", endpoint_url=kg.endpoint, region_name="us-east-1", verify=kg.ca,
                        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))


# ---------------------------------------------------------------- IAM OIDC providers


def test_oidc_provider_operations_with_boto3(kg: Server) -> None:
    iam = kg.client("iam")
    acct = kg.account()
    created = iam.create_open_id_connect_provider(
        Url="https://idp.example.com:8443/realms/dev", ClientIDList=["a", "b", "a"], ThumbprintList=[THUMBPRINT],
        Tags=[{"Key": "team", "Value": "platform"}],
    )
    arn = created["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{acct}:oidc-provider/idp.example.com:8443/realms/dev"
    assert created["Tags"] == [{"Key": "team", "Value": "platform"}]

    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == "idp.example.com:8443/realms/dev"
    assert got["ClientIDList"] == ["a", "b"]
    assert got["ThumbprintList"] == [THUMBPRINT]
    assert got["Tags"] == [{"Key": "team", "Value": "platform"}]
    assert got["CreateDate"]
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="c")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="a")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="never-there")
    other = "f" * 40
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[other])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["ClientIDList"], got["ThumbprintList"]) == (["b", "c"], [other])

    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["team"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}]

    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://idp.example.com:8443/realms/dev", ClientIDList=["x"])
    assert code_of(exc) == "EntityAlreadyExists"
    for bad in ("http://idp.example.com", "https://user@idp.example.com", "https://idp.example.com/?q=1",
                "https://idp.example.com#frag", "idp.example.com", "https://:443", "https://idp.example.com:99999"):
        with pytest.raises(ClientError) as exc:
            iam.create_open_id_connect_provider(Url=bad, ClientIDList=["x"])
        assert code_of(exc) == "InvalidInput", bad
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://many.example.com", ClientIDList=[str(i) for i in range(101)])
    assert code_of(exc) == "LimitExceeded"
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://bad-thumb.example.com", ThumbprintList=["z" * 40])
    assert code_of(exc) == "InvalidInput"

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    for call in (lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
                 lambda: iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn),
                 lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="x"),
                 lambda: iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn),
                 lambda: iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                          Tags=[{"Key": "k", "Value": "v"}])):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "NoSuchEntity"
    assert {"Arn": arn} not in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    # the tags went with it: a re-created provider has none
    again = iam.create_open_id_connect_provider(Url="https://idp.example.com:8443/realms/dev", ClientIDList=["a"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=again["OpenIDConnectProviderArn"])[
        "Tags"] == []
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=again["OpenIDConnectProviderArn"])


def aws(kg: Server, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Any:
    result = subprocess.run([str(BIN / "aws"), *args, "--output", "json"], env=env or kg.cli_env(),
                            capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_oidc_provider_operations_with_the_aws_cli(kg: Server) -> None:
    created = aws(kg, "iam", "create-open-id-connect-provider", "--url", "https://cli.example.com/id/ABC",
                  "--client-id-list", "sts.amazonaws.com", "--thumbprint-list", THUMBPRINT,
                  "--tags", "Key=owner,Value=cli")
    arn = created["OpenIDConnectProviderArn"]
    assert arn.endswith(":oidc-provider/cli.example.com/id/ABC")
    assert aws(kg, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)["Url"] == \
        "cli.example.com/id/ABC"
    assert {"Arn": arn} in aws(kg, "iam", "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    aws(kg, "iam", "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
        "--client-id", "second")
    aws(kg, "iam", "remove-client-id-from-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
        "--client-id", "sts.amazonaws.com")
    aws(kg, "iam", "update-open-id-connect-provider-thumbprint", "--open-id-connect-provider-arn", arn,
        "--thumbprint-list", "a" * 40, "b" * 40)
    got = aws(kg, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert (got["ClientIDList"], got["ThumbprintList"]) == (["second"], ["a" * 40, "b" * 40])
    aws(kg, "iam", "tag-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
        "--tags", "Key=env,Value=test")
    aws(kg, "iam", "untag-open-id-connect-provider", "--open-id-connect-provider-arn", arn, "--tag-keys", "owner")
    assert aws(kg, "iam", "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)["Tags"] == [
        {"Key": "env", "Value": "test"}]
    stderr = aws(kg, "iam", "create-open-id-connect-provider", "--url", "https://cli.example.com/id/ABC",
                 "--client-id-list", "x", ok=False)
    assert "EntityAlreadyExists" in stderr
    stderr = aws(kg, "iam", "create-open-id-connect-provider", "--url", "ftp://cli.example.com", ok=False)
    assert "InvalidInput" in stderr
    aws(kg, "iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    stderr = aws(kg, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn, ok=False)
    assert "NoSuchEntity" in stderr


def test_oidc_provider_actions_are_authorized_on_the_provider_arn(kg: Server) -> None:
    iam = kg.client("iam")
    allowed = iam.create_open_id_connect_provider(
        Url="https://allowed.example.com", ClientIDList=["x"], Tags=[{"Key": "team", "Value": "a"}],
    )["OpenIDConnectProviderArn"]
    other = iam.create_open_id_connect_provider(
        Url="https://other.example.com", ClientIDList=["x"], Tags=[{"Key": "team", "Value": "b"}],
    )["OpenIDConnectProviderArn"]
    iam.create_user(UserName="oidc-reader")
    iam.put_user_policy(UserName="oidc-reader", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetOpenIDConnectProvider", "Resource": allowed},
            {"Effect": "Allow", "Action": "iam:ListOpenIDConnectProviderTags", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "b"}}},
        ]}))
    key = iam.create_access_key(UserName="oidc-reader")["AccessKey"]
    reader = kg.client("iam", key=(key["AccessKeyId"], key["SecretAccessKey"]))
    assert reader.get_open_id_connect_provider(OpenIDConnectProviderArn=allowed)["ClientIDList"] == ["x"]
    for call in (lambda: reader.get_open_id_connect_provider(OpenIDConnectProviderArn=other),
                 lambda: reader.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=allowed),
                 lambda: reader.delete_open_id_connect_provider(OpenIDConnectProviderArn=allowed),
                 lambda: reader.list_open_id_connect_providers(),
                 lambda: reader.create_open_id_connect_provider(Url="https://new.example.com", ClientIDList=["x"])):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "AccessDenied"
    assert reader.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=other)["Tags"] == [
        {"Key": "team", "Value": "b"}]
    for arn in (allowed, other):
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


# ---------------------------------------------------------------- AssumeRoleWithWebIdentity


def test_assume_role_with_web_identity(kg: Server, oidc_provider: Any, registered: str) -> None:
    role = web_identity_role(kg, "billing-web", registered)
    token = oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com", extra_claims={"amr": ["pwd"]})
    answer = unsigned_sts(kg).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="billing-pod", WebIdentityToken=token, DurationSeconds=900)
    acct = kg.account()
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/billing-web/billing-pod"
    assert answer["SubjectFromWebIdentityToken"] == SUBJECT
    assert answer["Audience"] == "sts.amazonaws.com"
    assert answer["Provider"] == registered
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert 800 < (credentials["Expiration"].timestamp() - time.time()) <= 900
    key = (credentials["AccessKeyId"], credentials["SecretAccessKey"])
    sts = kg.client("sts", key=key, aws_session_token=credentials["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]
    eks = kg.client("eks", key=key, aws_session_token=credentials["SessionToken"])
    assert "clusters" in eks.list_clusters()
    # the session's calls carry aws:FederatedProvider, the provider's ARN
    kg.client("iam").put_role_policy(RoleName="billing-web", PolicyName="only-via-other", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "eks:DescribeCluster", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:FederatedProvider": registered}}}]}))
    with pytest.raises(ClientError) as denied:
        eks.describe_cluster(name="anything")
    assert code_of(denied) == "AccessDeniedException"

    # a plain POST with no signature at all is what boto3 sends, too
    reply = httpx.post(kg.endpoint + "/", verify=ssl.create_default_context(cafile=kg.ca), data={
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role,
        "RoleSessionName": "raw", "WebIdentityToken": token,
    })
    assert reply.status_code == 200, reply.text
    assert f"assumed-role/billing-web/raw" in reply.text


def test_session_policies_scope_a_web_identity_session_down(kg: Server, oidc_provider: Any, registered: str) -> None:
    role = web_identity_role(kg, "billing-scoped", registered)
    token = oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com")
    only_list = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "eks:ListClusters", "Resource": "*"}]})
    credentials = unsigned_sts(kg).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="scoped", WebIdentityToken=token, Policy=only_list)["Credentials"]
    eks = kg.client("eks", key=(credentials["AccessKeyId"], credentials["SecretAccessKey"]),
                    aws_session_token=credentials["SessionToken"])
    eks.list_clusters()
    with pytest.raises(ClientError) as exc:
        eks.describe_cluster(name="nope")
    assert code_of(exc) == "AccessDeniedException"


def test_assume_role_with_web_identity_refusals(kg: Server, oidc_provider: Any, registered: str) -> None:
    sts = unsigned_sts(kg)
    role = web_identity_role(kg, "billing-refusals", registered)

    def refused(token: str, *, role_arn: str = role, **extra: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as exc:
            sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="s1", WebIdentityToken=token,
                                              **extra)
        return code_of(exc), str(exc.value.response["Error"]["Message"])

    good = oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com")
    # the audience is not in the provider's client ID list
    assert refused(oidc_provider.id_token(SUBJECT, aud="kubegate-other")) == (
        "InvalidIdentityToken", "Incorrect token audience")
    # the trust policy does not allow that sub
    code, message = refused(oidc_provider.id_token("system:serviceaccount:apps:intruder", aud="sts.amazonaws.com"))
    assert (code, message) == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    # a token whose signature does not verify, and no token at all
    header, payload, signature = good.split(".")
    forged = ".".join((header, payload, signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")))
    assert refused(forged)[0] == "InvalidIdentityToken"
    assert refused("not-a-jwt")[0] == "InvalidIdentityToken"
    # a role that does not exist, or another account's
    assert refused(good, role_arn=role.replace("billing-refusals", "nobody"))[0] == "AccessDenied"
    assert refused(good, role_arn=role.replace(kg.account(), "999999999999"))[0] == "AccessDenied"
    # OAuth 2.0 providers (ProviderId) are refused, not ignored
    assert refused(good, ProviderId="graph.facebook.com")[0] == "ValidationError"
    # the provider is deleted: its issuer is no longer registered
    iam = kg.client("iam")
    url = provider_name(oidc_provider.issuer)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=registered)
    try:
        code, message = refused(good)
        assert code == "InvalidIdentityToken"
        assert message == f"No OpenIDConnect provider found in your account for https://{url}"
    finally:
        assert iam.create_open_id_connect_provider(
            Url=oidc_provider.issuer, ClientIDList=["sts.amazonaws.com"])["OpenIDConnectProviderArn"] == registered
    assert sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s2", WebIdentityToken=good)


def test_an_expired_token_is_refused_as_expired(oidc_provider: Any, tmp_path: Path) -> None:
    """The embedded STS in-process, its verifier's clock two hours ahead (the provider's tokens
    live one hour): ExpiredTokenException, and a token still valid then is taken."""
    from datetime import datetime, timedelta, timezone

    from cryptography.fernet import Fernet

    from kubegate.domain.caller import RequestFacts
    from kubegate.domain.oidc_providers import ExpiredIdentityToken
    from kubegate.identity.authorizer import Authorizer
    from kubegate.identity.iam import IamService
    from kubegate.identity.oidc import OidcVerifier
    from kubegate.identity.sts import StsService, WebIdentityRequest
    from kubegate.store.database import Store

    def now() -> datetime:
        return datetime.now(timezone.utc)

    def later() -> datetime:
        return now() + timedelta(hours=2)

    store, cipher, acct = Store(f"sqlite:///{tmp_path / 'kubegate.db'}"), Fernet(Fernet.generate_key()), "123456789012"
    iam = IamService(store, cipher, account=acct, clock=now)
    provider = iam.create_oidc_provider(oidc_provider.issuer, ["sts.amazonaws.com"], [])
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider.arn},
                                                     "Action": "sts:AssumeRoleWithWebIdentity"}]}
    role = iam.create_role("later", None, json.dumps(trust), None, None)
    verifier = OidcVerifier(ca_file=oidc_provider.ca_file, clock=later)
    sts = StsService(store, cipher, Authorizer(store), account=acct, clock=now, oidc=verifier)
    token = oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com")
    with pytest.raises(ExpiredIdentityToken):
        sts.assume_role_with_web_identity(WebIdentityRequest(role.arn, "s1", token), RequestFacts(now=now()))
    lasting = oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com", ttl=3 * 3600)
    issued = sts.assume_role_with_web_identity(WebIdentityRequest(role.arn, "s1", lasting), RequestFacts(now=now()))
    assert (issued.subject, issued.provider_arn) == (SUBJECT, provider.arn)
    store.close()


def test_an_unregistered_issuer_is_refused(kg: Server, oidc_provider: Any) -> None:
    """A token naming an issuer no IAM OIDC provider has: refused before anything is verified."""
    token = oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        unsigned_sts(kg).assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{kg.account()}:role/whatever", RoleSessionName="s1",
            WebIdentityToken=token.replace(token.split(".")[1], _with_issuer(token, "https://unknown.example.com")))
    assert code_of(exc) == "InvalidIdentityToken"
    assert "No OpenIDConnect provider found in your account for https://unknown.example.com" in str(exc.value)


def _with_issuer(token: str, issuer: str) -> str:
    import base64

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["iss"] = issuer
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


# ---------------------------------------------------------------- nothing else is reachable unsigned


def test_no_other_operation_is_reachable_unsigned(kg: Server) -> None:
    """Every STS and IAM operation, and EKS paths, sent with no signature: refused as before,
    MissingAuthenticationToken, except AssumeRoleWithWebIdentity alone."""
    session = botocore.session.get_session()
    client = httpx.Client(verify=ssl.create_default_context(cafile=kg.ca))
    for service in ("sts", "iam"):
        model = session.get_service_model(service)
        for operation in model.operation_names:
            if (service, operation) == ("sts", "AssumeRoleWithWebIdentity"):
                continue
            form = {"Action": operation, "Version": model.api_version}
            reply = client.post(kg.endpoint + "/", data=form)
            assert reply.status_code == 403, (operation, reply.text)
            assert "MissingAuthenticationToken" in reply.text, (operation, reply.text)
            reply = client.get(kg.endpoint + "/", params=form)
            assert reply.status_code == 403, (operation, reply.text)
    for path in ("/clusters", "/clusters/dev", "/clusters/dev/access-entries"):
        assert client.get(kg.endpoint + path).status_code == 403
    web = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::1:role/r",
           "RoleSessionName": "s1", "WebIdentityToken": "not-a-jwt"}
    # the action named twice, or once in the query and once in the body: not the unsigned operation
    for query, body in ((None, {**web, "Action": ["AssumeRoleWithWebIdentity", "GetCallerIdentity"]}),
                        ({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, web),
                        ({"Action": "AssumeRoleWithWebIdentity"}, {**web, "Action": "GetCallerIdentity"})):
        reply = client.post(kg.endpoint + "/", params=query, data=body)
        assert reply.status_code == 403 and "MissingAuthenticationToken" in reply.text, reply.text
    # anything that looks signed is authenticated, and a bad signature is refused
    for headers in ({"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAXXXXXXXXXXXXXXXX/20260101/us-east-1/sts/"
                                      "aws4_request, SignedHeaders=host, Signature=00"},
                    {"X-Amz-Security-Token": "t"}):
        reply = client.post(kg.endpoint + "/", data=web, headers=headers)
        assert reply.status_code in (400, 403) and "InvalidIdentityToken" not in reply.text, reply.text
    reply = client.post(kg.endpoint + "/", params={"X-Amz-Credential": "AKIA/20260101/us-east-1/iam/aws4_request"},
                        data=web)
    assert reply.status_code in (400, 403) and "InvalidIdentityToken" not in reply.text, reply.text
    # the unsigned operation itself is answered (here: a token that is no JWT)
    reply = client.post(kg.endpoint + "/", data=web)
    assert reply.status_code == 400 and "InvalidIdentityToken" in reply.text, reply.text


# ---------------------------------------------------------------- botocore's provider and aws eks get-token


def test_botocore_web_identity_credentials_and_eks_get_token(kg: Server, oidc_provider: Any, registered: str,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_token_webhook import Apiserver

    role = web_identity_role(kg, "billing-irsa", registered)
    token_file = tmp_path / "token"
    token_file.write_text(oidc_provider.id_token(SUBJECT, aud="sts.amazonaws.com"))
    env = {k: v for k, v in kg.cli_env().items()
           if k not in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")}
    env |= {"AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_ROLE_SESSION_NAME": "irsa-pod", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    # botocore's own AssumeRoleWithWebIdentity provider, in-process
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    session = boto3.Session()
    assert session.get_credentials().method == "assume-role-with-web-identity"
    arn = f"arn:aws:sts::{kg.account()}:assumed-role/billing-irsa/irsa-pod"
    assert session.client("sts").get_caller_identity()["Arn"] == arn

    # the AWS CLI, same environment: its token maps through an access entry for the role
    assert aws(kg, "sts", "get-caller-identity", env=env)["Arn"] == arn
    answer = aws(kg, "sts", "assume-role-with-web-identity", "--role-arn", role, "--role-session-name", "cli",
                 "--web-identity-token", token_file.read_text(), env=env)
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/billing-irsa/cli")
    assert (answer["Provider"], answer["SubjectFromWebIdentityToken"]) == (registered, SUBJECT)
    eks = kg.client("eks")
    eks.create_cluster(name="irsa", roleArn=role, resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    eks.create_access_entry(clusterName="irsa", principalArn=role, kubernetesGroups=["billing"])
    eks.associate_access_policy(clusterName="irsa", principalArn=role, policyArn=VIEW_POLICY,
                                accessScope={"type": "cluster"})
    token = aws(kg, "eks", "get-token", "--cluster-name", "irsa", env=env)["status"]["token"]
    assert token.startswith("k8s-aws-v1.")
    apiserver = Apiserver(kg, "irsa", tmp_path / "webhook")
    deadline = time.monotonic() + 15
    while True:
        status = apiserver.status(token)
        if status.get("authenticated") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status["authenticated"] is True, status
    assert status["user"]["username"] == arn
    assert "billing" in status["user"]["groups"]


@pytest.mark.parametrize("url,name", [
    ("https://idp.example.com", "idp.example.com"),
    ("https://idp.example.com/", "idp.example.com/"),  # kept: iss is compared exactly
    ("https://127.0.0.1:5556/dex", "127.0.0.1:5556/dex"),  # a port, unlike AWS
    ("https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF", "oidc.eks.us-east-1.amazonaws.com/id/ABCDEF"),
])
def test_provider_names(url: str, name: str) -> None:
    from kubegate.domain.oidc_providers import provider_url

    assert provider_url(url) == name


@pytest.mark.parametrize("url", ["http://idp.example.com", "https://IDP.example.com", "https://idp.example.com//x",
                                 "https://idp.example.com/a b", "https://[::1]:8443", "https://idp.example.com:0",
                                 "https://idp.example.com/é"])
def test_provider_urls_refused(url: str) -> None:
    from kubegate.domain.errors import InvalidInput
    from kubegate.domain.oidc_providers import provider_url

    with pytest.raises(InvalidInput):
        provider_url(url)


def test_a_hanging_provider_holds_at_most_a_few_management_threads(tmp_path: Path) -> None:
    """AssumeRoleWithWebIdentity is unsigned: with the registered provider hanging (a listener that
    never answers), only WEB_IDENTITY_CONCURRENCY calls may wait on it; the rest are told at once
    to retry (IDPCommunicationError) instead of filling the management API's threads."""
    import base64
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime, timezone

    from cryptography.fernet import Fernet

    from kubegate.domain.caller import RequestFacts
    from kubegate.domain.errors import DomainError
    from kubegate.domain.oidc_providers import IDPCommunicationError
    from kubegate.identity.authorizer import Authorizer
    from kubegate.identity.iam import IamService
    from kubegate.identity.oidc import OidcVerifier
    from kubegate.identity.sts import WEB_IDENTITY_CONCURRENCY, StsService, WebIdentityRequest
    from kubegate.store.database import Store
    from test_token_hardening import BlackHole

    def now() -> datetime:
        return datetime.now(timezone.utc)

    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    hole = BlackHole()
    store = Store(f"sqlite:///{tmp_path / 'kubegate.db'}")
    try:
        cipher, acct = Fernet(Fernet.generate_key()), "123456789012"
        issuer = f"https://127.0.0.1:{hole.port}"
        provider = IamService(store, cipher, account=acct, clock=now).create_oidc_provider(
            issuer, ["sts.amazonaws.com"], [])
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider.arn},
                                                         "Action": "sts:AssumeRoleWithWebIdentity"}]}
        role = IamService(store, cipher, account=acct, clock=now).create_role("hang", None, json.dumps(trust), None, None)
        sts = StsService(store, cipher, Authorizer(store), account=acct, clock=now,
                         oidc=OidcVerifier(clock=now, timeout=3.0))
        token = ".".join([segment({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
                          segment({"iss": issuer, "aud": "sts.amazonaws.com", "sub": SUBJECT,
                                   "exp": int(time.time()) + 600}), "c2lnbmF0dXJl"])
        calls = 3 * WEB_IDENTITY_CONCURRENCY
        start = threading.Barrier(calls)

        def attempt(n: int) -> tuple[str, float]:
            start.wait()
            began = time.monotonic()
            try:
                sts.assume_role_with_web_identity(WebIdentityRequest(role.arn, f"s-{n}", token), RequestFacts(now=now()))
            except DomainError as exc:
                return type(exc).__name__, time.monotonic() - began
            return "issued", time.monotonic() - began

        with ThreadPoolExecutor(calls) as pool:
            outcomes = list(pool.map(attempt, range(calls)))
        busy = [elapsed for kind, elapsed in outcomes if kind == IDPCommunicationError.__name__]
        assert len(busy) == calls - WEB_IDENTITY_CONCURRENCY, outcomes
        assert max(busy) < 1.0  # told at once, not queued behind the hanging provider
        assert {kind for kind, _ in outcomes} == {IDPCommunicationError.__name__, "InvalidIdentityToken"}
    finally:
        store.close()
        hole.close()
