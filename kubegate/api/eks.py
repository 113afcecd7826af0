"""The EKS operations: botocore-model params in, the service's answer out as model members.

Parsing and serializing belong to the restJson1 protocol; this module only binds each
operation to the service and presents domain objects as the model's output members.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.model import Shape, StructureShape

from kubegate.domain.access_entries import AccessEntry, PolicyAssociation
from kubegate.domain.caller import Caller
from kubegate.api.eks_keys import eks_condition_keys
from kubegate.domain.condition_keys import ActionKeys
from kubegate.domain.clusters import Cluster, Update
from kubegate.domain.identity_providers import OIDC, OidcConfig
from kubegate.service.access import AccessService
from kubegate.service.identity_providers import IdentityProviderService

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[[AccessService, Caller, Params, datetime], Output]

_CLUSTER_DEFAULTS: dict[str, Any] = {
    "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
    "logging": {
        "clusterLogging": [
            {"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": False}
        ]
    },
    "platformVersion": "eks.1",
}
_VPC_DEFAULTS: dict[str, Any] = {
    "subnetIds": [],
    "securityGroupIds": [],
    "endpointPublicAccess": True,
    "endpointPrivateAccess": False,
    "publicAccessCidrs": ["0.0.0.0/0"],
}


def project(value: Any, shape: Shape) -> Any:
    """Keep only what ``shape`` models: CreateCluster's inputs echoed as the Cluster output."""
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {k: project(v, shape.members[k]) for k, v in value.items() if k in shape.members}
    if shape.type_name == "list" and isinstance(value, list):
        return [project(v, shape.member) for v in value]  # type: ignore[attr-defined]
    return value


class EksPresenter:
    def __init__(self, cluster_shape: StructureShape) -> None:
        self.cluster_shape = cluster_shape

    def cluster(self, cluster: Cluster, tags: dict[str, str], now: datetime, *, status: str | None = None) -> Output:
        spec = dict(cluster.spec)
        vpc = {**_VPC_DEFAULTS, **spec.pop("resourcesVpcConfig", {})}
        out: Output = {**_CLUSTER_DEFAULTS, **project(spec, self.cluster_shape)}
        out.update(
            name=cluster.name,
            arn=cluster.arn,
            createdAt=cluster.created_at,
            resourcesVpcConfig=project(vpc, self.cluster_shape.members["resourcesVpcConfig"]),
            status=status or cluster.status(now),
            tags=tags,
            accessConfig={
                "bootstrapClusterCreatorAdminPermissions": cluster.bootstrap_admin,
                "authenticationMode": cluster.authentication_mode.value,
            },
        )
        if cluster.endpoint:
            out["endpoint"] = cluster.endpoint
        if cluster.certificate_authority:
            out["certificateAuthority"] = {"data": cluster.certificate_authority}
        return out

    @staticmethod
    def update(update: Update, now: datetime) -> Output:
        return {
            "id": update.id,
            "status": update.status(now).value,
            "type": update.type,
            "params": [{"type": t, "value": v} for t, v in update.params],
            "createdAt": update.created_at,
            "errors": [],
        }

    @staticmethod
    def entry(entry: AccessEntry, tags: dict[str, str]) -> Output:
        return {
            "clusterName": entry.cluster_name,
            "principalArn": entry.principal_arn,
            "kubernetesGroups": list(entry.kubernetes_groups),
            "accessEntryArn": entry.arn,
            "createdAt": entry.created_at,
            "modifiedAt": entry.modified_at,
            "tags": tags,
            "username": entry.username,
            "type": entry.type.value,
        }

    @staticmethod
    def association(association: PolicyAssociation) -> Output:
        return {
            "policyArn": association.policy_arn,
            "accessScope": {
                "type": association.scope.type.value,
                "namespaces": list(association.scope.namespaces),
            },
            "associatedAt": association.associated_at,
            "modifiedAt": association.modified_at,
        }


    @staticmethod
    def oidc_config(config: OidcConfig, tags: dict[str, str], now: datetime) -> Output:
        out: Output = {
            "identityProviderConfigName": config.name,
            "identityProviderConfigArn": config.arn,
            "clusterName": config.cluster_name,
            "issuerUrl": config.issuer_url,
            "clientId": config.client_id,
            "usernameClaim": config.username_claim,
            "usernamePrefix": config.username_prefix,
            "groupsClaim": config.groups_claim,
            "groupsPrefix": config.groups_prefix,
            "requiredClaims": dict(config.required_claims),
            "tags": tags,
            "status": config.status(now).value,
        }
        return {k: v for k, v in out.items() if v is not None}


def _page(key: str, items: list[Any], token: str | None) -> Output:
    return {key: items, "nextToken": token}


