"""The nine resource types kubegate deploys, as schema data, plus validation and update planning.

The data mirrors the AWS provider schemas (property kinds, required keys, which changes replace the
resource), trimmed to the subset of the spec; other schema properties are accepted and ignored so
templates written for AWS still deploy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._unknown import UNKNOWN, contains_unknown
from ._values import scalar_text
from .errors import PropertyError


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One property's schema.

    ``kind``: string | integer | boolean | list | object | json (a policy document: object or JSON
    string) | map (string values) | any. ``update``: Never | Always | Conditional, or Nested for an
    object whose members decide (EKS ResourcesVpcConfig, AccessConfig).
    """

    kind: str
    required: bool = False
    update: str = "Never"
    item: PropertySpec | None = None
    members: Mapping[str, PropertySpec] | None = None


@dataclass(frozen=True, slots=True)
class ResourceType:
    """A resource type: properties, GetAtt names, and what naming it needs.

    ``name_property`` is the custom name that requires CAPABILITY_NAMED_IAM; ``generated_name_property``
    is the property that receives a generated name when omitted (the same, plus EKS names).
    """

    name: str
    properties: Mapping[str, PropertySpec]
    attributes: frozenset[str]
    needs_iam_capability: bool = False
    name_property: str | None = None
    generated_name_max: int | None = None
    generated_name_property: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """A changed top-level property and whether that change recreates the resource."""

    name: str
    requires_recreation: str


@dataclass(frozen=True, slots=True)
class Replacement:
    """The change set's Replacement (True | False | Conditional) with per-property details."""

    replacement: str
    details: tuple[PropertyChange, ...]


def _s(required: bool = False, update: str = "Never") -> PropertySpec:
    return PropertySpec("string", required, update)


def _list(item: PropertySpec, required: bool = False, update: str = "Never") -> PropertySpec:
    return PropertySpec("list", required, update, item=item)


def _obj(members: Mapping[str, PropertySpec], required: bool = False, update: str = "Never") -> PropertySpec:
    return PropertySpec("object", required, update, members=members)


_ANY = PropertySpec("any")
_STRINGS = _list(_s())
_TAGS = _list(_obj({"Key": _s(True), "Value": _s(True)}))
_INLINE_POLICIES = _list(_obj({"PolicyName": _s(True), "PolicyDocument": PropertySpec("json", True)}))


def _ignored(*names: str, update: str = "Never") -> dict[str, PropertySpec]:
    """Schema properties outside kubegate's subset: accepted, not validated, not acted on."""
    return {name: PropertySpec("any", update=update) for name in names}


_CLUSTER = ResourceType(
    name="AWS::EKS::Cluster",
    properties={
        "Name": _s(update="Always"),
        "RoleArn": _s(True, "Always"),
        "Version": _s(),
        "ResourcesVpcConfig": _obj(
            {
                "SubnetIds": _list(_s(), True, "Always"),
                "SecurityGroupIds": _list(_s(), update="Always"),
                "EndpointPublicAccess": PropertySpec("boolean"),
                "EndpointPrivateAccess": PropertySpec("boolean"),
                "PublicAccessCidrs": _STRINGS,
            },
            True,
            "Nested",
        ),
        "AccessConfig": _obj(
            {
                "AuthenticationMode": _s(),
                "BootstrapClusterCreatorAdminPermissions": PropertySpec("boolean", update="Always"),
            },
            update="Nested",
        ),
        "Tags": _TAGS,
        **_ignored("KubernetesNetworkConfig", "EncryptionConfig", "OutpostConfig", "BootstrapSelfManagedAddons",
                   update="Always"),
        **_ignored("Logging", "UpgradePolicy", "ZonalShiftConfig", "ComputeConfig", "StorageConfig",
                   "RemoteNetworkConfig", "Force", "DeletionProtection"),
    },
    attributes=frozenset(
        {"Arn", "Endpoint", "CertificateAuthorityData", "ClusterSecurityGroupId", "OpenIdConnectIssuerUrl",
         "EncryptionConfigKeyArn", "Id", "KubernetesNetworkConfig.ServiceIpv6Cidr"}
    ),
    generated_name_max=100,
    generated_name_property="Name",
)

_ACCESS_ENTRY = ResourceType(
    name="AWS::EKS::AccessEntry",
    properties={
        "ClusterName": _s(True, "Always"),
        "PrincipalArn": _s(True, "Always"),
        "Type": _s(update="Always"),
        "Username": _s(),
        "KubernetesGroups": _STRINGS,
        "AccessPolicies": _list(
            _obj({"PolicyArn": _s(True), "AccessScope": _obj({"Type": _s(True), "Namespaces": _STRINGS}, True)})
        ),
        "Tags": _TAGS,
    },
    attributes=frozenset({"AccessEntryArn"}),
)

