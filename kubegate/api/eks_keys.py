"""The EKS condition keys of one request, as the Service Authorization Reference defines them.

A key whose request parameter is absent is absent, as AWS leaves it; so ``ForAllValues``
on eks:namespaces is true for a cluster scope, a documented pitfall kubegate keeps. Access
entry actions see the *stored* entry's keys (the reference lists them on the access-entry
resource type), CreateAccessEntry the request's. A parameter kubegate does not interpret
(``kubeApiServerConfig`` ...) leaves its key unknown when present, so conditions on it fail
closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubegate.domain.access_entries import AccessEntry
from kubegate.domain.condition_keys import ActionKeys, Keys, request_tag_keys, tag_keys

Params = Mapping[str, Any]

# key -> where CreateCluster / UpdateClusterConfig carry it
_CLUSTER_PARAMS: dict[str, tuple[str, ...]] = {
    "eks:authenticationMode": ("accessConfig", "authenticationMode"),
    "eks:bootstrapClusterCreatorAdminPermissions": ("accessConfig", "bootstrapClusterCreatorAdminPermissions"),
    "eks:bootstrapSelfManagedAddons": ("bootstrapSelfManagedAddons",),
    "eks:blockStorageEnabled": ("storageConfig", "blockStorage", "enabled"),
    "eks:computeConfigEnabled": ("computeConfig", "enabled"),
    "eks:elasticLoadBalancingEnabled": ("kubernetesNetworkConfig", "elasticLoadBalancing", "enabled"),
    "eks:deletionProtection": ("deletionProtection",),
    "eks:endpointPrivateAccess": ("resourcesVpcConfig", "endpointPrivateAccess"),
    "eks:endpointPublicAccess": ("resourcesVpcConfig", "endpointPublicAccess"),
    "eks:kubernetesVersion": ("version",),
    "eks:supportType": ("upgradePolicy", "supportType"),
    "eks:zonalShiftEnabled": ("zonalShiftConfig", "enabled"),
    "eks:controlPlaneScalingTier": ("controlPlaneScalingConfig", "tier"),
}
# Parameters whose keys' values the reference does not define: known only to be absent when the parameter is.
_OPAQUE_PARAMS = {"eks:kubeApiServerConfig": "kubeApiServerConfig", "eks:kubeSchedulerConfig": "kubeSchedulerConfig",
                  "eks:kubeControllerManagerConfig": "kubeControllerManagerConfig"}
_ENTRY_RESOURCE_KEYS = ("eks:accessEntryType", "eks:clusterName", "eks:kubernetesGroups", "eks:principalArn",
                        "eks:username")
_TAGGING = frozenset({"CreateCluster", "CreateAccessEntry", "TagResource", "AssociateIdentityProviderConfig"})
_OIDC_KEYS = {"eks:clientId": "clientId", "eks:issuerUrl": "issuerUrl"}  # AssociateIdentityProviderConfig's oidc


def eks_condition_keys(
    operation: str, params: Params, *, resource_tags: Mapping[str, str], entry: AccessEntry | None,
) -> ActionKeys:
    present: Keys = {}
    covered: list[str] = ["eks:controlPlaneEgressMode", "eks:loggingType/", *_ENTRY_RESOURCE_KEYS, *_OIDC_KEYS]
    if operation in ("CreateCluster", "UpdateClusterConfig"):
        present |= _cluster_keys(params)
        covered += [*_CLUSTER_PARAMS, "eks:encryptionConfigProviderKeyArns"]
        covered += [key for key, member in _OPAQUE_PARAMS.items() if params.get(member) is None]
    if operation == "CreateAccessEntry":
        present |= _given({
            "eks:principalArn": params.get("principalArn"), "eks:kubernetesGroups": params.get("kubernetesGroups"),
            "eks:username": params.get("username"), "eks:accessEntryType": params.get("type"),
        })
    elif entry is not None:
        present |= _given({
            "eks:accessEntryType": entry.type.value, "eks:clusterName": entry.cluster_name,
            "eks:kubernetesGroups": list(entry.kubernetes_groups), "eks:principalArn": entry.principal_arn,
            "eks:username": entry.username,
        })
    if operation == "AssociateIdentityProviderConfig":
        oidc = params.get("oidc")
        oidc = oidc if isinstance(oidc, Mapping) else {}
        present |= _given({key: oidc.get(member) for key, member in _OIDC_KEYS.items()})
    scope = params.get("accessScope")
    scope = scope if isinstance(scope, Mapping) else {}
    present |= _given({"eks:policyArn": params.get("policyArn"), "eks:accessScope": scope.get("type"),
                       "eks:namespaces": scope.get("namespaces")})
    covered += ["eks:policyArn", "eks:accessScope", "eks:namespaces"]
    if operation in _TAGGING:
        present |= request_tag_keys(params.get("tags"))
    if operation == "UntagResource":
        present["aws:TagKeys"] = tuple(params.get("tagKeys") or ())
    present |= tag_keys("aws:ResourceTag", resource_tags)
    return ActionKeys.of(present, *covered)


def _cluster_keys(params: Params) -> Keys:
    values: dict[str, Any] = {key: _dig(params, path) for key, path in _CLUSTER_PARAMS.items()}
    values["eks:encryptionConfigProviderKeyArns"] = [
        config["provider"]["keyArn"] for config in params.get("encryptionConfig") or ()
        if isinstance(config, Mapping) and isinstance(config.get("provider"), Mapping)
        and config["provider"].get("keyArn") is not None
    ]
    keys = _given(values)
    for setting in _dig(params, ("logging", "clusterLogging")) or ():
        if isinstance(setting, Mapping) and setting.get("enabled") is not None:
            for log_type in setting.get("types") or ():
                keys[f"eks:loggingType/{log_type}"] = (_text(setting["enabled"]),)
    return keys


def _dig(params: Params, path: tuple[str, ...]) -> Any:
    value: Any = params
    for member in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(member)
    return value


def _given(values: Mapping[str, Any]) -> Keys:
    """The keys whose values are present: a list gives a multi-valued key, an empty one none."""
    keys: Keys = {}
    for name, value in values.items():
        if value is None or value == []:
            continue
        keys[name] = tuple(_text(v) for v in value) if isinstance(value, (list, tuple)) else (_text(value),)
    return keys


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
