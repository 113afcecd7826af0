"""The EKS management API, driven with boto3 against a running kubegate over HTTPS.

botocore parses every answer with the EKS model, so a response of the wrong shape fails
here as it would fail for a user.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Server, ensure_role, ensure_user

POLICY = "arn:aws:eks::aws:cluster-access-policy/"
VIEW, EDIT, ADMIN = POLICY + "AmazonEKSViewPolicy", POLICY + "AmazonEKSEditPolicy", POLICY + "AmazonEKSClusterAdminPolicy"
_names = itertools.count()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def cluster(eks: Any, server: Server) -> Iterator[str]:
    """A fresh API_AND_CONFIG_MAP cluster per test."""
    name = f"c{next(_names)}"
    eks.create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{server.account()}:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
    )
    yield name
    try:
        eks.delete_cluster(name=name)
    except ClientError:
        pass


def role(server: Server, name: str = "dev", path: str = "/") -> str:
    """A real role of kubegate's IAM: EKS refuses entries for principals that do not exist."""
    return ensure_role(server, name, path)


# clusters


def test_create_cluster_echoes_inputs_and_defaults(eks: Any, server: Server) -> None:
    created = eks.create_cluster(
        name="shape",
        version="1.31",
        roleArn=role(server, "eks"),
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"], "endpointPrivateAccess": True},
        tags={"team": "platform"},
        accessConfig={"authenticationMode": "API"},
    )["cluster"]
    assert created["status"] == "CREATING"
    assert created["arn"] == f"arn:aws:eks:us-east-1:{server.account()}:cluster/shape"
    assert created["version"] == "1.31"
    assert created["resourcesVpcConfig"]["subnetIds"] == ["subnet-1", "subnet-2"]
    assert created["resourcesVpcConfig"]["endpointPrivateAccess"] is True
    assert created["resourcesVpcConfig"]["endpointPublicAccess"] is True
    assert created["accessConfig"] == {"bootstrapClusterCreatorAdminPermissions": True, "authenticationMode": "API"}
    assert created["tags"] == {"team": "platform"}
    described = eks.describe_cluster(name="shape")["cluster"]
    assert described["status"] == "ACTIVE"
    assert described["createdAt"] == created["createdAt"]
    assert "shape" in eks.list_clusters()["clusters"]
    deleted = eks.delete_cluster(name="shape")["cluster"]
    assert deleted["status"] == "DELETING"
    with pytest.raises(ClientError) as excinfo:
        eks.describe_cluster(name="shape")
    assert error_of(excinfo) == ("ResourceNotFoundException", "No cluster found for name: shape.", 404)


