"""The IAM operations: model params in, model members out (the query protocol does the wire)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from kubegate.domain.caller import Caller
from kubegate.domain.condition_keys import ActionKeys, Keys, PrincipalType, principal_type, request_tag_keys, tag_keys
from kubegate.domain.errors import InvalidInput, NoSuchEntity, ValidationError
from kubegate.domain.iam import IamRole, IamUser, ManagedPolicy, OwnerKind
from kubegate.domain.oidc_providers import OidcProvider
from kubegate.identity.iam import IamService
from kubegate.store.iam_rows import StoredAccessKey

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[[IamService, Caller, Params], Output]


NON_USER_CREDENTIALS = "Must specify userName when calling with non-User credentials"
# Accepted by the model, refused by kubegate rather than ignored: each would change who may do what.
_UNSUPPORTED = {"PermissionsBoundary": "permissions boundaries", "MaxSigninSessionDuration": "console sign-in sessions"}


def _tag_list(tags: Mapping[str, str] | None) -> list[Output] | None:
    return [{"Key": k, "Value": v} for k, v in tags.items()] if tags else None


def _tag_map(tags: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def user(u: IamUser, tags: Mapping[str, str] | None = None) -> Output:
    return {"Path": u.path, "UserName": u.name, "UserId": u.id, "Arn": u.arn, "CreateDate": u.created_at,
            "Tags": _tag_list(tags)}


def role(r: IamRole, tags: Mapping[str, str] | None = None) -> Output:
    return {
        "Path": r.path, "RoleName": r.name, "RoleId": r.id, "Arn": r.arn, "CreateDate": r.created_at,
        "AssumeRolePolicyDocument": quote(r.trust_policy, safe=""),  # IAM returns policy documents URL-encoded
        "Description": r.description, "MaxSessionDuration": r.max_session_duration, "Tags": _tag_list(tags),
    }


def policy(p: ManagedPolicy, attachments: int) -> Output:
    return {
        "PolicyName": p.name, "PolicyId": p.id, "Arn": p.arn, "Path": p.path, "DefaultVersionId": "v1",
        "AttachmentCount": attachments, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
        "Description": p.description, "CreateDate": p.created_at, "UpdateDate": p.updated_at,
    }


def oidc_provider(o: OidcProvider, tags: Mapping[str, str] | None) -> Output:
    """GetOpenIDConnectProvider's answer: the URL without its scheme, as IAM shows it."""
    return {"Url": o.url, "ClientIDList": list(o.client_ids), "ThumbprintList": list(o.thumbprints),
            "CreateDate": o.created_at, "Tags": _tag_list(tags)}


def key_metadata(k: StoredAccessKey) -> Output:
    return {"UserName": k.user_name, "AccessKeyId": k.access_key_id, "Status": k.status, "CreateDate": k.created_at}


def _listed(key: str, items: list[Any], marker: str | None) -> Output:
    return {key: items, "IsTruncated": marker is not None, "Marker": marker}


def _target_user(caller: Caller, p: Params) -> str | None:
    """Operations whose UserName is optional act on the calling user, and the root's on the
    root's own access keys (None); a role session must name the user."""
    name = p.get("UserName")
    if name is not None:
        return str(name)
    kind = principal_type(caller)
    if kind is PrincipalType.USER:
        return caller.principal_arn.rsplit("/", 1)[1]
    if kind is PrincipalType.ROOT:
        return None
    raise ValidationError(NON_USER_CREDENTIALS)


def _refuse_unsupported(p: Params) -> None:
    for member, what in _UNSUPPORTED.items():
        if p.get(member) is not None:
            raise InvalidInput(f"kubegate does not support {what} ({member})")


def _inline(kind: OwnerKind, owner_key: str) -> dict[str, Handler]:
    prefix = "User" if kind is OwnerKind.USER else "Role"

    def put(s: IamService, c: Caller, p: Params) -> Output:
        s.put_inline_policy(kind, p[owner_key], p["PolicyName"], p["PolicyDocument"])
        return {}

    def get(s: IamService, c: Caller, p: Params) -> Output:
        document = s.get_inline_policy(kind, p[owner_key], p["PolicyName"])
        return {owner_key: p[owner_key], "PolicyName": p["PolicyName"], "PolicyDocument": quote(document, safe="")}

    def delete(s: IamService, c: Caller, p: Params) -> Output:
        s.delete_inline_policy(kind, p[owner_key], p["PolicyName"])
        return {}

    def list_(s: IamService, c: Caller, p: Params) -> Output:
        names, marker = s.list_inline_policies(kind, p[owner_key], p.get("Marker"), p.get("MaxItems"))
        return _listed("PolicyNames", names, marker)

    def attach(s: IamService, c: Caller, p: Params) -> Output:
        s.attach(kind, p[owner_key], p["PolicyArn"])
        return {}

    def detach(s: IamService, c: Caller, p: Params) -> Output:
        s.detach(kind, p[owner_key], p["PolicyArn"])
        return {}

    def attached(s: IamService, c: Caller, p: Params) -> Output:
        policies, marker = s.list_attached(kind, p[owner_key], p.get("Marker"), p.get("MaxItems"))
        return _listed("AttachedPolicies", [{"PolicyName": x.name, "PolicyArn": x.arn} for x in policies], marker)

    return {
        f"Put{prefix}Policy": put, f"Get{prefix}Policy": get, f"Delete{prefix}Policy": delete,
        f"List{prefix}Policies": list_, f"Attach{prefix}Policy": attach, f"Detach{prefix}Policy": detach,
        f"ListAttached{prefix}Policies": attached,
    }