_IDENTITY_PROVIDER_CONFIG = ResourceType(
    name="AWS::EKS::IdentityProviderConfig",
    properties={
        "ClusterName": _s(True, "Always"),
        "Type": _s(True, "Always"),
        "IdentityProviderConfigName": _s(update="Always"),
        "Oidc": _obj(
            {
                "ClientId": _s(True),
                "IssuerUrl": _s(True),
                "UsernameClaim": _s(),
                "UsernamePrefix": _s(),
                "GroupsClaim": _s(),
                "GroupsPrefix": _s(),
                "RequiredClaims": _list(_obj({"Key": _s(True), "Value": _s(True)})),
            },
            update="Always",
        ),
        "Tags": _TAGS,
    },
    attributes=frozenset({"IdentityProviderConfigArn"}),
    generated_name_max=100,
    generated_name_property="IdentityProviderConfigName",
)

_ROLE = ResourceType(
    name="AWS::IAM::Role",
    properties={
        "AssumeRolePolicyDocument": PropertySpec("json", True),
        "RoleName": _s(update="Always"),
        "Path": _s(update="Always"),
        "Description": _s(),
        "ManagedPolicyArns": _STRINGS,
        "MaxSessionDuration": PropertySpec("integer"),
        "PermissionsBoundary": _s(),
        "Policies": _INLINE_POLICIES,
        "Tags": _TAGS,
    },
    attributes=frozenset({"Arn", "RoleId"}),
    needs_iam_capability=True,
    name_property="RoleName",
    generated_name_max=64,
    generated_name_property="RoleName",
)

_USER = ResourceType(
    name="AWS::IAM::User",
    properties={
        "UserName": _s(update="Always"),
        "Path": _s(),
        "Groups": _STRINGS,
        "ManagedPolicyArns": _STRINGS,
        "PermissionsBoundary": _s(),
        "Policies": _INLINE_POLICIES,
        "LoginProfile": _obj({"Password": _s(True), "PasswordResetRequired": PropertySpec("boolean")}),
        "Tags": _TAGS,
    },
    attributes=frozenset({"Arn"}),
    needs_iam_capability=True,
    name_property="UserName",
    generated_name_max=64,
    generated_name_property="UserName",
)

_POLICY = ResourceType(
    name="AWS::IAM::Policy",
    properties={
        "PolicyName": _s(True),
        "PolicyDocument": PropertySpec("json", True),
        "Roles": _STRINGS,
        "Users": _STRINGS,
        "Groups": _STRINGS,
    },
    attributes=frozenset({"Id"}),
    needs_iam_capability=True,
)

_MANAGED_POLICY = ResourceType(
    name="AWS::IAM::ManagedPolicy",
    properties={
        "PolicyDocument": PropertySpec("json", True),
        "ManagedPolicyName": _s(update="Always"),
        "Path": _s(update="Always"),
        "Description": _s(update="Always"),
        "Roles": _STRINGS,
        "Users": _STRINGS,
        "Groups": _STRINGS,
    },
    attributes=frozenset(
        {"PolicyArn", "PolicyId", "DefaultVersionId", "AttachmentCount", "IsAttachable",
         "PermissionsBoundaryUsageCount", "CreateDate", "UpdateDate"}
    ),
    needs_iam_capability=True,
    name_property="ManagedPolicyName",
    generated_name_max=128,
    generated_name_property="ManagedPolicyName",
)

_ACCESS_KEY = ResourceType(
    name="AWS::IAM::AccessKey",
    properties={
        "UserName": _s(True, "Always"),
        "Serial": PropertySpec("integer", update="Always"),
        "Status": _s(),
    },
    attributes=frozenset({"SecretAccessKey"}),
    needs_iam_capability=True,
)

_OIDC_PROVIDER = ResourceType(
    name="AWS::IAM::OIDCProvider",
    properties={
        "Url": _s(update="Always"),
        "ClientIdList": _STRINGS,
        "ThumbprintList": _STRINGS,
        "Tags": _TAGS,
    },
    attributes=frozenset({"Arn"}),
)

RESOURCE_TYPES: Mapping[str, ResourceType] = {
    t.name: t
    for t in (_CLUSTER, _ACCESS_ENTRY, _IDENTITY_PROVIDER_CONFIG, _ROLE, _USER, _POLICY, _MANAGED_POLICY,
              _ACCESS_KEY, _OIDC_PROVIDER)
}