def test_default_mode_is_config_map_and_gates_access_entries(eks: Any, server: Server) -> None:
    eks.create_cluster(name="legacy", roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    try:
        cluster = eks.describe_cluster(name="legacy")["cluster"]
        assert cluster["accessConfig"]["authenticationMode"] == "CONFIG_MAP"
        assert cluster["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True
        gated = [
            lambda: eks.create_access_entry(clusterName="legacy", principalArn=role(server)),
            lambda: eks.describe_access_entry(clusterName="legacy", principalArn=role(server)),
            lambda: eks.list_access_entries(clusterName="legacy"),
            lambda: eks.associate_access_policy(clusterName="legacy", principalArn=role(server), policyArn=VIEW,
                                                accessScope={"type": "cluster"}),
        ]
        for call in gated:
            with pytest.raises(ClientError) as excinfo:
                call()
            assert error_of(excinfo) == (
                "InvalidRequestException",
                "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
                400,
            )
        # The creator's system:masters mapping becomes a visible entry when access entries are enabled.
        eks.update_cluster_config(name="legacy", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        root = f"arn:aws:iam::{server.account()}:root"
        assert eks.list_access_entries(clusterName="legacy")["accessEntries"] == [root]
        policies = eks.list_associated_access_policies(clusterName="legacy", principalArn=root)
        assert [p["policyArn"] for p in policies["associatedAccessPolicies"]] == [ADMIN]
    finally:
        eks.delete_cluster(name="legacy")


def test_create_cluster_errors(eks: Any, server: Server, cluster: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        eks.create_cluster(name=cluster, roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    assert error_of(excinfo) == ("ResourceInUseException", f"Cluster already exists with name: {cluster}", 409)
    with pytest.raises(ClientError) as excinfo:
        eks.create_cluster(
            name="nobootstrap", roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
            accessConfig={"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": False},
        )
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP",
        400,
    )
    with pytest.raises(ClientError) as excinfo:
        eks.create_cluster(name="-bad", roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        eks.create_cluster(name="dev!", roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    assert error_of(excinfo)[0] == "InvalidParameterException" and "regular expression pattern" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        eks.describe_cluster(name="bad.name")
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterException" and message.startswith("The clusterName parameter contains invalid characters")


def test_creator_gets_a_cluster_admin_entry(eks: Any, server: Server, cluster: str) -> None:
    root = f"arn:aws:iam::{server.account()}:root"
    entry = eks.describe_access_entry(clusterName=cluster, principalArn=root)["accessEntry"]
    assert entry["type"] == "STANDARD" and entry["username"] == root
    policies = eks.list_associated_access_policies(clusterName=cluster, principalArn=root)["associatedAccessPolicies"]
    assert [(p["policyArn"], p["accessScope"]) for p in policies] == [(ADMIN, {"type": "cluster", "namespaces": []})]
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName=cluster, principalArn=root)
    assert error_of(excinfo)[0] == "ResourceInUseException"


def test_no_creator_entry_without_bootstrap(eks: Any, server: Server) -> None:
    eks.create_cluster(
        name="nocreator", roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
        accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    )
    try:
        assert eks.list_access_entries(clusterName="nocreator")["accessEntries"] == []
    finally:
        eks.delete_cluster(name="nocreator")


# authentication modes


def test_mode_moves_forward_only(eks: Any, server: Server) -> None:
    eks.create_cluster(name="modes", roleArn=role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    try:
        def refused(new: str, current: str) -> None:
            with pytest.raises(ClientError) as excinfo:
                eks.update_cluster_config(name="modes", accessConfig={"authenticationMode": new})
            assert error_of(excinfo) == (
                "InvalidParameterException", f"Unsupported authentication mode update from {current} to {new}", 400
            )

        refused("API", "CONFIG_MAP")
        refused("CONFIG_MAP", "CONFIG_MAP")
        update = eks.update_cluster_config(name="modes", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})["update"]
        assert update["type"] == "AccessConfigUpdate" and update["status"] == "InProgress"
        assert update["params"] == [{"type": "AuthenticationMode", "value": "API_AND_CONFIG_MAP"}]
        described = eks.describe_update(name="modes", updateId=update["id"])["update"]
        assert described["status"] == "Successful"
        refused("CONFIG_MAP", "API_AND_CONFIG_MAP")
        refused("API_AND_CONFIG_MAP", "API_AND_CONFIG_MAP")
        second = eks.update_cluster_config(name="modes", accessConfig={"authenticationMode": "API"})["update"]
        refused("API_AND_CONFIG_MAP", "API")
        refused("CONFIG_MAP", "API")
        assert eks.list_updates(name="modes")["updateIds"] == [update["id"], second["id"]]
        assert eks.describe_cluster(name="modes")["cluster"]["accessConfig"]["authenticationMode"] == "API"
        with pytest.raises(ClientError) as excinfo:
            eks.update_cluster_config(
                name="modes", accessConfig={"authenticationMode": "API"},
                logging={"clusterLogging": [{"types": ["api"], "enabled": True}]},
            )
        assert error_of(excinfo) == ("InvalidParameterException", "Only one type of update can be allowed.", 400)
        with pytest.raises(ClientError) as excinfo:
            eks.describe_update(name="modes", updateId="00000000-0000-0000-0000-000000000000")
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
    finally:
        eks.delete_cluster(name="modes")


# access entries


def test_entry_defaults_by_type(eks: Any, server: Server, cluster: str) -> None:
    acct = server.account()
    cases = [
        (role(server, "dev", "/team/apps/"), None, f"arn:aws:sts::{acct}:assumed-role/dev/{{{{SessionName}}}}", []),
        (ensure_user(server, "alice"), None, f"arn:aws:iam::{acct}:user/alice", []),
        (role(server, "nodes"), "EC2_LINUX", "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]),
        (role(server, "win"), "EC2_WINDOWS", "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]),
        (role(server, "fargate"), "FARGATE_LINUX", "system:node:{{SessionName}}", ["system:nodes"]),
        (role(server, "hybrid"), "HYBRID_LINUX", "system:node:{{SessionName}}", ["system:nodes"]),
    ]
    for principal, entry_type, username, groups in cases:
        kwargs = {"type": entry_type} if entry_type else {}
        entry = eks.create_access_entry(clusterName=cluster, principalArn=principal, **kwargs)["accessEntry"]
        assert entry["principalArn"] == principal
        assert entry["type"] == (entry_type or "STANDARD")
        assert entry["username"] == username
        assert entry["kubernetesGroups"] == groups
        assert entry["tags"] == {}
        kind = "user" if ":user/" in principal else "role"
        name = principal.rsplit("/", 1)[1]
        prefix = f"arn:aws:eks:us-east-1:{acct}:access-entry/{cluster}/{kind}/{acct}/{name}/"
        assert entry["accessEntryArn"].startswith(prefix)
        assert len(entry["accessEntryArn"].removeprefix(prefix)) == 36
        assert eks.describe_access_entry(clusterName=cluster, principalArn=principal)["accessEntry"] == entry


def test_entry_validation_errors(eks: Any, server: Server, cluster: str) -> None:
    acct = server.account()

    def refused(message: str, code: str = "InvalidParameterException", **kwargs: Any) -> None:
        with pytest.raises(ClientError) as excinfo:
            eks.create_access_entry(clusterName=cluster, **{"principalArn": role(server, "x"), **kwargs})
        assert error_of(excinfo)[:2] == (code, message)

    refused("The principalArn parameter format is not valid", principalArn=f"arn:aws:sts::{acct}:assumed-role/dev/alice")
    refused("The principalArn parameter format is not valid", principalArn="not-an-arn")
    refused(
        "The caller is not allowed to modify access entries with a principalArn value of a Service Linked Role",
        principalArn=f"arn:aws:iam::{acct}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS",
    )
    refused("The specified principalArn is invalid: invalid principal.", principalArn=f"arn:aws:iam::{acct}:role/ghost")
    refused("The specified principalArn is invalid: invalid principal.", principalArn=f"arn:aws:iam::{acct}:user/ghost")
    role(server, "pathed", "/team/")
    refused("The specified principalArn is invalid: invalid principal.", principalArn=f"arn:aws:iam::{acct}:role/pathed")
    refused("The kubernetes group name system:masters is invalid, it cannot start with system:",
            kubernetesGroups=["admins", "system:masters"])
    for prefix in ("system:", "eks:", "aws:", "amazon:", "iam:"):
        refused(f"The username must not begin with {prefix}", username=f"{prefix}me")
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName=cluster, principalArn=role(server, "x"), username="john{{SessionName}}")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    ok = eks.create_access_entry(clusterName=cluster, principalArn=role(server, "colon"), username="jo:hn{{SessionName}}")
    assert ok["accessEntry"]["username"] == "jo:hn{{SessionName}}"
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName=cluster, principalArn=role(server, "n1"), type="EC2_LINUX", username="me")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName=cluster, principalArn=role(server, "n2"), type="EC2_LINUX", kubernetesGroups=["g"])
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName=cluster, principalArn=ensure_user(server, "u"), type="EC2_LINUX")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName=cluster, principalArn=role(server, "t"), type="BOGUS")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    eks.create_access_entry(clusterName=cluster, principalArn=role(server, "dup"))
    refused("The specified access entry resource is already in use on this cluster.", "ResourceInUseException",
            principalArn=role(server, "dup"))
    # A principal of another account is accepted, as EKS accepts cross-account principals.
    other = "arn:aws:iam::999999999999:role/partner"
    assert eks.create_access_entry(clusterName=cluster, principalArn=other)["accessEntry"]["principalArn"] == other
    with pytest.raises(ClientError) as excinfo:
        eks.create_access_entry(clusterName="missing", principalArn=role(server))
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", "No cluster found for name: missing.")


def test_idempotent_create_with_client_request_token(eks: Any, server: Server, cluster: str) -> None:
    first = eks.create_access_entry(clusterName=cluster, principalArn=role(server, "idem"), clientRequestToken="tok-1")
    again = eks.create_access_entry(clusterName=cluster, principalArn=role(server, "idem"), clientRequestToken="tok-1")
    assert again["accessEntry"]["accessEntryArn"] == first["accessEntry"]["accessEntryArn"]


def test_list_entries_paginates_in_arn_order(eks: Any, server: Server, cluster: str) -> None:
    principals = [role(server, f"r{i:02d}") for i in range(7)]
    for principal in reversed(principals):
        eks.create_access_entry(clusterName=cluster, principalArn=principal)
    root = f"arn:aws:iam::{server.account()}:root"
    pages = list(eks.get_paginator("list_access_entries").paginate(clusterName=cluster, PaginationConfig={"PageSize": 3}))
    assert [len(p["accessEntries"]) for p in pages] == [3, 3, 2]
    assert [arn for p in pages for arn in p["accessEntries"]] == sorted(principals + [root])
    assert "nextToken" not in pages[-1]
    eks.associate_access_policy(clusterName=cluster, principalArn=principals[3], policyArn=VIEW,
                                accessScope={"type": "cluster"})
    assert eks.list_access_entries(clusterName=cluster, associatedPolicyArn=VIEW)["accessEntries"] == [principals[3]]
    unchecked = server.client("eks", config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    for bad in (0, 101):
        with pytest.raises(ClientError) as excinfo:
            unchecked.list_access_entries(clusterName=cluster, maxResults=bad)
        assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        eks.list_access_entries(clusterName=cluster, nextToken="garbage!")
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_update_entry_is_declarative_and_delete_removes_policies(eks: Any, server: Server, cluster: str) -> None:
    principal = role(server, "upd")
    created = eks.create_access_entry(clusterName=cluster, principalArn=principal, kubernetesGroups=["a", "b"])["accessEntry"]
    changed = eks.update_access_entry(clusterName=cluster, principalArn=principal, username="dev:{{SessionName}}")["accessEntry"]
    assert changed["username"] == "dev:{{SessionName}}"
    assert changed["kubernetesGroups"] == []  # groups are declarative: omitted means none
    assert changed["createdAt"] == created["createdAt"] and changed["modifiedAt"] >= created["modifiedAt"]
    changed = eks.update_access_entry(clusterName=cluster, principalArn=principal, kubernetesGroups=["c"])["accessEntry"]
    assert changed["kubernetesGroups"] == ["c"] and changed["username"] == "dev:{{SessionName}}"
    with pytest.raises(ClientError) as excinfo:
        eks.update_access_entry(clusterName=cluster, principalArn=principal, kubernetesGroups=["system:nodes"])
    assert error_of(excinfo)[1] == "The kubernetes group name system:nodes is invalid, it cannot start with system:"
    node = role(server, "node-upd")
    eks.create_access_entry(clusterName=cluster, principalArn=node, type="EC2_LINUX")
    with pytest.raises(ClientError) as excinfo:
        eks.update_access_entry(clusterName=cluster, principalArn=node, username="system:node:{{EC2PrivateDNSName}}")
    assert error_of(excinfo)[:2] == ("InvalidParameterException", "The username must not begin with system:")
    eks.associate_access_policy(clusterName=cluster, principalArn=principal, policyArn=VIEW, accessScope={"type": "cluster"})
    eks.delete_access_entry(clusterName=cluster, principalArn=principal)
    with pytest.raises(ClientError) as excinfo:
        eks.describe_access_entry(clusterName=cluster, principalArn=principal)
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
        404,
    )
    eks.create_access_entry(clusterName=cluster, principalArn=principal)
    assert eks.list_associated_access_policies(clusterName=cluster, principalArn=principal)["associatedAccessPolicies"] == []


# access policies


def test_list_access_policies_is_the_whole_catalogue(eks: Any) -> None:
    policies = [p for page in eks.get_paginator("list_access_policies").paginate() for p in page["accessPolicies"]]
    names = [p["name"] for p in policies]
    assert names == sorted(names) and len(names) == len(set(names)) >= 30
    for expected in ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy",
                     "AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy", "AmazonEKSAutoNodePolicy"):
        assert {"name": expected, "arn": POLICY + expected} in policies
    first = eks.list_access_policies(maxResults=5)
    assert [p["name"] for p in first["accessPolicies"]] == names[:5]
    second = eks.list_access_policies(maxResults=5, nextToken=first["nextToken"])
    assert [p["name"] for p in second["accessPolicies"]] == names[5:10]


def test_associate_replaces_scope_and_disassociate(eks: Any, server: Server, cluster: str) -> None:
    principal = role(server, "pol")
    eks.create_access_entry(clusterName=cluster, principalArn=principal)
    answer = eks.associate_access_policy(
        clusterName=cluster, principalArn=principal, policyArn=VIEW,
        accessScope={"type": "namespace", "namespaces": ["team-a", "dev-*"]},
    )
    assert answer["clusterName"] == cluster and answer["principalArn"] == principal
    first = answer["associatedAccessPolicy"]
    assert first["accessScope"] == {"type": "namespace", "namespaces": ["team-a", "dev-*"]}
    again = eks.associate_access_policy(
        clusterName=cluster, principalArn=principal, policyArn=VIEW, accessScope={"type": "cluster"}
    )["associatedAccessPolicy"]
    assert again["accessScope"] == {"type": "cluster", "namespaces": []}
    assert again["associatedAt"] == first["associatedAt"]
    eks.associate_access_policy(clusterName=cluster, principalArn=principal, policyArn=EDIT,
                                accessScope={"type": "namespace", "namespaces": ["team-b"]})
    listed = eks.list_associated_access_policies(clusterName=cluster, principalArn=principal)
    assert sorted(p["policyArn"] for p in listed["associatedAccessPolicies"]) == [EDIT, VIEW]
    eks.disassociate_access_policy(clusterName=cluster, principalArn=principal, policyArn=VIEW)
    listed = eks.list_associated_access_policies(clusterName=cluster, principalArn=principal)
    assert [p["policyArn"] for p in listed["associatedAccessPolicies"]] == [EDIT]
    with pytest.raises(ClientError) as excinfo:
        eks.disassociate_access_policy(clusterName=cluster, principalArn=principal, policyArn=VIEW)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_association_errors(eks: Any, server: Server, cluster: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        eks.associate_access_policy(clusterName=cluster, principalArn=role(server, "none"), policyArn=VIEW,
                                    accessScope={"type": "cluster"})
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
        404,
    )
    node = role(server, "node")
    eks.create_access_entry(clusterName=cluster, principalArn=node, type="EC2_LINUX")
    for call in (
        lambda: eks.associate_access_policy(clusterName=cluster, principalArn=node, policyArn=VIEW,
                                            accessScope={"type": "cluster"}),
        lambda: eks.list_associated_access_policies(clusterName=cluster, principalArn=node),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[:2] == (
            "InvalidParameterException",
            'This operation can only be performed on Access Entries with a type of "STANDARD".',
        )
    auto = role(server, "auto")
    eks.create_access_entry(clusterName=cluster, principalArn=auto, type="EC2")
    eks.associate_access_policy(clusterName=cluster, principalArn=auto, policyArn=POLICY + "AmazonEKSAutoNodePolicy",
                                accessScope={"type": "cluster"})
    principal = role(server, "scoped")
    eks.create_access_entry(clusterName=cluster, principalArn=principal)
    for scope in ({"type": "namespace"}, {"type": "namespace", "namespaces": []},
                  {"type": "cluster", "namespaces": ["a"]}, {"type": "namespace", "namespaces": ["Bad_NS"]}):
        with pytest.raises(ClientError) as excinfo:
            eks.associate_access_policy(clusterName=cluster, principalArn=principal, policyArn=VIEW, accessScope=scope)
        assert error_of(excinfo)[0] == "InvalidParameterException", scope
    with pytest.raises(ClientError) as excinfo:
        eks.associate_access_policy(clusterName=cluster, principalArn=principal, policyArn=POLICY + "NoSuchPolicy",
                                    accessScope={"type": "cluster"})
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        eks.associate_access_policy(clusterName=cluster, principalArn=principal, policyArn=VIEW,
                                    accessScope={"type": "everywhere"})
    assert error_of(excinfo)[0] == "InvalidParameterException"


# tags


def test_tags_on_entries_and_clusters(eks: Any, server: Server, cluster: str) -> None:
    entry = eks.create_access_entry(clusterName=cluster, principalArn=role(server, "tagged"), tags={"a": "1"})["accessEntry"]
    assert entry["tags"] == {"a": "1"}
    arn = entry["accessEntryArn"]
    eks.tag_resource(resourceArn=arn, tags={"b": "2", "a": "3"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "3", "b": "2"}
    eks.untag_resource(resourceArn=arn, tagKeys=["a", "missing"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert eks.describe_access_entry(clusterName=cluster, principalArn=role(server, "tagged"))["accessEntry"]["tags"] == {"b": "2"}
    cluster_arn = eks.describe_cluster(name=cluster)["cluster"]["arn"]
    eks.tag_resource(resourceArn=cluster_arn, tags={"env": "dev"})
    assert eks.describe_cluster(name=cluster)["cluster"]["tags"] == {"env": "dev"}
    with pytest.raises(ClientError) as excinfo:
        eks.tag_resource(resourceArn=cluster_arn, tags={"aws:reserved": "x"})
    assert error_of(excinfo)[0] == "BadRequestException"
    with pytest.raises(ClientError) as excinfo:
        eks.list_tags_for_resource(resourceArn=cluster_arn + "-gone")
    assert error_of(excinfo)[:1] + error_of(excinfo)[2:] == ("NotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        eks.tag_resource(resourceArn=cluster_arn, tags={f"k{i}": "v" for i in range(50)})
    assert error_of(excinfo)[0] == "BadRequestException"