def handlers() -> dict[str, Handler]:
    def create_user(s: IamService, c: Caller, p: Params) -> Output:
        _refuse_unsupported(p)
        tags = _tag_map(p.get("Tags"))
        return {"User": user(s.create_user(p["UserName"], p.get("Path"), tags), tags)}

    def get_user(s: IamService, c: Caller, p: Params) -> Output:
        name = _target_user(c, p)
        if name is None:  # the root: IAM answers with the account itself
            return {"User": {"UserId": c.user_id, "Arn": c.arn, "CreateDate": s.root_created_at()}}
        return {"User": user(s.get_user(name), s.tags_of(OwnerKind.USER, name))}

    def list_users(s: IamService, c: Caller, p: Params) -> Output:
        users, marker = s.list_users(p.get("PathPrefix"), p.get("Marker"), p.get("MaxItems"))
        return _listed("Users", [user(u) for u in users], marker)

    def delete_user(s: IamService, c: Caller, p: Params) -> Output:
        s.delete_user(p["UserName"])
        return {}

    def create_access_key(s: IamService, c: Caller, p: Params) -> Output:
        key = s.create_access_key(_target_user(c, p))
        return {"AccessKey": {
            "UserName": key.user_name, "AccessKeyId": key.access_key_id, "Status": key.status,
            "SecretAccessKey": key.secret_access_key, "CreateDate": key.created_at,
        }}

    def list_access_keys(s: IamService, c: Caller, p: Params) -> Output:
        keys = s.list_access_keys(_target_user(c, p))
        return {"AccessKeyMetadata": [key_metadata(k) for k in keys], "IsTruncated": False}

    def update_access_key(s: IamService, c: Caller, p: Params) -> Output:
        s.update_access_key(_target_user(c, p), p["AccessKeyId"], p["Status"])
        return {}

    def delete_access_key(s: IamService, c: Caller, p: Params) -> Output:
        s.delete_access_key(_target_user(c, p), p["AccessKeyId"])
        return {}

    def create_role(s: IamService, c: Caller, p: Params) -> Output:
        _refuse_unsupported(p)
        tags = _tag_map(p.get("Tags"))
        created = s.create_role(p["RoleName"], p.get("Path"), p["AssumeRolePolicyDocument"], p.get("Description"),
                                p.get("MaxSessionDuration"), tags)
        return {"Role": role(created, tags)}

    def get_role(s: IamService, c: Caller, p: Params) -> Output:
        return {"Role": role(s.get_role(p["RoleName"]), s.tags_of(OwnerKind.ROLE, p["RoleName"]))}

    def list_roles(s: IamService, c: Caller, p: Params) -> Output:
        roles, marker = s.list_roles(p.get("PathPrefix"), p.get("Marker"), p.get("MaxItems"))
        return _listed("Roles", [role(r) for r in roles], marker)

    def delete_role(s: IamService, c: Caller, p: Params) -> Output:
        s.delete_role(p["RoleName"])
        return {}

    def update_assume_role_policy(s: IamService, c: Caller, p: Params) -> Output:
        s.update_assume_role_policy(p["RoleName"], p["PolicyDocument"])
        return {}

    def create_policy(s: IamService, c: Caller, p: Params) -> Output:
        tags = _tag_map(p.get("Tags"))
        created = s.create_policy(p["PolicyName"], p.get("Path"), p["PolicyDocument"], p.get("Description"), tags)
        return {"Policy": {**policy(created, 0), "Tags": _tag_list(tags)}}

    def get_policy(s: IamService, c: Caller, p: Params) -> Output:
        found = policy(*s.get_policy(p["PolicyArn"]))
        return {"Policy": {**found, "Tags": _tag_list(s.tags_of(OwnerKind.POLICY, p["PolicyArn"]))}}

    def get_policy_version(s: IamService, c: Caller, p: Params) -> Output:
        found, _ = s.get_policy(p["PolicyArn"])
        if p["VersionId"] != "v1":
            raise NoSuchEntity(f"Policy {p['PolicyArn']} version {p['VersionId']} does not exist or is not attachable.")
        return {"PolicyVersion": {"Document": quote(found.document, safe=""), "VersionId": "v1",
                                  "IsDefaultVersion": True, "CreateDate": found.created_at}}

    def delete_policy(s: IamService, c: Caller, p: Params) -> Output:
        s.delete_policy(p["PolicyArn"])
        return {}

    def list_policies(s: IamService, c: Caller, p: Params) -> Output:
        if p.get("Scope") == "AWS":
            return _listed("Policies", [], None)
        found, marker = s.list_policies(p.get("PathPrefix"), p.get("Marker"), p.get("MaxItems"))
        return _listed("Policies", [policy(x, n) for x, n in found], marker)

    return {
        **_oidc_providers(),
        "CreateUser": create_user, "GetUser": get_user, "ListUsers": list_users, "DeleteUser": delete_user,
        "CreateAccessKey": create_access_key, "ListAccessKeys": list_access_keys,
        "UpdateAccessKey": update_access_key, "DeleteAccessKey": delete_access_key,
        "CreateRole": create_role, "GetRole": get_role, "ListRoles": list_roles, "DeleteRole": delete_role,
        "UpdateAssumeRolePolicy": update_assume_role_policy,
        "CreatePolicy": create_policy, "GetPolicy": get_policy, "GetPolicyVersion": get_policy_version,
        "DeletePolicy": delete_policy, "ListPolicies": list_policies,
        **_inline(OwnerKind.USER, "UserName"), **_inline(OwnerKind.ROLE, "RoleName"),
        **_tagging(OwnerKind.USER, "User", "UserName"), **_tagging(OwnerKind.ROLE, "Role", "RoleName"),
        **_tagging(OwnerKind.POLICY, "Policy", "PolicyArn"),
        **_tagging(OwnerKind.OIDC_PROVIDER, "OpenIDConnectProvider", _OIDC_ARN),
    }