def handlers(present: EksPresenter) -> dict[str, Handler]:
    """Every EKS operation kubegate serves, by botocore operation name."""

    def create_cluster(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        spec = {k: v for k, v in p.items() if k not in ("name", "roleArn", "tags", "accessConfig", "clientRequestToken")}
        cluster = s.create_cluster(
            caller, name=p["name"], role_arn=p["roleArn"], spec=spec, tags=p.get("tags"),
            access_config=p.get("accessConfig"), client_request_token=p.get("clientRequestToken"),
        )
        return {"cluster": present.cluster(cluster, dict(p.get("tags") or {}), now, status=cluster.status(cluster.created_at))}

    def describe_cluster(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        cluster, tags = s.describe_cluster(p["name"])
        return {"cluster": present.cluster(cluster, tags, now)}

    def delete_cluster(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        cluster, tags = s.delete_cluster(p["name"])
        return {"cluster": present.cluster(cluster, tags, now, status="DELETING")}

    def list_clusters(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        return _page("clusters", *s.list_clusters(p.get("maxResults"), p.get("nextToken")))

    def update_cluster_config(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        changes = {k: v for k, v in p.items() if k not in ("name", "clientRequestToken")}
        update = s.update_cluster_config(p["name"], changes, p.get("clientRequestToken"))
        return {"update": present.update(update, update.created_at)}

    def describe_update(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        return {"update": present.update(s.describe_update(p["name"], p["updateId"]), now)}

    def list_updates(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        return _page("updateIds", *s.list_updates(p["name"], p.get("maxResults"), p.get("nextToken")))

    def create_access_entry(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        entry, tags = s.create_access_entry(
            cluster_name=p["clusterName"], principal_arn=p["principalArn"],
            kubernetes_groups=p.get("kubernetesGroups"), tags=p.get("tags"),
            client_request_token=p.get("clientRequestToken"), username=p.get("username"), type=p.get("type"),
        )
        return {"accessEntry": present.entry(entry, tags)}

    def describe_access_entry(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        return {"accessEntry": present.entry(*s.describe_access_entry(p["clusterName"], p["principalArn"]))}

    def list_access_entries(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        return _page("accessEntries", *s.list_access_entries(
            p["clusterName"], p.get("associatedPolicyArn"), p.get("maxResults"), p.get("nextToken")))

    def update_access_entry(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        entry, tags = s.update_access_entry(
            cluster_name=p["clusterName"], principal_arn=p["principalArn"],
            kubernetes_groups=p.get("kubernetesGroups"), client_request_token=p.get("clientRequestToken"),
            username=p.get("username"),
        )
        return {"accessEntry": present.entry(entry, tags)}

    def delete_access_entry(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        s.delete_access_entry(p["clusterName"], p["principalArn"])
        return {}

    def list_access_policies(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        policies, token = s.list_access_policies(p.get("maxResults"), p.get("nextToken"))
        return _page("accessPolicies", [{"name": x.name, "arn": x.arn} for x in policies], token)

    def associate_access_policy(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        entry, association = s.associate_access_policy(
            cluster_name=p["clusterName"], principal_arn=p["principalArn"], policy_arn=p["policyArn"],
            access_scope=p["accessScope"],
        )
        return {
            "clusterName": entry.cluster_name,
            "principalArn": entry.principal_arn,
            "associatedAccessPolicy": present.association(association),
        }

    def disassociate_access_policy(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        s.disassociate_access_policy(
            cluster_name=p["clusterName"], principal_arn=p["principalArn"], policy_arn=p["policyArn"]
        )
        return {}

    def list_associated_access_policies(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        entry, associations, token = s.list_associated_access_policies(
            p["clusterName"], p["principalArn"], p.get("maxResults"), p.get("nextToken")
        )
        return {
            "clusterName": entry.cluster_name,
            "principalArn": entry.principal_arn,
            "associatedAccessPolicies": [present.association(a) for a in associations],
            "nextToken": token,
        }

    def tag_resource(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        s.tag_resource(p["resourceArn"], p["tags"])
        return {}

    def untag_resource(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        s.untag_resource(p["resourceArn"], p["tagKeys"])
        return {}

    def list_tags_for_resource(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        return {"tags": s.list_tags_for_resource(p["resourceArn"])}

    def associate_identity_provider_config(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        update, tags = IdentityProviderService(s).associate(
            p["clusterName"], p["oidc"], p.get("tags"), p.get("clientRequestToken"))
        return {"update": present.update(update, update.created_at), "tags": tags}

    def describe_identity_provider_config(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        spec = p["identityProviderConfig"]
        config, tags = IdentityProviderService(s).describe(p["clusterName"], spec["type"], spec["name"])
        return {"identityProviderConfig": {"oidc": present.oidc_config(config, tags, now)}}

    def list_identity_provider_configs(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        names, token = IdentityProviderService(s).list(p["clusterName"], p.get("maxResults"), p.get("nextToken"))
        return _page("identityProviderConfigs", [{"type": OIDC, "name": n} for n in names], token)

    def disassociate_identity_provider_config(s: AccessService, caller: Caller, p: Params, now: datetime) -> Output:
        spec = p["identityProviderConfig"]
        update = IdentityProviderService(s).disassociate(p["clusterName"], spec["type"], spec["name"])
        return {"update": present.update(update, update.created_at)}

    return {
        "CreateCluster": create_cluster,
        "DescribeCluster": describe_cluster,
        "DeleteCluster": delete_cluster,
        "ListClusters": list_clusters,
        "UpdateClusterConfig": update_cluster_config,
        "DescribeUpdate": describe_update,
        "ListUpdates": list_updates,
        "CreateAccessEntry": create_access_entry,
        "DescribeAccessEntry": describe_access_entry,
        "ListAccessEntries": list_access_entries,
        "UpdateAccessEntry": update_access_entry,
        "DeleteAccessEntry": delete_access_entry,
        "ListAccessPolicies": list_access_policies,
        "AssociateAccessPolicy": associate_access_policy,
        "DisassociateAccessPolicy": disassociate_access_policy,
        "ListAssociatedAccessPolicies": list_associated_access_policies,
        "TagResource": tag_resource,
        "UntagResource": untag_resource,
        "ListTagsForResource": list_tags_for_resource,
        "AssociateIdentityProviderConfig": associate_identity_provider_config,
        "DescribeIdentityProviderConfig": describe_identity_provider_config,
        "ListIdentityProviderConfigs": list_identity_provider_configs,
        "DisassociateIdentityProviderConfig": disassociate_identity_provider_config,
    }


def resource(service: AccessService, operation: str, params: Params) -> str:
    """The resource an EKS action is authorized on: the entry, the identity provider config, the tagged
    resource, the cluster, or *."""
    if "resourceArn" in params:
        return str(params["resourceArn"])
    cluster = params.get("clusterName", params.get("name"))
    if cluster is None:
        return "*"
    if operation in _CONFIG_ACTIONS:
        return IdentityProviderService(service).config_arn(str(cluster), params.get("identityProviderConfig"))
    if "principalArn" in params and operation != "CreateAccessEntry":
        return service.entry_arn(str(cluster), str(params["principalArn"]))
    return service.cluster_arn(str(cluster))


_CONFIG_ACTIONS = frozenset({"DescribeIdentityProviderConfig", "DisassociateIdentityProviderConfig"})
_NODE_ROLE_TYPES = frozenset({"EC2_LINUX", "EC2_WINDOWS"})


def passed_role(operation: str, params: Params) -> str | None:
    """The role an action hands to EKS (the cluster role; a node role of an EC2 access entry)."""
    if operation == "CreateCluster":
        return str(params["roleArn"])
    if operation == "CreateAccessEntry" and params.get("type") in _NODE_ROLE_TYPES:
        return str(params["principalArn"])
    return None


def authorization_target(service: AccessService, operation: str, params: Params) -> tuple[str, ActionKeys]:
    """The resource an action is authorized on and the request's condition keys: :func:`resource` and
    :func:`condition_keys`, with an existing access entry's ARN, properties and tags read at once."""
    cluster = params.get("clusterName", params.get("name"))
    if ("resourceArn" not in params and cluster is not None and operation not in _CONFIG_ACTIONS
            and "principalArn" in params and operation != "CreateAccessEntry"):
        arn, entry, tags = service.entry_authorization_facts(str(cluster), str(params["principalArn"]))
        return arn, eks_condition_keys(operation, params, resource_tags=tags, entry=entry)
    arn = resource(service, operation, params)
    return arn, condition_keys(service, operation, params, arn)


def condition_keys(service: AccessService, operation: str, params: Params, resource_arn: str) -> ActionKeys:
    """The request's keys: the action's own, and those of the resource it acts on."""
    entry = None
    if ":access-entry/" in resource_arn and operation != "CreateAccessEntry":
        entry = service.entry_for_authorization(str(params.get("clusterName")), str(params.get("principalArn")))
    tags = service.resource_tags(resource_arn) if resource_arn != "*" else {}
    return eks_condition_keys(operation, params, resource_tags=tags, entry=entry)


def encode_certificate_authority(pem: bytes) -> str:
    """EKS's certificateAuthority.data is the base64 of the PEM bundle."""
    return base64.b64encode(pem).decode()