# --- validation ---------------------------------------------------------------------------------

_TYPE_NAMES = {"string": "String", "integer": "Integer", "boolean": "Boolean", "list": "JSONArray",
               "object": "JSONObject", "json": "JSONObject", "map": "JSONObject"}


def _found(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    return "JSONObject"


def validate_properties(logical_id: str, type_name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Check resolved properties against the type's schema and coerce scalars to their schema kinds.

    Coercion is what CloudFormation does for ``"3600"`` vs ``3600`` and ``"true"`` vs ``true``, so
    the providers and the change-set diff see one canonical form. ``UNKNOWN`` passes unchecked.
    """
    resource_type = RESOURCE_TYPES.get(type_name)
    if resource_type is None:
        raise PropertyError(f"Unrecognized resource type {type_name}")
    errors: list[str] = []
    result = _object(properties, resource_type.properties, "#", errors)
    if errors:
        detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise PropertyError(f"Properties validation failed for resource {logical_id} with message: {detail}")
    return result


def _object(value: Mapping[str, Any], members: Mapping[str, PropertySpec], path: str, errors: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, spec in members.items():
        if spec.required and name not in value:
            errors.append(f"{path}: required key [{name}] not found")
    for name, item in value.items():
        member = members.get(name)
        if member is None:
            errors.append(f"{path}: extraneous key [{name}] is not permitted")
            continue
        result[name] = _value(item, member, f"{path}/{name}", errors)
    return result


def _value(value: Any, spec: PropertySpec, path: str, errors: list[str]) -> Any:
    if value is UNKNOWN or spec.kind == "any":
        return value
    kind = spec.kind
    if kind == "string":
        if isinstance(value, (str, int, float, bool)):
            return scalar_text(value)
    elif kind == "integer":
        coerced = _integer(value)
        if coerced is not None:
            return coerced
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind == "list":
        if isinstance(value, list):
            return [_value(v, spec.item or _ANY, f"{path}/{i}", errors) for i, v in enumerate(value)]
    elif kind == "object":
        if isinstance(value, dict):
            if spec.members is None:
                return dict(value)
            return _object(value, spec.members, path, errors)
    elif kind == "json":
        if isinstance(value, dict):
            return value
        if isinstance(value, str):
            return _json_document(value)
    elif kind == "map":
        if isinstance(value, dict):
            return {k: v if v is UNKNOWN else scalar_text(v) for k, v in value.items()}
    errors.append(f"{path}: expected type: {_TYPE_NAMES[kind]}, found: {_found(value)}")
    return value


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _json_document(text: str) -> Any:
    """A policy given as a JSON string is compared and sent in its parsed form, when it parses."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict) else text


# --- updates --------------------------------------------------------------------------------------

_MISSING = object()
_LEVELS = {"Never": 0, "Conditional": 1, "Conditionally": 1, "Always": 2}
_NAMES = {0: "Never", 1: "Conditionally", 2: "Always"}


def update_kind(type_name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Replacement:
    """Which top-level properties changed between two validated property sets, and whether the change
    replaces the resource. ``UNKNOWN`` in ``new`` counts as a change (its value is decided at deploy)."""
    resource_type = RESOURCE_TYPES.get(type_name)
    specs = resource_type.properties if resource_type else {}
    details: list[PropertyChange] = []
    for name in [*new.keys(), *(k for k in old.keys() if k not in new)]:
        before, after = old.get(name, _MISSING), new.get(name, _MISSING)
        if not _changed(before, after):
            continue
        spec = specs.get(name, PropertySpec("any", update="Always"))
        details.append(PropertyChange(name, _NAMES[_level(spec, before, after)]))
    worst = max((_LEVELS[d.requires_recreation] for d in details), default=0)
    return Replacement({0: "False", 1: "Conditional", 2: "True"}[worst], tuple(details))


def _changed(before: Any, after: Any) -> bool:
    return contains_unknown(after) or contains_unknown(before) or before != after


def _level(spec: PropertySpec, before: Any, after: Any) -> int:
    if spec.update != "Nested" or spec.members is None:
        return _LEVELS.get(spec.update, 2)
    if before is UNKNOWN or after is UNKNOWN:
        # Not known until deploy: the strictest member decides.
        return max((_level(m, UNKNOWN, UNKNOWN) for m in spec.members.values()), default=0)
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    levels = [
        _level(member, old.get(m, _MISSING), new.get(m, _MISSING))
        for m, member in spec.members.items()
        if _changed(old.get(m, _MISSING), new.get(m, _MISSING))
    ]
    return max(levels, default=0)