_OIDC_ARN = "OpenIDConnectProviderArn"
# Accepted by the model, refused by kubegate rather than ignored: it has no IAM Identity Center.
_OIDC_UNSUPPORTED = {"ContextProvider": "trusted identity propagation",
                     "IdentityCenterInstanceArn": "IAM Identity Center"}


def _oidc_providers() -> dict[str, Handler]:
    def create(s: IamService, c: Caller, p: Params) -> Output:
        for member, what in _OIDC_UNSUPPORTED.items():
            if p.get(member) is not None:
                raise InvalidInput(f"kubegate does not support {what} ({member})")
        tags = _tag_map(p.get("Tags"))
        created = s.create_oidc_provider(p["Url"], list(p.get("ClientIDList") or ()),
                                         list(p.get("ThumbprintList") or ()), tags)
        return {_OIDC_ARN: created.arn, "Tags": _tag_list(tags)}

    def get(s: IamService, c: Caller, p: Params) -> Output:
        return oidc_provider(*s.get_oidc_provider(p[_OIDC_ARN]))

    def list_(s: IamService, c: Caller, p: Params) -> Output:
        return {"OpenIDConnectProviderList": [{"Arn": o.arn} for o in s.list_oidc_providers()]}

    def delete(s: IamService, c: Caller, p: Params) -> Output:
        s.delete_oidc_provider(p[_OIDC_ARN])
        return {}

    def add_client_id(s: IamService, c: Caller, p: Params) -> Output:
        s.add_oidc_client_id(p[_OIDC_ARN], p["ClientID"])
        return {}

    def remove_client_id(s: IamService, c: Caller, p: Params) -> Output:
        s.remove_oidc_client_id(p[_OIDC_ARN], p["ClientID"])
        return {}

    def update_thumbprint(s: IamService, c: Caller, p: Params) -> Output:
        s.update_oidc_thumbprints(p[_OIDC_ARN], list(p["ThumbprintList"]))
        return {}

    return {
        "CreateOpenIDConnectProvider": create, "GetOpenIDConnectProvider": get,
        "ListOpenIDConnectProviders": list_, "DeleteOpenIDConnectProvider": delete,
        "AddClientIDToOpenIDConnectProvider": add_client_id,
        "RemoveClientIDFromOpenIDConnectProvider": remove_client_id,
        "UpdateOpenIDConnectProviderThumbprint": update_thumbprint,
    }


