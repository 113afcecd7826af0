"""AWS::EKS::Cluster: a cluster, usable (ACTIVE) before the stack moves on.

Everything a cluster's GetAtt returns comes from DescribeCluster, so a template's outputs match
what ``aws eks describe-cluster`` prints. kubegate serves no UpdateClusterVersion, so a new
Version is refused before any other change is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers._common import (
    create_tags,
    declared_tags,
    ignoring_gone,
    is_gone,
    tag_changes,
    undo_all,
    unsupported,
)
from kubegate.service.stacks.providers._waiting import Waiter
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::EKS::Cluster"
NAME_MAX = 100

# ResourcesVpcConfig's properties and resourcesVpcConfig's members; the first two only at create
# (SubnetIds always needs replacement; SecurityGroupIds, if the stack layer lets it through, is
# updated in place, which kubegate's EKS accepts).
_VPC_MEMBERS = {
    "SubnetIds": "subnetIds",
    "SecurityGroupIds": "securityGroupIds",
    "EndpointPublicAccess": "endpointPublicAccess",
    "EndpointPrivateAccess": "endpointPrivateAccess",
    "PublicAccessCidrs": "publicAccessCidrs",
}
_VPC_UPDATABLE = ("SecurityGroupIds", "EndpointPublicAccess", "EndpointPrivateAccess", "PublicAccessCidrs")


class ClusterProvider:
    type_name = TYPE_NAME

    def __init__(self, waiter: Waiter | None = None) -> None:
        self.waiter = waiter or Waiter()

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        name = properties.get("Name") or new.generated_name(NAME_MAX)
        vpc = properties.get("ResourcesVpcConfig") or {}
        params: dict[str, Any] = {
            "name": name,
            "roleArn": properties["RoleArn"],
            "resourcesVpcConfig": {member: vpc[prop] for prop, member in _VPC_MEMBERS.items() if prop in vpc},
        }
        if properties.get("Version") is not None:
            params["version"] = str(properties["Version"])
        access = properties.get("AccessConfig") or {}
        access_config = {member: access[prop] for prop, member in (
            ("AuthenticationMode", "authenticationMode"),
            ("BootstrapClusterCreatorAdminPermissions", "bootstrapClusterCreatorAdminPermissions"),
        ) if prop in access}
        if access_config:
            params["accessConfig"] = access_config
        tags = create_tags(new.tags, properties)
        if tags:
            params["tags"] = tags
        call("eks", "CreateCluster", params)
        try:
            cluster = self._wait_active(call, name)
        except ServiceError:
            undo_all([lambda: self.delete(call, Provisioned(name, name), {"Name": name})])
            raise
        return _provisioned(cluster)

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        name = current.physical_id
        if str(old.get("Version") or "") != str(new.get("Version") or "") and new.get("Version") is not None:
            raise unsupported("eks", TYPE_NAME, "Version", "an in-place update needs UpdateClusterVersion")
        old_mode = (old.get("AccessConfig") or {}).get("AuthenticationMode")
        new_mode = (new.get("AccessConfig") or {}).get("AuthenticationMode")
        if new_mode is not None and new_mode != old_mode:
            self._update_config(call, name, {"accessConfig": {"authenticationMode": new_mode}})
        old_vpc, new_vpc = old.get("ResourcesVpcConfig") or {}, new.get("ResourcesVpcConfig") or {}
        vpc_changes = {_VPC_MEMBERS[p]: new_vpc[p] for p in _VPC_UPDATABLE
                       if p in new_vpc and new_vpc[p] != old_vpc.get(p)}
        if vpc_changes:
            self._update_config(call, name, {"resourcesVpcConfig": vpc_changes})
        cluster = call("eks", "DescribeCluster", {"name": name})["cluster"]
        to_set, to_remove = tag_changes(old, new)
        if to_remove:
            call("eks", "UntagResource", {"resourceArn": cluster["arn"], "tagKeys": to_remove})
        if to_set:
            call("eks", "TagResource", {"resourceArn": cluster["arn"], "tags": to_set})
        return _provisioned(cluster)

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        name = current.physical_id
        if ignoring_gone(lambda: call("eks", "DeleteCluster", {"name": name})) is None:
            return
        self.waiter.until(lambda: _describe(call, name) is None, f"the deletion of cluster {name}")

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """Name, RoleArn, Version, ResourcesVpcConfig (lists as EKS orders them) and
        AccessConfig.AuthenticationMode; BootstrapClusterCreatorAdminPermissions is write-only."""
        cluster = _describe(call, current.physical_id)
        if cluster is None:
            return None
        vpc = cluster.get("resourcesVpcConfig") or {}
        out: dict[str, Any] = {
            "Name": cluster["name"],
            "RoleArn": cluster.get("roleArn"),
            "Version": cluster.get("version"),
            "ResourcesVpcConfig": {prop: vpc[member] for prop, member in _VPC_MEMBERS.items() if member in vpc},
            "AccessConfig": {"AuthenticationMode": (cluster.get("accessConfig") or {}).get("authenticationMode")},
        }
        if properties.get("Tags"):
            out["Tags"] = declared_tags(cluster.get("tags") or {}, properties)
        return out

    def _wait_active(self, call: AwsCalls, name: str) -> Mapping[str, Any]:
        found: dict[str, Any] = {}

        def active() -> bool:
            cluster = call("eks", "DescribeCluster", {"name": name})["cluster"]
            if cluster.get("status") == "FAILED":
                raise ServiceError("eks", "NotStabilized", 400, f"Cluster {name} failed to create")
            found.update(cluster)
            return bool(cluster.get("status") == "ACTIVE")

        self.waiter.until(active, f"cluster {name} becoming ACTIVE")
        return found

    def _update_config(self, call: AwsCalls, name: str, change: dict[str, Any]) -> None:
        """One UpdateClusterConfig, waited for: EKS refuses the next update while one is in progress."""
        update = call("eks", "UpdateClusterConfig", {"name": name, **change})["update"]

        def finished() -> bool:
            found = call("eks", "DescribeUpdate", {"name": name, "updateId": update["id"]})["update"]
            if found.get("status") in ("Failed", "Cancelled"):
                errors = "; ".join(str(e.get("errorMessage", e)) for e in found.get("errors") or ())
                raise ServiceError("eks", "InvalidRequestException", 400,
                                   f"Update {update['id']} of cluster {name} {found['status'].lower()}: {errors}")
            return bool(found.get("status") == "Successful")

        self.waiter.until(finished, f"update {update['id']} of cluster {name}")


def _describe(call: AwsCalls, name: str) -> Mapping[str, Any] | None:
    try:
        return call("eks", "DescribeCluster", {"name": name})["cluster"]  # type: ignore[no-any-return]
    except ServiceError as error:
        if is_gone(error):
            return None
        raise


def _provisioned(cluster: Mapping[str, Any]) -> Provisioned:
    vpc = cluster.get("resourcesVpcConfig") or {}
    oidc = (cluster.get("identity") or {}).get("oidc") or {}
    return Provisioned(physical_id=cluster["name"], ref=cluster["name"], attributes={
        "Arn": cluster["arn"],
        "Endpoint": cluster.get("endpoint") or "",
        "CertificateAuthorityData": (cluster.get("certificateAuthority") or {}).get("data") or "",
        "ClusterSecurityGroupId": vpc.get("clusterSecurityGroupId") or "",
        "OpenIdConnectIssuerUrl": oidc.get("issuer") or "",
        "EncryptionConfigKeyArn": "",
    })
