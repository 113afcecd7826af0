"""The embedded IAM and STS through boto3, and the management API's IAM authorization."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import ssl
from botocore.exceptions import ClientError

from conftest import Server, trust_policy

POLICY = "arn:aws:eks::aws:cluster-access-policy/"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def allow(*actions: str, resource: str = "*", effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": effect, "Action": list(actions), "Resource": resource}]})


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


def new_user_with_key(server: Server, iam: Any, name: str) -> tuple[str, str]:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_users_and_their_errors(server: Server, iam: Any) -> None:
    created = iam.create_user(UserName="u-alice", Path="/staff/")["User"]
    assert created["Arn"] == f"arn:aws:iam::{server.account()}:user/staff/u-alice"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert iam.get_user(UserName="u-alice")["User"] == created
    assert "u-alice" in [u["UserName"] for u in iam.list_users()["Users"]]
    with pytest.raises(ClientError) as excinfo:
        iam.create_user(UserName="u-alice")
    assert error_of(excinfo) == ("EntityAlreadyExists", "User with name u-alice already exists.", 409)
    with pytest.raises(ClientError) as excinfo:
        iam.get_user(UserName="u-nobody")
    assert error_of(excinfo) == ("NoSuchEntity", "The user with name u-nobody cannot be found.", 404)
    iam.delete_user(UserName="u-alice")
    again = iam.create_user(UserName="u-alice")["User"]
    assert again["UserId"] != created["UserId"]  # a re-created principal is a new identity
    iam.delete_user(UserName="u-alice")


def test_access_keys(server: Server, iam: Any) -> None:
    access_key, secret = new_user_with_key(server, iam, "u-keys")
    assert access_key.startswith("AKIA")
    second = iam.create_access_key(UserName="u-keys")["AccessKey"]
    with pytest.raises(ClientError) as excinfo:
        iam.create_access_key(UserName="u-keys")
    assert error_of(excinfo) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    listed = iam.list_access_keys(UserName="u-keys")["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {access_key, second["AccessKeyId"]}
    assert all("SecretAccessKey" not in k for k in listed)
    sts = server.client("sts", key=(access_key, secret))
    identity = sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{server.account()}:user/u-keys"
    assert identity["UserId"].startswith("AIDA") and identity["Account"] == server.account()
    iam.update_access_key(UserName="u-keys", AccessKeyId=access_key, Status="Inactive")
    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_of(excinfo)[0] == "InvalidClientTokenId"
    with pytest.raises(ClientError) as excinfo:
        iam.delete_user(UserName="u-keys")
    assert error_of(excinfo) == ("DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
    for key in (access_key, second["AccessKeyId"]):
        iam.delete_access_key(UserName="u-keys", AccessKeyId=key)
    with pytest.raises(ClientError) as excinfo:
        iam.delete_access_key(UserName="u-keys", AccessKeyId=access_key)
    assert error_of(excinfo)[0] == "NoSuchEntity"
    iam.delete_user(UserName="u-keys")


def test_roles_and_policies(server: Server, iam: Any) -> None:
    acct = server.account()
    created = iam.create_role(RoleName="r-app", Path="/apps/", AssumeRolePolicyDocument=trust_policy(acct),
                              MaxSessionDuration=7200)["Role"]
    assert created["Arn"] == f"arn:aws:iam::{acct}:role/apps/r-app" and created["RoleId"].startswith("AROA")
    assert created["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"AWS": acct}
    assert created["MaxSessionDuration"] == 7200
    assert any(r["RoleName"] == "r-app" for r in iam.list_roles()["Roles"])
    iam.put_role_policy(RoleName="r-app", PolicyName="read", PolicyDocument=allow("eks:Describe*"))
    assert iam.get_role_policy(RoleName="r-app", PolicyName="read")["PolicyDocument"]["Statement"][0]["Action"] == ["eks:Describe*"]
    assert iam.list_role_policies(RoleName="r-app")["PolicyNames"] == ["read"]
    policy = iam.create_policy(PolicyName="p-list", PolicyDocument=allow("eks:List*"))["Policy"]
    assert policy["Arn"] == f"arn:aws:iam::{acct}:policy/p-list" and policy["PolicyId"].startswith("ANPA")
    iam.attach_role_policy(RoleName="r-app", PolicyArn=policy["Arn"])
    assert iam.list_attached_role_policies(RoleName="r-app")["AttachedPolicies"] == [
        {"PolicyName": "p-list", "PolicyArn": policy["Arn"]}
    ]
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as excinfo:
        iam.delete_policy(PolicyArn=policy["Arn"])
    assert error_of(excinfo)[0] == "DeleteConflict"
    with pytest.raises(ClientError) as excinfo:
        iam.delete_role(RoleName="r-app")
    assert error_of(excinfo)[0] == "DeleteConflict"
    with pytest.raises(ClientError) as excinfo:
        iam.put_role_policy(RoleName="r-app", PolicyName="bad", PolicyDocument="{not json")
    assert error_of(excinfo)[0] == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="r-bad", AssumeRolePolicyDocument=allow("sts:AssumeRole"))
    assert error_of(excinfo)[0] == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as excinfo:
        iam.get_role_policy(RoleName="r-app", PolicyName="missing")
    assert error_of(excinfo)[:2] == ("NoSuchEntity", "The role policy with name missing cannot be found.")
    iam.detach_role_policy(RoleName="r-app", PolicyArn=policy["Arn"])
    iam.delete_role_policy(RoleName="r-app", PolicyName="read")
    iam.delete_policy(PolicyArn=policy["Arn"])
    iam.delete_role(RoleName="r-app")
    recreated = iam.create_role(RoleName="r-app", AssumeRolePolicyDocument=trust_policy(acct))["Role"]
    assert recreated["RoleId"] != created["RoleId"]
    iam.delete_role(RoleName="r-app")


def test_assume_role_and_session_identity(server: Server, iam: Any) -> None:
    acct = server.account()
    key = new_user_with_key(server, iam, "u-assumer")
    user_arn = f"arn:aws:iam::{acct}:user/u-assumer"
    role = iam.create_role(RoleName="r-trusting", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    iam.create_role(RoleName="r-closed", AssumeRolePolicyDocument=trust_policy("arn:aws:iam::999999999999:root"))
    iam.create_role(RoleName="r-account", AssumeRolePolicyDocument=trust_policy(acct))
    sts = server.client("sts", key=key)
    answer = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="alice@example.com", DurationSeconds=900)
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    assert 800 < (creds["Expiration"] - dt.datetime.now(dt.timezone.utc)).total_seconds() <= 900
    session_arn = f"arn:aws:sts::{acct}:assumed-role/r-trusting/alice@example.com"
    assert answer["AssumedRoleUser"] == {"AssumedRoleId": f"{role['RoleId']}:alice@example.com", "Arn": session_arn}
    session = server.client("sts", key=(creds["AccessKeyId"], creds["SecretAccessKey"]),
                            aws_session_token=creds["SessionToken"])
    identity = session.get_caller_identity()
    assert (identity["Arn"], identity["UserId"]) == (session_arn, f"{role['RoleId']}:alice@example.com")

    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/r-closed", RoleSessionName="s1")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("AccessDenied", 403)
    assert message.startswith(f"User: {user_arn} is not authorized to perform: sts:AssumeRole on resource:")
    # Trusting only the account delegates to the caller's own policies, which grant nothing yet.
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/r-account", RoleSessionName="s1")
    assert error_of(excinfo)[0] == "AccessDenied"
    iam.put_user_policy(UserName="u-assumer", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
    assert sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/r-account", RoleSessionName="s1")["Credentials"]
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7200)
    assert error_of(excinfo)[0] == "ValidationError"
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bad name!")
    assert error_of(excinfo)[0] == "ValidationError"
    with pytest.raises(ClientError) as excinfo:
        server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="root")
    assert error_of(excinfo)[0] == "AccessDenied"
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", key=(creds["AccessKeyId"], creds["SecretAccessKey"])).get_caller_identity()
    assert error_of(excinfo)[0] == "InvalidClientTokenId"  # a session key without its token

    # Expire a new session in the store, as time would, before kubegate has seen it (a session it has
    # seen is remembered with its expiry time, which the clock, not the store, then enforces).
    fresh = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="expiring", DurationSeconds=900)["Credentials"]
    with sqlite3.connect(server.data_dir / "kubegate.db") as db:
        db.execute("UPDATE sts_sessions SET expires_at = '2000-01-01 00:00:00' WHERE access_key_id = ?",
                   (fresh["AccessKeyId"],))
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", key=(fresh["AccessKeyId"], fresh["SecretAccessKey"]),
                      aws_session_token=fresh["SessionToken"]).get_caller_identity()
    assert error_of(excinfo)[:2] == ("ExpiredToken", "The security token included in the request is expired")


def test_root_identity(server: Server) -> None:
    identity = server.client("sts").get_caller_identity()
    assert identity == {**identity, "Arn": f"arn:aws:iam::{server.account()}:root", "UserId": server.account(),
                        "Account": server.account()}


def test_eks_calls_are_authorized_by_identity_policies(server: Server, iam: Any) -> None:
    acct = server.account()
    eks = server.client("eks")
    eks.create_cluster(name="authz", roleArn=iam.create_role(RoleName="r-eks", AssumeRolePolicyDocument=trust_policy(acct))["Role"]["Arn"],
                       resourcesVpcConfig={"subnetIds": ["s"]}, accessConfig={"authenticationMode": "API"})
    key = new_user_with_key(server, iam, "u-dev")  # IAM refuses a trust policy naming a user that does not exist
    dev = iam.create_role(RoleName="r-dev", AssumeRolePolicyDocument=trust_policy(f"arn:aws:iam::{acct}:user/u-dev"))["Role"]
    cluster_arn = f"arn:aws:eks:us-east-1:{acct}:cluster/authz"
    iam.put_role_policy(RoleName="r-dev", PolicyName="eks-read",
                        PolicyDocument=allow("eks:ListAccessEntries", "eks:DescribeCluster", resource=cluster_arn))
    creds = server.client("sts", key=key).assume_role(RoleArn=dev["Arn"], RoleSessionName="alice")["Credentials"]
    as_dev = server.client("eks", key=(creds["AccessKeyId"], creds["SecretAccessKey"]),
                           aws_session_token=creds["SessionToken"])
    assert as_dev.list_access_entries(clusterName="authz")["accessEntries"] == [f"arn:aws:iam::{acct}:root"]
    with pytest.raises(ClientError) as excinfo:
        as_dev.create_access_entry(clusterName="authz", principalArn=dev["Arn"])
    assert error_of(excinfo) == (
        "AccessDeniedException",
        f"User: arn:aws:sts::{acct}:assumed-role/r-dev/alice is not authorized to perform: eks:CreateAccessEntry "
        f"on resource: {cluster_arn} because no identity-based policy allows the eks:CreateAccessEntry action",
        403,
    )
    with pytest.raises(ClientError) as excinfo:
        as_dev.list_clusters()  # the policy names only the cluster resource
    assert error_of(excinfo)[0] == "AccessDeniedException"
    iam.put_role_policy(RoleName="r-dev", PolicyName="deny", PolicyDocument=allow("eks:*", resource="*", effect="Deny"))
    with pytest.raises(ClientError) as excinfo:
        as_dev.list_access_entries(clusterName="authz")
    assert "with an explicit deny in an identity-based policy" in error_of(excinfo)[1]
    # The session's IAM calls are authorized the same way.
    as_dev_iam = server.client("iam", key=(creds["AccessKeyId"], creds["SecretAccessKey"]),
                               aws_session_token=creds["SessionToken"])
    with pytest.raises(ClientError) as excinfo:
        as_dev_iam.create_user(UserName="u-sneaky")
    assert error_of(excinfo)[:1] + error_of(excinfo)[2:] == ("AccessDenied", 403)
    eks.delete_cluster(name="authz")


def test_presigned_get_caller_identity_as_aws_eks_get_token_makes_it(server: Server, iam: Any) -> None:
    """botocore presigns GetCallerIdentity with the signed x-k8s-aws-id header, as `aws eks get-token` does."""
    sts = server.client("sts")

    def add_cluster_header(request: Any, **kwargs: Any) -> None:
        request.headers["x-k8s-aws-id"] = "dev"

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    assert "x-k8s-aws-id" in urlsplit(url).query.lower()
    context = ssl.create_default_context(cafile=server.ca)
    with httpx.Client(verify=context) as client:
        answer = client.get(url, headers={"x-k8s-aws-id": "dev", "Accept": "application/json"})
        assert answer.status_code == 200, answer.text
        result = answer.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        assert result["Arn"] == f"arn:aws:iam::{server.account()}:root"
        xml = client.get(url, headers={"x-k8s-aws-id": "dev"})
        assert xml.status_code == 200 and b"<GetCallerIdentityResult>" in xml.content
        other_cluster = client.get(url, headers={"x-k8s-aws-id": "prod"})
        assert other_cluster.status_code == 403 and b"SignatureDoesNotMatch" in other_cluster.content
        changed = client.get(url.replace("Action=GetCallerIdentity", "Action=GetCallerIdentity&Extra=1"),
                             headers={"x-k8s-aws-id": "dev"})
        assert changed.status_code == 403
        wrong_signature = client.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
                                     headers={"x-k8s-aws-id": "dev"})
        assert wrong_signature.status_code == 403 and b"SignatureDoesNotMatch" in wrong_signature.content


def test_presigned_url_past_fifteen_minutes_is_refused(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    sts = server.client("sts")
    sts.meta.events.register("before-sign.sts.GetCallerIdentity",
                             lambda request, **kwargs: request.headers.__setitem__("x-k8s-aws-id", "dev"))
    stale = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=16)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as client:
        answer = client.get(url, headers={"x-k8s-aws-id": "dev"})
    assert answer.status_code == 403 and b"Signature expired" in answer.content