def _tagging(kind: OwnerKind, noun: str, owner_key: str) -> dict[str, Handler]:
    def tag(s: IamService, c: Caller, p: Params) -> Output:
        s.tag(kind, p[owner_key], _tag_map(p["Tags"]))
        return {}

    def untag(s: IamService, c: Caller, p: Params) -> Output:
        s.untag(kind, p[owner_key], list(p["TagKeys"]))
        return {}

    def list_(s: IamService, c: Caller, p: Params) -> Output:
        tags, marker = s.list_tags(kind, p[owner_key], p.get("Marker"), p.get("MaxItems"))
        return {"Tags": _tag_list(tags) or [], "IsTruncated": marker is not None, "Marker": marker}

    return {f"Tag{noun}": tag, f"Untag{noun}": untag, f"List{noun}Tags": list_}


_USER_KEY_ACTIONS = frozenset({"GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey"})
_CREATES = {"CreateUser": ("user", "UserName"), "CreateRole": ("role", "RoleName"), "CreatePolicy": ("policy", "PolicyName")}
_POLICY_ARN_KEY = frozenset({"AttachUserPolicy", "DetachUserPolicy", "AttachRolePolicy", "DetachRolePolicy"})
# Actions whose reference lists iam:PermissionsBoundary: kubegate has no boundaries, so it is always absent.
_BOUNDARY_KEY = frozenset({"CreateUser", "CreateRole", "PutUserPolicy", "PutRolePolicy", "DeleteUserPolicy",
                           "DeleteRolePolicy", *_POLICY_ARN_KEY})


def authorization(service: IamService, operation: str, params: Params, caller: Caller) -> tuple[str, ActionKeys]:
    """The resource ARN an IAM action is authorized on (with the entity's path, as IAM does) and
    the request's IAM keys."""
    if operation == "CreateOpenIDConnectProvider":  # the ARN the URL would name (checked by the handler)
        url = str(params["Url"]).removeprefix("https://")
        arn = f"arn:{service.partition}:iam::{service.account}:oidc-provider/{url}"
        return arn, _keys(service, operation, params, None, None)
    if operation in _CREATES:
        noun, name_key = _CREATES[operation]
        path = params.get("Path") or "/"
        arn = f"arn:{service.partition}:iam::{service.account}:{noun}{path}{params[name_key]}"
        return arn, _keys(service, operation, params, None, None)
    kind, name = _target(operation, params, caller)
    if kind is None:
        arn = "*"
    elif kind in (OwnerKind.POLICY, OwnerKind.OIDC_PROVIDER):
        arn = str(name)
    elif name is None:  # the root acting on its own keys
        arn = caller.arn
    else:
        arn = service.arn_of(kind, name)
    return arn, _keys(service, operation, params, kind, name)


def _target(operation: str, params: Params, caller: Caller) -> tuple[OwnerKind | None, str | None]:
    if _OIDC_ARN in params:
        return OwnerKind.OIDC_PROVIDER, str(params[_OIDC_ARN])
    if "PolicyArn" in params and not operation.startswith(("Attach", "Detach")):
        return OwnerKind.POLICY, str(params["PolicyArn"])
    if "RoleName" in params:
        return OwnerKind.ROLE, str(params["RoleName"])
    if "UserName" in params or operation in _USER_KEY_ACTIONS:
        return OwnerKind.USER, _target_user(caller, params)
    return None, None


def _keys(service: IamService, operation: str, params: Params, kind: OwnerKind | None, name: str | None) -> ActionKeys:
    present: Keys = {}
    if operation in _POLICY_ARN_KEY:
        present["iam:PolicyARN"] = (str(params["PolicyArn"]),)
    if operation in _CREATES or operation == "CreateOpenIDConnectProvider" or operation.startswith("Tag"):
        present |= request_tag_keys(_tag_map(params.get("Tags")))
    if operation.startswith("Untag"):
        present["aws:TagKeys"] = tuple(params.get("TagKeys") or ())
    if kind is not None and name is not None:
        tags = service.tags_of(kind, name)
        present |= tag_keys("aws:ResourceTag", tags) | tag_keys("iam:ResourceTag", tags)
    return ActionKeys.of(present, "iam:PolicyARN", "iam:PermissionsBoundary", "iam:RoleTemplateARN", "iam:ResourceTag/")


def pass_role_keys(service_name: str, associated_resource: str) -> ActionKeys:
    """iam:PassRole as a service checks it when it is handed a role (EKS's CreateCluster)."""
    return ActionKeys.of({"iam:PassedToService": (service_name,), "iam:AssociatedResourceArn": (associated_resource,)})
