"""The privilege escalations a security review found, tried as an attacker would, through boto3
against a running kubegate: each must fail with AWS's AccessDenied (or its validation error).

Every test makes its own principals (names prefixed ``esc-``) on the shared server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, trust_policy

POLICY = "arn:aws:eks::aws:cluster-access-policy/"
ADMIN = POLICY + "AmazonEKSClusterAdminPolicy"
VIEW = POLICY + "AmazonEKSViewPolicy"


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as excinfo:
        call()
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect: str, action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture(scope="module")
def acct(server: Server) -> str:
    return server.account()


@pytest.fixture(scope="module")
def cluster_role(iam: Any, acct: str) -> str:
    return str(iam.create_role(RoleName="esc-cluster", AssumeRolePolicyDocument=trust_policy(acct))["Role"]["Arn"])


def user(server: Server, iam: Any, name: str, *statements: dict[str, Any], path: str = "/",
         tags: dict[str, str] | None = None) -> tuple[str, tuple[str, str]]:
    """A user with an inline policy of ``statements`` and an access key: (its ARN, its key)."""
    extra = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    arn = iam.create_user(UserName=name, Path=path, **extra)["User"]["Arn"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return str(arn), (key["AccessKeyId"], key["SecretAccessKey"])


def session_client(server: Server, service: str, credentials: dict[str, Any]) -> Any:
    return server.client(service, key=(credentials["AccessKeyId"], credentials["SecretAccessKey"]),
                         aws_session_token=credentials["SessionToken"])


def cluster(server: Server, name: str, role_arn: str, tags: dict[str, str] | None = None) -> str:
    eks = server.client("eks")
    return str(eks.create_cluster(name=name, roleArn=role_arn, resourcesVpcConfig={"subnetIds": ["s"]},
                                  accessConfig={"authenticationMode": "API"}, **({"tags": tags} if tags else {}))
               ["cluster"]["arn"])


# ---------------------------------------------------------------- conditions on keys kubegate now sets


def test_deny_on_eks_policy_arn_stops_self_granted_cluster_admin(server: Server, iam: Any, acct: str,
                                                                  cluster_role: str) -> None:
    cluster(server, "esc-self", cluster_role)
    arn, key = user(server, iam, "esc-self", statement("Allow", "eks:*"),
                    statement("Deny", "eks:AssociateAccessPolicy",
                              Condition={"StringEquals": {"eks:policyArn": ADMIN}}))
    eks = server.client("eks", key=key)
    eks.create_access_entry(clusterName="esc-self", principalArn=arn)
    code, message = error_of(lambda: eks.associate_access_policy(
        clusterName="esc-self", principalArn=arn, policyArn=ADMIN, accessScope={"type": "cluster"}))
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {arn} is not authorized to perform: eks:AssociateAccessPolicy on resource: "
                              f"arn:aws:eks:us-east-1:{acct}:access-entry/esc-self/user/{acct}/esc-self/")
    assert message.endswith("with an explicit deny in an identity-based policy")
    eks.associate_access_policy(clusterName="esc-self", principalArn=arn, policyArn=VIEW,
                                accessScope={"type": "namespace", "namespaces": ["a"]})
    server.client("eks").delete_cluster(name="esc-self")


def test_allow_with_string_not_equals_on_policy_arn_does_not_allow_cluster_admin(
        server: Server, iam: Any, cluster_role: str) -> None:
    cluster(server, "esc-ne", cluster_role)
    arn, key = user(server, iam, "esc-ne", statement("Allow", ["eks:CreateAccessEntry", "eks:DescribeCluster"]),
                    statement("Allow", "eks:AssociateAccessPolicy",
                              Condition={"StringNotEquals": {"eks:policyArn": ADMIN}}))
    eks = server.client("eks", key=key)
    eks.create_access_entry(clusterName="esc-ne", principalArn=arn)
    code, message = error_of(lambda: eks.associate_access_policy(
        clusterName="esc-ne", principalArn=arn, policyArn=ADMIN, accessScope={"type": "cluster"}))
    assert (code, message.endswith("because no identity-based policy allows the eks:AssociateAccessPolicy action")) \
        == ("AccessDeniedException", True)
    eks.associate_access_policy(clusterName="esc-ne", principalArn=arn, policyArn=VIEW, accessScope={"type": "cluster"})
    server.client("eks").delete_cluster(name="esc-ne")


def test_for_all_values_on_namespaces_is_true_for_a_cluster_scope(server: Server, iam: Any,
                                                                  cluster_role: str) -> None:
    """AWS's documented pitfall, kept: ForAllValues holds when eks:namespaces is absent."""
    cluster(server, "esc-fav", cluster_role)
    arn, key = user(server, iam, "esc-fav", statement("Allow", "eks:CreateAccessEntry"),
                    statement("Allow", "eks:AssociateAccessPolicy",
                              Condition={"ForAllValues:StringEquals": {"eks:namespaces": ["team-a"]}}))
    eks = server.client("eks", key=key)
    eks.create_access_entry(clusterName="esc-fav", principalArn=arn)
    error_of(lambda: eks.associate_access_policy(clusterName="esc-fav", principalArn=arn, policyArn=VIEW,
                                                 accessScope={"type": "namespace", "namespaces": ["team-b"]}))
    eks.associate_access_policy(clusterName="esc-fav", principalArn=arn, policyArn=VIEW,
                                accessScope={"type": "namespace", "namespaces": ["team-a"]})
    eks.associate_access_policy(clusterName="esc-fav", principalArn=arn, policyArn=ADMIN,
                                accessScope={"type": "cluster"})  # the pitfall: no namespaces, so "all" of them match
    server.client("eks").delete_cluster(name="esc-fav")


