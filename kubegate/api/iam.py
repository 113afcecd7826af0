"""The IAM operations: model params in, model members out (the query protocol does the wire)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from kubegate.domain.caller import Caller
from kubegate.domain.errors import NoSuchEntity
from kubegate.domain.iam import IamRole, IamUser, ManagedPolicy, OwnerKind
from kubegate.identity.iam import IamService
from kubegate.store.iam_rows import StoredAccessKey

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[[IamService, Caller, Params], Output]


def user(u: IamUser) -> Output:
    return {"Path": u.path, "UserName": u.name, "UserId": u.id, "Arn": u.arn, "CreateDate": u.created_at}


def role(r: IamRole) -> Output:
    return {
        "Path": r.path, "RoleName": r.name, "RoleId": r.id, "Arn": r.arn, "CreateDate": r.created_at,
        "AssumeRolePolicyDocument": quote(r.trust_policy, safe=""),  # IAM returns policy documents URL-encoded
        "Description": r.description, "MaxSessionDuration": r.max_session_duration,
    }


def policy(p: ManagedPolicy, attachments: int) -> Output:
    return {
        "PolicyName": p.name, "PolicyId": p.id, "Arn": p.arn, "Path": p.path, "DefaultVersionId": "v1",
        "AttachmentCount": attachments, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
        "Description": p.description, "CreateDate": p.created_at, "UpdateDate": p.updated_at,
    }


def key_metadata(k: StoredAccessKey) -> Output:
    return {"UserName": k.user_name, "AccessKeyId": k.access_key_id, "Status": k.status, "CreateDate": k.created_at}


def _listed(key: str, items: list[Any], marker: str | None) -> Output:
    return {key: items, "IsTruncated": marker is not None, "Marker": marker}


def _target_user(caller: Caller, p: Params) -> str:
    """Operations whose UserName is optional act on the calling user."""
    name = p.get("UserName")
    if name is None:
        return caller.principal_arn.rsplit("/", 1)[1]
    return str(name)


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
        return {"User": user(s.create_user(p["UserName"], p.get("Path")))}

    def get_user(s: IamService, c: Caller, p: Params) -> Output:
        return {"User": user(s.get_user(_target_user(c, p)))}

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
        created = s.create_role(p["RoleName"], p.get("Path"), p["AssumeRolePolicyDocument"], p.get("Description"),
                                p.get("MaxSessionDuration"))
        return {"Role": role(created)}

    def get_role(s: IamService, c: Caller, p: Params) -> Output:
        return {"Role": role(s.get_role(p["RoleName"]))}

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
        created = s.create_policy(p["PolicyName"], p.get("Path"), p["PolicyDocument"], p.get("Description"))
        return {"Policy": policy(created, 0)}

    def get_policy(s: IamService, c: Caller, p: Params) -> Output:
        return {"Policy": policy(*s.get_policy(p["PolicyArn"]))}

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
        "CreateUser": create_user, "GetUser": get_user, "ListUsers": list_users, "DeleteUser": delete_user,
        "CreateAccessKey": create_access_key, "ListAccessKeys": list_access_keys,
        "UpdateAccessKey": update_access_key, "DeleteAccessKey": delete_access_key,
        "CreateRole": create_role, "GetRole": get_role, "ListRoles": list_roles, "DeleteRole": delete_role,
        "UpdateAssumeRolePolicy": update_assume_role_policy,
        "CreatePolicy": create_policy, "GetPolicy": get_policy, "GetPolicyVersion": get_policy_version,
        "DeletePolicy": delete_policy, "ListPolicies": list_policies,
        **_inline(OwnerKind.USER, "UserName"), **_inline(OwnerKind.ROLE, "RoleName"),
    }


def resource(account: str, partition: str, operation: str, params: Params, caller: Caller) -> str:
    """The IAM resource ARN an operation acts on, for authorization (as IAM's reference defines it)."""
    if "PolicyArn" in params and not operation.startswith(("Attach", "Detach")):
        return str(params["PolicyArn"])
    if "RoleName" in params:
        return f"arn:{partition}:iam::{account}:role/{params['RoleName']}"
    if "UserName" in params or operation in ("GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey"):
        return f"arn:{partition}:iam::{account}:user/{_target_user(caller, params)}"
    if operation == "CreatePolicy":
        return f"arn:{partition}:iam::{account}:policy{params.get('Path') or '/'}{params['PolicyName']}"
    return "*"

