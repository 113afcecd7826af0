"""The stack layer's resource providers against kubegate's real EKS and IAM APIs.

Each provider is driven through create → update → read → delete, and every value it reports
(Ref, GetAtt) is checked against what the API's own Describe/Get answers. Nothing is mocked:
the calls run through botocore's serializer, the APIs' wire, the authorizer and the store.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from stack_harness import api_world, as_caller

from kubegate.api.stack_calls import ApiCalls
from kubegate.domain.caller import Caller
from kubegate.service.access import AccessService
from kubegate.service.stacks.calls import ServiceError
from kubegate.service.stacks.providers import PROVIDERS, NewResource, Provisioned, access_entry_id
from kubegate.service.stacks.providers._waiting import Waiter
from kubegate.service.stacks.providers.eks_cluster import ClusterProvider
from kubegate.service.stacks.providers.eks_identity_provider import IdentityProviderConfigProvider

CLUSTER = PROVIDERS["AWS::EKS::Cluster"]
ENTRY = PROVIDERS["AWS::EKS::AccessEntry"]
IDP = PROVIDERS["AWS::EKS::IdentityProviderConfig"]
ROLE = PROVIDERS["AWS::IAM::Role"]
USER = PROVIDERS["AWS::IAM::User"]
POLICY = PROVIDERS["AWS::IAM::Policy"]
MANAGED = PROVIDERS["AWS::IAM::ManagedPolicy"]
KEY = PROVIDERS["AWS::IAM::AccessKey"]
OIDC = PROVIDERS["AWS::IAM::OIDCProvider"]

VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
EKS_TRUST: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def allow(action: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


S3_READ, S3_WRITE = allow("s3:GetObject"), allow("s3:PutObject")


def resource(logical_id: str, stack_tags: dict[str, str] | None = None) -> NewResource:
    def generated_name(limit: int) -> str:  # the registry's shape, roughly: stack-logical-random
        return f"stack-{logical_id}"[: limit - 13] + "-" + secrets.token_hex(6)

    return NewResource(logical_id=logical_id, stack_name="stack", tags=stack_tags or {}, generated_name=generated_name)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ApiCalls, AccessService]]:
    with api_world(tmp_path) as pair:
        yield pair


@pytest.fixture
def call(world: tuple[ApiCalls, AccessService]) -> ApiCalls:
    return world[0]


def make_role(call: ApiCalls, name: str = "cluster-role") -> str:
    created = call("iam", "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(EKS_TRUST)})
    return str(created["Role"]["Arn"])


def make_cluster(call: ApiCalls, name: str = "c1", mode: str = "API") -> Provisioned:
    props = {"Name": name, "RoleArn": make_role(call, f"{name}-role"),
             "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]}, "AccessConfig": {"AuthenticationMode": mode}}
    return CLUSTER.create(call, resource("Cluster"), props)


def error_of(action: Any) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        action()
    return caught.value


# AWS::EKS::AccessEntry


def entry_props(principal: str, **more: Any) -> dict[str, Any]:
    return {"ClusterName": "c1", "PrincipalArn": principal, **more}


def test_access_entry_lifecycle(call: ApiCalls) -> None:
    make_cluster(call)
    principal = make_role(call, "dev")
    props = entry_props(
        principal, Username="dev-user", KubernetesGroups=["viewers", "devs"],
        AccessPolicies=[
            {"PolicyArn": VIEW, "AccessScope": {"Type": "namespace", "Namespaces": ["b", "a"]}},
            {"PolicyArn": EDIT, "AccessScope": {"Type": "cluster"}},
        ],
        Tags=[{"Key": "team", "Value": "blue"}, {"Key": "old", "Value": "x"}],
    )
    made = ENTRY.create(call, resource("Entry", {"env": "stack", "team": "stack"}), props)

    key = {"clusterName": "c1", "principalArn": principal}
    described = call("eks", "DescribeAccessEntry", key)["accessEntry"]
    assert made.ref == made.physical_id == access_entry_id(principal, "c1") == f"{principal}|c1"
    assert made.attributes == {"AccessEntryArn": described["accessEntryArn"]}
    assert described["username"] == "dev-user"
    assert sorted(described["kubernetesGroups"]) == ["devs", "viewers"]
    assert described["tags"] == {"env": "stack", "team": "blue", "old": "x"}  # the resource's own tags win
    associated = call("eks", "ListAssociatedAccessPolicies", key)["associatedAccessPolicies"]
    assert {a["policyArn"]: a["accessScope"]["type"] for a in associated} == {VIEW: "namespace", EDIT: "cluster"}

    # in place: groups and username, a changed scope, a removed policy, tags
    new = entry_props(
        principal, Username="dev2", KubernetesGroups=["devs"],
        AccessPolicies=[{"PolicyArn": VIEW, "AccessScope": {"Type": "namespace", "Namespaces": ["c"]}}],
        Tags=[{"Key": "team", "Value": "green"}],
    )
    updated = ENTRY.update(call, made, props, new)
    assert updated == made
    described = call("eks", "DescribeAccessEntry", key)["accessEntry"]
    assert (described["username"], described["kubernetesGroups"]) == ("dev2", ["devs"])
    assert described["tags"] == {"env": "stack", "team": "green"}
    associated = call("eks", "ListAssociatedAccessPolicies", key)["associatedAccessPolicies"]
    assert [(a["policyArn"], a["accessScope"]) for a in associated] == [
        (VIEW, {"type": "namespace", "namespaces": ["c"]})]

    assert ENTRY.read(call, updated, new) == {
        "ClusterName": "c1", "PrincipalArn": principal, "Type": "STANDARD", "Username": "dev2",
        "KubernetesGroups": ["devs"],
        "AccessPolicies": [{"PolicyArn": VIEW, "AccessScope": {"Type": "namespace", "Namespaces": ["c"]}}],
        "Tags": [{"Key": "team", "Value": "green"}],
    }
    # a change made behind the stack's back shows
    call("eks", "DisassociateAccessPolicy", {**key, "policyArn": VIEW})
    call("eks", "TagResource", {"resourceArn": described["accessEntryArn"], "tags": {"team": "red"}})
    drifted = ENTRY.read(call, updated, new)
    assert drifted is not None
    assert drifted["AccessPolicies"] == [] and drifted["Tags"] == [{"Key": "team", "Value": "red"}]

    ENTRY.delete(call, updated, new)
    assert error_of(lambda: call("eks", "DescribeAccessEntry", key)).code == "ResourceNotFoundException"
    ENTRY.delete(call, updated, new)  # already gone: fine
    assert ENTRY.read(call, updated, new) is None


def test_access_entry_whose_association_fails_leaves_nothing(call: ApiCalls) -> None:
    make_cluster(call)
    principal = make_role(call, "dev")
    props = entry_props(principal, AccessPolicies=[
        {"PolicyArn": VIEW, "AccessScope": {"Type": "cluster"}},
        {"PolicyArn": "arn:aws:eks::aws:cluster-access-policy/NoSuchPolicy", "AccessScope": {"Type": "cluster"}},
    ])
    error = error_of(lambda: ENTRY.create(call, resource("Entry"), props))
    assert error.service == "eks" and error.status == 400
    gone = error_of(lambda: call("eks", "DescribeAccessEntry", {"clusterName": "c1", "principalArn": principal}))
    assert gone.code == "ResourceNotFoundException"


def test_access_entry_with_a_system_group_fails_with_eks_message(call: ApiCalls) -> None:
    make_cluster(call)
    props = entry_props(make_role(call, "dev"), KubernetesGroups=["system:masters"])
    error = error_of(lambda: ENTRY.create(call, resource("Entry"), props))
    assert error.code == "InvalidParameterException"
    reason = error.reason()
    assert "The kubernetes group name system:masters is invalid, it cannot start with system:" in reason
    assert "(Service: Eks, Status Code: 400" in reason and "HandlerErrorCode: InvalidRequest" in reason


def test_access_entry_update_of_a_non_standard_entry_is_refused_by_eks(call: ApiCalls) -> None:
    make_cluster(call)
    props = entry_props(make_role(call, "nodes"), Type="EC2_LINUX")
    made = ENTRY.create(call, resource("Entry"), props)
    error = error_of(lambda: ENTRY.update(call, made, props, {**props, "KubernetesGroups": ["devs"]}))
    assert error.code == "InvalidParameterException" and "EC2_LINUX" in error.message


def test_a_caller_without_permissions_is_denied(call: ApiCalls) -> None:
    make_cluster(call)
    user = call("iam", "CreateUser", {"UserName": "nobody"})["User"]
    nobody = as_caller(call, Caller(arn=user["Arn"], user_id=user["UserId"], account=call.caller.account,
                                    principal_arn=user["Arn"]))
    error = error_of(lambda: ENTRY.create(nobody, resource("Entry"), entry_props(user["Arn"])))
    assert (error.code, error.handler_code) == ("AccessDeniedException", "AccessDenied")
    error = error_of(lambda: ROLE.create(nobody, resource("Role"), {"AssumeRolePolicyDocument": EKS_TRUST}))
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert "HandlerErrorCode: AccessDenied" in error.reason()

    # the same user, once allowed, succeeds: the calls are authorized as the caller, not refused outright
    call("iam", "PutUserPolicy", {"UserName": "nobody", "PolicyName": "eks",
                                  "PolicyDocument": json.dumps(allow("eks:*"))})
    made = ENTRY.create(nobody, resource("Entry"), entry_props(user["Arn"]))
    assert made.ref == f"{user['Arn']}|c1"


# AWS::EKS::Cluster


def test_cluster_lifecycle(world: tuple[ApiCalls, AccessService]) -> None:
    call, service = world
    props: dict[str, Any] = {
        "RoleArn": make_role(call), "Version": "1.31",
        "ResourcesVpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"],
                               "EndpointPublicAccess": True, "EndpointPrivateAccess": False},
        "AccessConfig": {"AuthenticationMode": "API_AND_CONFIG_MAP", "BootstrapClusterCreatorAdminPermissions": True},
        "Tags": [{"Key": "env", "Value": "own"}],
    }
    made = CLUSTER.create(call, resource("Cluster", {"env": "stack", "team": "a"}), props)
    name = made.ref
    assert made.physical_id == name and name.startswith("stack-Cluster-") and len(name) <= 100
    cluster = call("eks", "DescribeCluster", {"name": name})["cluster"]
    assert cluster["status"] == "ACTIVE" and cluster["version"] == "1.31"
    assert cluster["tags"] == {"env": "own", "team": "a"}
    assert cluster["resourcesVpcConfig"]["securityGroupIds"] == ["sg-1"]
    assert made.attributes == {
        "Arn": cluster["arn"], "Endpoint": "", "CertificateAuthorityData": "", "ClusterSecurityGroupId": "",
        "OpenIdConnectIssuerUrl": "", "EncryptionConfigKeyArn": "",
    }

    # once kubegate knows the cluster's API server, GetAtt reports it as DescribeCluster does
    service.set_cluster_endpoint(name, "https://10.0.0.1:6443", "Q0EgZGF0YQ==")
    new = {**props, "ResourcesVpcConfig": {**props["ResourcesVpcConfig"], "EndpointPrivateAccess": True,
                                           "PublicAccessCidrs": ["203.0.113.0/24"]},
           "AccessConfig": {**props["AccessConfig"], "AuthenticationMode": "API"},
           "Tags": [{"Key": "owner", "Value": "me"}]}
    updated = CLUSTER.update(call, made, props, new)
    cluster = call("eks", "DescribeCluster", {"name": name})["cluster"]
    assert updated.attributes["Arn"] == cluster["arn"]
    assert updated.attributes["Endpoint"] == cluster["endpoint"] == "https://10.0.0.1:6443"
    assert updated.attributes["CertificateAuthorityData"] == cluster["certificateAuthority"]["data"]
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    vpc = cluster["resourcesVpcConfig"]
    assert (vpc["endpointPrivateAccess"], vpc["publicAccessCidrs"]) == (True, ["203.0.113.0/24"])
    assert cluster["tags"] == {"team": "a", "owner": "me"}  # own tag removed, stack tag kept
    assert cluster["status"] == "ACTIVE"

    assert CLUSTER.read(call, updated, new) == {
        "Name": name, "RoleArn": props["RoleArn"], "Version": "1.31",
        "ResourcesVpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"],
                               "EndpointPublicAccess": True, "EndpointPrivateAccess": True,
                               "PublicAccessCidrs": ["203.0.113.0/24"]},
        "AccessConfig": {"AuthenticationMode": "API"},
        "Tags": [{"Key": "owner", "Value": "me"}],
    }
    call("eks", "UpdateClusterConfig", {"name": name, "resourcesVpcConfig": {"endpointPublicAccess": False}})
    drifted = CLUSTER.read(call, updated, new)
    assert drifted is not None and drifted["ResourcesVpcConfig"]["EndpointPublicAccess"] is False

    CLUSTER.delete(call, updated, new)
    assert error_of(lambda: call("eks", "DescribeCluster", {"name": name})).code == "ResourceNotFoundException"
    CLUSTER.delete(call, updated, new)
    assert CLUSTER.read(call, updated, new) is None


def test_cluster_updates_eks_refuses_or_kubegate_lacks(call: ApiCalls) -> None:
    made = make_cluster(call, mode="CONFIG_MAP")
    props = {"Name": "c1", "RoleArn": "x", "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]},
             "AccessConfig": {"AuthenticationMode": "CONFIG_MAP"}}
    # CONFIG_MAP → API skips a step: EKS's own refusal (spec §7 item 24)
    to_api = {**props, "AccessConfig": {"AuthenticationMode": "API"}}
    error = error_of(lambda: CLUSTER.update(call, made, props, to_api))
    assert error.code == "InvalidParameterException"
    assert "Unsupported authentication mode update from CONFIG_MAP to API" in error.reason()
    # no UpdateClusterVersion in kubegate: refused before anything changes
    error = error_of(lambda: CLUSTER.update(call, made, props, {
        **props, "Version": "1.35", "Tags": [{"Key": "a", "Value": "b"}]}))
    assert error.code == "ValidationError" and "Version of AWS::EKS::Cluster" in error.message
    assert call("eks", "DescribeCluster", {"name": "c1"})["cluster"]["tags"] == {}


def test_cluster_create_gives_up_after_the_timeout_and_deletes_it(call: ApiCalls) -> None:
    ticks = iter(range(1000))
    never = Waiter(interval=0, timeout=3, sleep=lambda _: None, clock=lambda: float(next(ticks)))
    slow = ClusterProvider(never)
    role = make_role(call)
    original = call.__call__

    def creating_forever(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = original(service, operation, params)
        if operation == "DescribeCluster":
            answer["cluster"]["status"] = "CREATING"
        return answer

    error = error_of(lambda: slow.create(creating_forever, resource("Cluster"),
                                         {"Name": "slow", "RoleArn": role,
                                          "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]}}))
    assert "did not happen within 3 seconds" in error.message
    assert call("eks", "ListClusters", {})["clusters"] == []


# AWS::EKS::IdentityProviderConfig


def test_identity_provider_config_lifecycle(call: ApiCalls) -> None:
    make_cluster(call)
    props = {"ClusterName": "c1", "Type": "oidc",
             "Oidc": {"ClientId": "kubernetes", "IssuerUrl": "https://issuer.example.com",
                      "UsernameClaim": "email", "RequiredClaims": [{"Key": "hd", "Value": "example.com"}]},
             "Tags": [{"Key": "a", "Value": "1"}]}
    made = IDP.create(call, resource("Idp", {"s": "t"}), props)
    name = made.ref.split("|")[0]
    assert made.ref == made.physical_id == f"{name}|c1|oidc" and name.startswith("stack-Idp-")
    spec = {"clusterName": "c1", "identityProviderConfig": {"type": "oidc", "name": name}}
    config = call("eks", "DescribeIdentityProviderConfig", spec)["identityProviderConfig"]["oidc"]
    assert config["status"] == "ACTIVE" and config["requiredClaims"] == {"hd": "example.com"}
    assert made.attributes == {"IdentityProviderConfigArn": config["identityProviderConfigArn"]}
    assert config["tags"] == {"a": "1", "s": "t"}

    new = {**props, "Tags": [{"Key": "b", "Value": "2"}]}
    updated = IDP.update(call, made, props, new)
    assert updated == made
    config = call("eks", "DescribeIdentityProviderConfig", spec)["identityProviderConfig"]["oidc"]
    assert config["tags"] == {"b": "2", "s": "t"}
    assert IDP.read(call, updated, new) == {
        "ClusterName": "c1", "Type": "oidc", "IdentityProviderConfigName": name,
        "Oidc": {"ClientId": "kubernetes", "IssuerUrl": "https://issuer.example.com", "UsernameClaim": "email",
                 "RequiredClaims": [{"Key": "hd", "Value": "example.com"}]},
        "Tags": [{"Key": "b", "Value": "2"}],
    }

    fast = IdentityProviderConfigProvider(Waiter(interval=0.01))
    fast.delete(call, updated, new)
    assert error_of(lambda: call("eks", "DescribeIdentityProviderConfig", spec)).code == "ResourceNotFoundException"
    fast.delete(call, updated, new)
    assert IDP.read(call, updated, new) is None


# AWS::IAM::Role


def make_managed_policy(call: ApiCalls, name: str) -> str:
    created = call("iam", "CreatePolicy", {"PolicyName": name, "PolicyDocument": json.dumps(S3_READ)})
    return str(created["Policy"]["Arn"])


def test_role_lifecycle(call: ApiCalls) -> None:
    managed = [make_managed_policy(call, "m1"), make_managed_policy(call, "m2")]
    props: dict[str, Any] = {
        "AssumeRolePolicyDocument": EKS_TRUST, "Path": "/team/", "Description": "d", "MaxSessionDuration": 7200,
        "Policies": [{"PolicyName": "read", "PolicyDocument": S3_READ},
                     {"PolicyName": "write", "PolicyDocument": json.dumps(S3_WRITE)}],
        "ManagedPolicyArns": managed, "Tags": [{"Key": "k", "Value": "v"}],
    }
    made = ROLE.create(call, resource("AppRole", {"stack": "s"}), props)
    name = made.ref
    assert made.physical_id == name and name.startswith("stack-AppRole-") and len(name) <= 64
    role = call("iam", "GetRole", {"RoleName": name})["Role"]
    assert made.attributes == {"Arn": role["Arn"], "RoleId": role["RoleId"]}
    assert role["Arn"].endswith(f":role/team/{name}")
    assert (role["Description"], role["MaxSessionDuration"]) == ("d", 7200)
    assert json.loads(unquote(role["AssumeRolePolicyDocument"])) == EKS_TRUST
    assert sorted(call("iam", "ListRolePolicies", {"RoleName": name})["PolicyNames"]) == ["read", "write"]

    trust = {**EKS_TRUST, "Statement": [{**EKS_TRUST["Statement"][0], "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    new = {**props, "AssumeRolePolicyDocument": json.dumps(trust),
           "Policies": [{"PolicyName": "read", "PolicyDocument": S3_WRITE}], "ManagedPolicyArns": managed[:1],
           "Tags": [{"Key": "k", "Value": "w"}]}
    updated = ROLE.update(call, made, props, new)
    assert updated == made
    assert ROLE.read(call, updated, new) == {
        "RoleName": name, "Path": "/team/", "AssumeRolePolicyDocument": trust, "Description": "d",
        "MaxSessionDuration": 7200, "Policies": [{"PolicyName": "read", "PolicyDocument": S3_WRITE}],
        "ManagedPolicyArns": managed[:1], "Tags": [{"Key": "k", "Value": "w"}],
    }
    tags = call("iam", "ListRoleTags", {"RoleName": name})["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("k", "w"), ("stack", "s")]
    call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": managed[0]})
    drifted = ROLE.read(call, updated, new)
    assert drifted is not None and drifted["ManagedPolicyArns"] == []

    error = error_of(lambda: ROLE.update(call, updated, new, {**new, "Description": "other"}))
    assert error.code == "ValidationError" and "Description of AWS::IAM::Role" in error.message

    call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": managed[1]})  # attached out of band
    ROLE.delete(call, updated, new)
    assert error_of(lambda: call("iam", "GetRole", {"RoleName": name})).code == "NoSuchEntity"
    ROLE.delete(call, updated, new)
    assert ROLE.read(call, updated, new) is None


def test_role_whose_policy_fails_is_undone(call: ApiCalls) -> None:
    props = {"RoleName": "half", "AssumeRolePolicyDocument": json.dumps(EKS_TRUST),
             "Policies": [{"PolicyName": "read", "PolicyDocument": S3_READ}],
             "ManagedPolicyArns": ["arn:aws:iam::123456789012:policy/missing"]}
    error = error_of(lambda: ROLE.create(call, resource("Role"), props))
    assert error.code == "NoSuchEntity"
    assert error_of(lambda: call("iam", "GetRole", {"RoleName": "half"})).code == "NoSuchEntity"


def test_role_permissions_boundary_is_refused_by_iam(call: ApiCalls) -> None:
    props = {"RoleName": "bounded", "AssumeRolePolicyDocument": EKS_TRUST,
             "PermissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess"}
    error = error_of(lambda: ROLE.create(call, resource("Role"), props))
    assert error.code == "InvalidInput" and "permissions boundaries" in error.message


# AWS::IAM::User


def test_user_lifecycle(call: ApiCalls) -> None:
    managed = make_managed_policy(call, "m1")
    props: dict[str, Any] = {"UserName": "alice", "Path": "/people/", "ManagedPolicyArns": [managed],
                             "Policies": [{"PolicyName": "read", "PolicyDocument": S3_READ}],
                             "Tags": [{"Key": "k", "Value": "v"}]}
    made = USER.create(call, resource("User"), props)
    user = call("iam", "GetUser", {"UserName": "alice"})["User"]
    assert (made.ref, made.physical_id, made.attributes) == ("alice", "alice", {"Arn": user["Arn"]})
    assert user["Arn"].endswith(":user/people/alice")

    new = {**props, "ManagedPolicyArns": [], "Policies": [{"PolicyName": "write", "PolicyDocument": S3_WRITE}]}
    USER.update(call, made, props, new)
    assert USER.read(call, made, new) == {
        "UserName": "alice", "Path": "/people/", "ManagedPolicyArns": [],
        "Policies": [{"PolicyName": "write", "PolicyDocument": S3_WRITE}], "Tags": [{"Key": "k", "Value": "v"}],
    }
    error = error_of(lambda: USER.update(call, made, new, {**new, "LoginProfile": {"Password": "p"}}))
    assert error.code == "ValidationError" and "LoginProfile of AWS::IAM::User" in error.message
    error = error_of(lambda: USER.create(call, resource("U2"), {"Groups": ["admins"]}))
    assert "Groups of AWS::IAM::User" in error.reason()
    assert [u["UserName"] for u in call("iam", "ListUsers", {})["Users"]] == ["alice"]

    USER.delete(call, made, new)
    assert error_of(lambda: call("iam", "GetUser", {"UserName": "alice"})).code == "NoSuchEntity"
    USER.delete(call, made, new)
    assert USER.read(call, made, new) is None


# AWS::IAM::Policy


def test_inline_policy_lifecycle(call: ApiCalls) -> None:
    ROLE.create(call, resource("R"), {"RoleName": "r", "AssumeRolePolicyDocument": EKS_TRUST})
    USER.create(call, resource("U"), {"UserName": "u"})
    props = {"PolicyName": "p", "PolicyDocument": S3_READ, "Roles": ["r"], "Users": ["u"]}
    made = POLICY.create(call, resource("Policy"), props)
    assert made.ref == made.physical_id == made.attributes["Id"] and made.ref.startswith("stack-Policy-")
    got = call("iam", "GetUserPolicy", {"UserName": "u", "PolicyName": "p"})
    assert json.loads(unquote(got["PolicyDocument"])) == S3_READ

    new = {**props, "PolicyDocument": json.dumps(S3_WRITE), "Users": []}
    assert POLICY.update(call, made, props, new) == made
    assert call("iam", "ListUserPolicies", {"UserName": "u"})["PolicyNames"] == []
    assert POLICY.read(call, made, new) == {"PolicyName": "p", "PolicyDocument": S3_WRITE,
                                            "Roles": ["r"], "Users": []}
    call("iam", "PutRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": json.dumps(S3_READ)})
    assert POLICY.read(call, made, new)["PolicyDocument"] == S3_READ  # type: ignore[index]

    POLICY.delete(call, made, new)
    assert call("iam", "ListRolePolicies", {"RoleName": "r"})["PolicyNames"] == []
    POLICY.delete(call, made, new)
    assert POLICY.read(call, made, new) is None


# AWS::IAM::ManagedPolicy


def test_managed_policy_lifecycle(call: ApiCalls) -> None:
    ROLE.create(call, resource("R"), {"RoleName": "r", "AssumeRolePolicyDocument": EKS_TRUST})
    USER.create(call, resource("U"), {"UserName": "u"})
    props = {"PolicyDocument": S3_READ, "Path": "/p/", "Description": "reads", "Roles": ["r"], "Users": ["u"]}
    made = MANAGED.create(call, resource("Managed"), props)
    policy = call("iam", "GetPolicy", {"PolicyArn": made.ref})["Policy"]
    assert made.ref == made.physical_id == policy["Arn"] and policy["PolicyName"].startswith("stack-Managed-")
    assert made.attributes == {
        "PolicyArn": policy["Arn"], "PolicyId": policy["PolicyId"], "DefaultVersionId": "v1",
        "AttachmentCount": 2, "IsAttachable": True, "PermissionsBoundaryUsageCount": 0,
        "CreateDate": policy["CreateDate"].isoformat().replace("+00:00", "Z"),
        "UpdateDate": policy["UpdateDate"].isoformat().replace("+00:00", "Z"),
    }

    new = {**props, "PolicyDocument": json.dumps(S3_READ), "Users": []}  # the same document, as text
    updated = MANAGED.update(call, made, props, new)
    assert updated.attributes["AttachmentCount"] == 1
    assert call("iam", "ListAttachedUserPolicies", {"UserName": "u"})["AttachedPolicies"] == []
    assert MANAGED.read(call, updated, new) == {"ManagedPolicyName": policy["PolicyName"], "Path": "/p/",
                                                "Description": "reads", "PolicyDocument": S3_READ,
                                                "Roles": ["r"], "Users": []}
    error = error_of(lambda: MANAGED.update(call, updated, new, {**new, "PolicyDocument": S3_WRITE}))
    assert error.code == "ValidationError" and "PolicyDocument of AWS::IAM::ManagedPolicy" in error.message

    MANAGED.delete(call, updated, new)
    assert error_of(lambda: call("iam", "GetPolicy", {"PolicyArn": made.ref})).code == "NoSuchEntity"
    assert call("iam", "ListAttachedRolePolicies", {"RoleName": "r"})["AttachedPolicies"] == []
    MANAGED.delete(call, updated, new)
    assert MANAGED.read(call, updated, new) is None


# AWS::IAM::AccessKey


def test_access_key_lifecycle(call: ApiCalls) -> None:
    USER.create(call, resource("U"), {"UserName": "u"})
    props = {"UserName": "u", "Status": "Inactive"}
    made = KEY.create(call, resource("Key"), props)
    listed = call("iam", "ListAccessKeys", {"UserName": "u"})["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(made.ref, "Inactive")]
    assert made.physical_id == made.ref and len(made.attributes["SecretAccessKey"]) == 40

    new = {**props, "Status": "Active"}
    assert KEY.update(call, made, props, new) == made  # the secret is kept: IAM shows it once
    assert KEY.read(call, made, new) == {"UserName": "u", "Status": "Active"}

    KEY.delete(call, made, new)
    assert call("iam", "ListAccessKeys", {"UserName": "u"})["AccessKeyMetadata"] == []
    KEY.delete(call, made, new)
    assert KEY.read(call, made, new) is None


# AWS::IAM::OIDCProvider


def test_oidc_provider_lifecycle(call: ApiCalls) -> None:
    thumb_a, thumb_b = "a" * 40, "b" * 40
    props = {"Url": "https://oidc.example.com/id/1", "ClientIdList": ["sts.amazonaws.com"],
             "ThumbprintList": [thumb_a], "Tags": [{"Key": "k", "Value": "v"}]}
    made = OIDC.create(call, resource("Oidc", {"s": "t"}), props)
    listed = call("iam", "ListOpenIDConnectProviders", {})["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in listed] == [made.ref]
    assert made.ref.endswith(":oidc-provider/oidc.example.com/id/1") and made.attributes == {"Arn": made.ref}

    new = {**props, "ClientIdList": ["kubernetes"], "ThumbprintList": [thumb_b, thumb_a],
           "Tags": [{"Key": "k2", "Value": "v2"}]}
    assert OIDC.update(call, made, props, new) == made
    got = call("iam", "GetOpenIDConnectProvider", {"OpenIDConnectProviderArn": made.ref})
    assert got["ClientIDList"] == ["kubernetes"] and sorted(got["ThumbprintList"]) == [thumb_a, thumb_b]
    assert sorted((t["Key"], t["Value"]) for t in got["Tags"]) == [("k2", "v2"), ("s", "t")]
    assert OIDC.read(call, made, new) == {"Url": "https://oidc.example.com/id/1", "ClientIdList": ["kubernetes"],
                                          "ThumbprintList": [thumb_a, thumb_b], "Tags": [{"Key": "k2", "Value": "v2"}]}

    OIDC.delete(call, made, new)
    assert call("iam", "ListOpenIDConnectProviders", {})["OpenIDConnectProviderList"] == []
    OIDC.delete(call, made, new)
    assert OIDC.read(call, made, new) is None


def test_every_type_has_a_provider() -> None:
    assert sorted(PROVIDERS) == sorted([
        "AWS::EKS::Cluster", "AWS::EKS::AccessEntry", "AWS::EKS::IdentityProviderConfig", "AWS::IAM::Role",
        "AWS::IAM::User", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::AccessKey",
        "AWS::IAM::OIDCProvider"])
    assert all(p.type_name == t for t, p in PROVIDERS.items())
