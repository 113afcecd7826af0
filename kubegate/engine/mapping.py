"""Who a verified IAM caller is in one cluster: the access entry or aws-auth row that maps it.

Pure functions over a snapshot, so the same answer (and reason) serves the TokenReview
webhook, the audit log and ``kubegate explain``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubegate.domain.access_entries import AccessEntry
from kubegate.domain.aws_auth import (
    EC2_PRIVATE_DNS_NAME,
    CallerIdentity,
    KubernetesUser,
    TemplateError,
    ec2_instance_id,
    kubernetes_user,
    needs_ec2_private_dns_name,
    render,
    render_template,
)
from kubegate.engine.snapshot import ClusterSnapshot

CREATOR_USERNAME = "kubernetes-admin"  # how EKS shows the CONFIG_MAP cluster creator


@dataclass(frozen=True)
class Mapped:
    user: KubernetesUser
    source: str  # "access-entry", "aws-auth", "cluster-creator"
    reason: str
    entry: AccessEntry | None = None


@dataclass(frozen=True)
class Refused:
    reason: str


def map_identity(snapshot: ClusterSnapshot, caller: CallerIdentity) -> Mapped | Refused:
    """Walk the mode's sources in order; the first that knows the caller decides, wholly.

    ``caller.user_id`` is the IAM unique ID (``AROA…`` without the session, ``AIDA…``, or the
    account for the root): entries of kubegate's account match on it, not on the ARN.
    """
    for source in snapshot.sources:
        try:
            if source == "access-entries":
                entry = snapshot.entries_by_id.get(caller.user_id) or snapshot.entries_by_arn.get(
                    caller.canonical_arn.lower()
                )
                if entry is not None:
                    user = render_entry(entry, caller, snapshot)
                    return Mapped(user, "access-entry", f"access entry {entry.principal_arn}", entry)
            elif source == "aws-auth":
                mapping = snapshot.aws_auth.match(caller)
                if mapping is not None:
                    dns = _dns_name(caller, snapshot) if needs_ec2_private_dns_name(mapping) else None
                    user = kubernetes_user(mapping, caller, ec2_private_dns_name=dns)
                    where = snapshot.aws_auth.position(mapping)
                    return Mapped(user, "aws-auth", f"aws-auth v{snapshot.aws_auth_version} {where} {_describe(mapping)}")
            elif source == "cluster-creator" and snapshot.creator_id and snapshot.creator_id == caller.user_id:
                user = KubernetesUser(CREATOR_USERNAME, ("system:masters",))
                return Mapped(user, "cluster-creator", "the cluster creator (CONFIG_MAP mode)")
        except TemplateError as exc:
            return Refused(exc.message)
    return Refused(
        f"{caller.arn} is not mapped in cluster {snapshot.name} "
        f"(authentication mode {snapshot.mode.value} consults {', '.join(snapshot.sources)})"
    )


def render_entry(entry: AccessEntry, caller: CallerIdentity, snapshot: ClusterSnapshot) -> KubernetesUser:
    """The Kubernetes user an access entry makes of a caller."""
    return _render(entry.username, entry.kubernetes_groups, caller, snapshot)


def entry_username(entry: AccessEntry, caller: CallerIdentity, snapshot: ClusterSnapshot) -> str:
    """Only the username an access entry makes of a caller: what the authorizer checks a review's user against."""
    return render_template(entry.username, "username", caller, _dns_for(entry.username, caller, snapshot))


def _render(username: str, groups: tuple[str, ...], caller: CallerIdentity, snapshot: ClusterSnapshot) -> KubernetesUser:
    return render(username, groups, caller, ec2_private_dns_name=_dns_for(username, caller, snapshot))


def _dns_for(username: str, caller: CallerIdentity, snapshot: ClusterSnapshot) -> str | None:
    return _dns_name(caller, snapshot) if EC2_PRIVATE_DNS_NAME in username else None


def _dns_name(caller: CallerIdentity, snapshot: ClusterSnapshot) -> str:
    instance = ec2_instance_id(caller)
    if instance is None:
        raise TemplateError(f"session name {caller.session_name!r} of {caller.arn} is not an EC2 instance ID")
    name = snapshot.instances.get(instance)
    if name is None:
        raise TemplateError(f"EC2 instance {instance} is not registered (kubegate nodes register)")
    return name


def _describe(mapping: object) -> str:
    for attribute in ("rolearn", "userarn", "account"):
        if hasattr(mapping, attribute):
            return f"{attribute} {getattr(mapping, attribute)}"
    return repr(mapping)