def test_deny_on_resource_tag_protects_a_prod_cluster(server: Server, iam: Any, cluster_role: str) -> None:
    cluster(server, "esc-prod", cluster_role, tags={"env": "prod"})
    cluster(server, "esc-dev", cluster_role, tags={"env": "dev"})
    _, key = user(server, iam, "esc-tagged", statement("Allow", "eks:*"),
                  statement("Deny", "eks:UpdateClusterConfig", Condition={"StringEquals": {"aws:ResourceTag/env": "prod"}}))
    eks = server.client("eks", key=key)
    code, _ = error_of(lambda: eks.update_cluster_config(name="esc-prod", accessConfig={"authenticationMode": "API"}))
    assert code == "AccessDeniedException"
    eks.update_cluster_config(name="esc-dev", logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
    for name in ("esc-prod", "esc-dev"):
        server.client("eks").delete_cluster(name=name)


def test_deny_on_iam_policy_arn_stops_attaching_an_admin_policy(server: Server, iam: Any, acct: str) -> None:
    admin = iam.create_policy(PolicyName="esc-admin", PolicyDocument=document(statement("Allow", "*")))["Policy"]["Arn"]
    benign = iam.create_policy(PolicyName="esc-benign",
                               PolicyDocument=document(statement("Allow", "eks:ListClusters")))["Policy"]["Arn"]
    arn, key = user(server, iam, "esc-attacher", statement("Allow", "iam:*"),
                    statement("Deny", "iam:AttachUserPolicy", Condition={"ArnEquals": {"iam:PolicyARN": admin}}))
    as_user = server.client("iam", key=key)
    code, message = error_of(lambda: as_user.attach_user_policy(UserName="esc-attacher", PolicyArn=admin))
    assert code == "AccessDenied" and "with an explicit deny" in message
    as_user.attach_user_policy(UserName="esc-attacher", PolicyArn=benign)


def test_request_tags_and_principal_tags_are_condition_keys(server: Server, iam: Any) -> None:
    _, key = user(server, iam, "esc-tagger", statement("Allow", "iam:CreateUser", Condition={
        "StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"}}), tags={"team": "blue"})
    as_user = server.client("iam", key=key)
    as_user.create_user(UserName="esc-blue-1", Tags=[{"Key": "team", "Value": "blue"}])
    assert error_of(lambda: as_user.create_user(UserName="esc-red-1", Tags=[{"Key": "team", "Value": "red"}]))[0] \
        == "AccessDenied"
    assert error_of(lambda: as_user.create_user(UserName="esc-none-1"))[0] == "AccessDenied"
    assert iam.get_user(UserName="esc-blue-1")["User"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert iam.list_user_tags(UserName="esc-tagger")["Tags"] == [{"Key": "team", "Value": "blue"}]


def test_keys_kubegate_cannot_know_fail_closed(server: Server, iam: Any) -> None:
    """aws:PrincipalOrgID is set by AWS Organizations; kubegate has none, so a Deny on it applies
    and an Allow on it does not, rather than reading it as absent."""
    _, key = user(server, iam, "esc-org", statement("Allow", "eks:ListClusters"),
                  statement("Deny", "eks:ListClusters", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-123"}}))
    assert error_of(lambda: server.client("eks", key=key).list_clusters())[0] == "AccessDeniedException"
    _, key = user(server, iam, "esc-org2", statement("Allow", "eks:ListClusters",
                                                      Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}}))
    assert error_of(lambda: server.client("eks", key=key).list_clusters())[0] == "AccessDeniedException"


def test_source_ip_time_and_transport_keys(server: Server, iam: Any) -> None:
    _, key = user(server, iam, "esc-ip",
                  statement("Allow", "eks:ListClusters", Condition={
                      "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"},
                      "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
                  statement("Allow", "eks:DescribeCluster", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
                  statement("Allow", "eks:ListAccessPolicies", Condition={
                      "DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}))
    eks = server.client("eks", key=key)
    assert "clusters" in eks.list_clusters()
    assert error_of(lambda: eks.describe_cluster(name="x"))[0] == "AccessDeniedException"
    assert error_of(lambda: eks.list_access_policies())[0] == "AccessDeniedException"


# ---------------------------------------------------------------- paths in ARNs


def test_a_path_scoped_deny_protects_admins_access_keys(server: Server, iam: Any, acct: str) -> None:
    boss, _ = user(server, iam, "esc-boss", path="/admins/")
    assert boss == f"arn:aws:iam::{acct}:user/admins/esc-boss"
    _, key = user(server, iam, "esc-intern", statement("Allow", ["iam:CreateAccessKey", "iam:ListAccessKeys"]),
                  statement("Deny", "iam:*", f"arn:aws:iam::{acct}:user/admins/*"))
    as_intern = server.client("iam", key=key)
    code, message = error_of(lambda: as_intern.create_access_key(UserName="esc-boss"))
    assert (code, message) == (
        "AccessDenied",
        f"User: arn:aws:iam::{acct}:user/esc-intern is not authorized to perform: iam:CreateAccessKey on resource: "
        f"{boss} with an explicit deny in an identity-based policy",
    )
    assert len(iam.list_access_keys(UserName="esc-boss")["AccessKeyMetadata"]) == 1
    as_intern.list_access_keys()  # its own keys: the caller's ARN has no admins/ path


# ---------------------------------------------------------------- session policies


def test_a_scoped_down_session_has_only_the_intersection(server: Server, iam: Any, acct: str,
                                                         cluster_role: str) -> None:
    cluster(server, "esc-scoped", cluster_role)
    user(server, iam, "esc-ci")
    role = iam.create_role(RoleName="esc-deployer", AssumeRolePolicyDocument=trust_policy(f"arn:aws:iam::{acct}:user/esc-ci"))
    iam.put_role_policy(RoleName="esc-deployer", PolicyName="all", PolicyDocument=document(statement("Allow", "eks:*")))
    key = iam.create_access_key(UserName="esc-ci")["AccessKey"]
    sts = server.client("sts", key=(key["AccessKeyId"], key["SecretAccessKey"]))
    readonly = document(statement("Allow", ["eks:List*", "eks:Describe*"]))
    credentials = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="ci", Policy=readonly)["Credentials"]
    eks = session_client(server, "eks", credentials)
    assert "esc-scoped" in eks.list_clusters()["clusters"]
    code, message = error_of(lambda: eks.create_access_entry(clusterName="esc-scoped",
                                                             principalArn=role["Role"]["Arn"]))
    assert (code, message) == (
        "AccessDeniedException",
        f"User: arn:aws:sts::{acct}:assumed-role/esc-deployer/ci is not authorized to perform: eks:CreateAccessEntry "
        f"on resource: arn:aws:eks:us-east-1:{acct}:cluster/esc-scoped because no session policy allows the "
        f"eks:CreateAccessEntry action",
    )
    # GetCallerIdentity needs no permission, so the session's k8s-aws-v1. tokens keep working.
    identity = session_client(server, "sts", credentials).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{acct}:assumed-role/esc-deployer/ci"
    # A managed policy as a session policy, and a Deny in it.
    deny = iam.create_policy(PolicyName="esc-deny-describe", PolicyDocument=document(
        statement("Allow", "eks:*"), statement("Deny", "eks:DescribeCluster")))["Policy"]["Arn"]
    credentials = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="ci2",
                                  PolicyArns=[{"arn": deny}])["Credentials"]
    eks = session_client(server, "eks", credentials)
    assert error_of(lambda: eks.describe_cluster(name="esc-scoped"))[1].endswith("with an explicit deny in a session policy")
    eks.list_clusters()
    # A policy ARN that does not exist is refused, never silently dropped.
    assert error_of(lambda: sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="ci3", PolicyArns=[
        {"arn": f"arn:aws:iam::{acct}:policy/esc-missing"}]))[0] == "MalformedPolicyDocument"
    server.client("eks").delete_cluster(name="esc-scoped")


def test_session_policies_bind_chained_sessions_too(server: Server, iam: Any, acct: str) -> None:
    user(server, iam, "esc-chain")
    for name in ("esc-first", "esc-second"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(acct))
        iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=document(statement("Allow", "*")))
    iam.put_user_policy(UserName="esc-chain", PolicyName="p", PolicyDocument=document(statement("Allow", "sts:AssumeRole")))
    key = iam.create_access_key(UserName="esc-chain")["AccessKey"]
    sts = server.client("sts", key=(key["AccessKeyId"], key["SecretAccessKey"]))
    first = sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/esc-first", RoleSessionName="s-a",
                            Policy=document(statement("Allow", "eks:ListClusters")))["Credentials"]
    code, message = error_of(lambda: session_client(server, "sts", first).assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/esc-second", RoleSessionName="s-b"))
    assert code == "AccessDenied" and "session policy" in message


# ---------------------------------------------------------------- AssumeRole: deny wins, unique IDs, tags


def test_an_explicit_deny_of_assume_role_wins_over_a_trust_policy_naming_the_caller(server: Server, iam: Any,
                                                                                      acct: str) -> None:
    arn, key = user(server, iam, "esc-denied", statement("Deny", "sts:AssumeRole"))
    iam.create_role(RoleName="esc-trusting", AssumeRolePolicyDocument=trust_policy(arn))
    code, message = error_of(lambda: server.client("sts", key=key).assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/esc-trusting", RoleSessionName="s-x"))
    assert (code, message) == ("AccessDenied", f"User: {arn} is not authorized to perform: sts:AssumeRole on resource: "
                                               f"arn:aws:iam::{acct}:role/esc-trusting with an explicit deny in an "
                                               "identity-based policy")


def test_a_recreated_namesake_does_not_inherit_trust(server: Server, iam: Any, acct: str) -> None:
    arn, key = user(server, iam, "esc-bob")
    old_id = iam.get_user(UserName="esc-bob")["User"]["UserId"]
    role_arn = iam.create_role(RoleName="esc-bobs", AssumeRolePolicyDocument=trust_policy(arn))["Role"]["Arn"]
    server.client("sts", key=key).assume_role(RoleArn=role_arn, RoleSessionName="before")
    iam.delete_access_key(UserName="esc-bob", AccessKeyId=key[0])
    iam.delete_user(UserName="esc-bob")
    _, new_key = user(server, iam, "esc-bob")
    assert error_of(lambda: server.client("sts", key=new_key).assume_role(RoleArn=role_arn, RoleSessionName="after"))[0] \
        == "AccessDenied"
    shown = iam.get_role(RoleName="esc-bobs")["Role"]["AssumeRolePolicyDocument"]  # botocore decodes it
    assert shown["Statement"][0]["Principal"]["AWS"] == old_id  # a deleted principal shows as its unique ID
    code, message = error_of(lambda: iam.create_role(
        RoleName="esc-ghost", AssumeRolePolicyDocument=trust_policy(f"arn:aws:iam::{acct}:user/esc-nobody")))
    assert (code, message) == ("MalformedPolicyDocument",
                               f'Invalid principal in policy: "AWS":"arn:aws:iam::{acct}:user/esc-nobody"')


def test_session_tags_and_source_identity_need_the_trust_policy_to_allow_them(server: Server, iam: Any,
                                                                              acct: str) -> None:
    arn, key = user(server, iam, "esc-tags")
    plain = iam.create_role(RoleName="esc-plain", AssumeRolePolicyDocument=trust_policy(arn))["Role"]["Arn"]
    tagging = iam.create_role(RoleName="esc-tagging", Tags=[{"Key": "team", "Value": "blue"}], AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": arn},
                                                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="esc-tagging", PolicyName="p", PolicyDocument=document(statement(
        "Allow", "eks:ListClusters", Condition={"StringEquals": {"aws:PrincipalTag/project": "x",
                                                                  "aws:PrincipalTag/team": "blue",
                                                                  "aws:SourceIdentity": "alice"}})))
    sts = server.client("sts", key=key)
    tags = [{"Key": "project", "Value": "x"}]
    assert error_of(lambda: sts.assume_role(RoleArn=plain, RoleSessionName="s-1", Tags=tags))[1].startswith(
        f"User: {arn} is not authorized to perform: sts:TagSession")
    assert "sts:SetSourceIdentity" in error_of(lambda: sts.assume_role(RoleArn=plain, RoleSessionName="s-1",
                                                                        SourceIdentity="alice"))[1]
    answer = sts.assume_role(RoleArn=tagging, RoleSessionName="s-1", Tags=tags, SourceIdentity="alice")
    assert answer["SourceIdentity"] == "alice"
    session_client(server, "eks", answer["Credentials"]).list_clusters()
    untagged = sts.assume_role(RoleArn=tagging, RoleSessionName="s2")["Credentials"]
    assert error_of(lambda: session_client(server, "eks", untagged).list_clusters())[0] == "AccessDeniedException"
    code, _ = error_of(lambda: sts.assume_role(RoleArn=tagging, RoleSessionName="s3", SerialNumber="arn:aws:iam::1:mfa/x",
                                                TokenCode="123456"))
    assert code == "ValidationError"


def test_mfa_present_is_false_for_sessions_and_absent_for_access_keys(server: Server, iam: Any, acct: str) -> None:
    """A Deny on ``Bool aws:MultiFactorAuthPresent false`` catches sessions only: AWS leaves the key out for
    long-term keys (the documented pitfall); ``BoolIfExists`` catches both."""
    deny_no_mfa = statement("Deny", "eks:ListClusters", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    arn, key = user(server, iam, "esc-mfa", statement("Allow", ["eks:ListClusters", "sts:AssumeRole"]), deny_no_mfa)
    server.client("eks", key=key).list_clusters()  # the key is absent: the Deny does not apply
    iam.create_role(RoleName="esc-mfa-role", AssumeRolePolicyDocument=trust_policy(arn))
    iam.put_role_policy(RoleName="esc-mfa-role", PolicyName="p",
                        PolicyDocument=document(statement("Allow", "eks:ListClusters"), deny_no_mfa))
    credentials = server.client("sts", key=key).assume_role(RoleArn=f"arn:aws:iam::{acct}:role/esc-mfa-role",
                                                            RoleSessionName="s-m")["Credentials"]
    assert error_of(lambda: session_client(server, "eks", credentials).list_clusters())[0] == "AccessDeniedException"


# ---------------------------------------------------------------- callers without UserName, quotas, PassRole


def test_non_user_callers_must_name_the_user(server: Server, iam: Any, acct: str) -> None:
    arn, key = user(server, iam, "esc-named", statement("Allow", "sts:AssumeRole"))
    iam.create_role(RoleName="esc-namesake", AssumeRolePolicyDocument=trust_policy(arn))
    iam.put_role_policy(RoleName="esc-namesake", PolicyName="p", PolicyDocument=document(statement("Allow", "iam:*")))
    iam.create_user(UserName="esc-namesake")  # a user sharing the role's name must not be acted on
    credentials = server.client("sts", key=key).assume_role(RoleArn=f"arn:aws:iam::{acct}:role/esc-namesake",
                                                            RoleSessionName="s-1")["Credentials"]
    as_session = session_client(server, "iam", credentials)
    for call in (as_session.create_access_key, as_session.get_user, as_session.list_access_keys):
        assert error_of(call) == ("ValidationError", "Must specify userName when calling with non-User credentials")
    assert iam.list_access_keys(UserName="esc-namesake")["AccessKeyMetadata"] == []
    root = iam.get_user()["User"]
    assert (root["Arn"], root["UserId"]) == (f"arn:aws:iam::{acct}:root", acct)
    assert server.credentials()[0] in [k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]]


def test_inline_policies_share_one_size_quota_per_principal(server: Server, iam: Any) -> None:
    iam.create_user(UserName="esc-quota")
    big = document(statement("Allow", "eks:ListClusters", Sid="x" * 1100))  # ~1,150 characters: fits alone, not twice
    iam.put_user_policy(UserName="esc-quota", PolicyName="one", PolicyDocument=big)
    iam.put_user_policy(UserName="esc-quota", PolicyName="one", PolicyDocument=big)  # replacing counts once
    assert error_of(lambda: iam.put_user_policy(UserName="esc-quota", PolicyName="two", PolicyDocument=big)) == (
        "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user esc-quota")


def test_create_cluster_needs_pass_role(server: Server, iam: Any, cluster_role: str) -> None:
    _, key = user(server, iam, "esc-passer", statement("Allow", "eks:CreateCluster"))
    eks = server.client("eks", key=key)
    code, message = error_of(lambda: eks.create_cluster(name="esc-passed", roleArn=cluster_role,
                                                        resourcesVpcConfig={"subnetIds": ["s"]}))
    assert code == "AccessDeniedException" and f"iam:PassRole on resource: {cluster_role}" in message
    iam.put_user_policy(UserName="esc-passer", PolicyName="pass", PolicyDocument=document(statement(
        "Allow", "iam:PassRole", cluster_role, Condition={"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}})))
    eks.create_cluster(name="esc-passed", roleArn=cluster_role, resourcesVpcConfig={"subnetIds": ["s"]})
    server.client("eks").delete_cluster(name="esc-passed")


def test_security_parameters_kubegate_does_not_implement_are_refused(server: Server, iam: Any, acct: str) -> None:
    boundary = f"arn:aws:iam::{acct}:policy/esc-boundary"
    assert error_of(lambda: iam.create_user(UserName="esc-bounded", PermissionsBoundary=boundary))[0] == "InvalidInput"
    assert error_of(lambda: iam.create_role(RoleName="esc-bounded", PermissionsBoundary=boundary,
                                            AssumeRolePolicyDocument=trust_policy(acct)))[0] == "InvalidInput"
    with pytest.raises(ClientError):
        iam.get_user(UserName="esc-bounded")


def test_a_node_entry_needs_pass_role_on_its_role(server: Server, iam: Any, acct: str, cluster_role: str) -> None:
    """EC2_LINUX/EC2_WINDOWS entries hand their node role to EKS: iam:PassRole, as CreateCluster's role."""
    cluster(server, "esc-nodes", cluster_role)
    node_role = iam.create_role(RoleName="esc-node", AssumeRolePolicyDocument=trust_policy(acct))["Role"]["Arn"]
    _, key = user(server, iam, "esc-noder", statement("Allow", "eks:*"))
    eks = server.client("eks", key=key)
    code, message = error_of(lambda: eks.create_access_entry(clusterName="esc-nodes", principalArn=node_role,
                                                             type="EC2_LINUX"))
    assert code == "AccessDeniedException" and f"iam:PassRole on resource: {node_role}" in message
    eks.create_access_entry(clusterName="esc-nodes", principalArn=node_role)  # STANDARD passes no role
    iam.put_user_policy(UserName="esc-noder", PolicyName="pass", PolicyDocument=document(statement(
        "Allow", "iam:PassRole", node_role, Condition={"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}})))
    eks.delete_access_entry(clusterName="esc-nodes", principalArn=node_role)
    eks.create_access_entry(clusterName="esc-nodes", principalArn=node_role, type="EC2_LINUX")
    server.client("eks").delete_cluster(name="esc-nodes")
