"""The Kubernetes authorization webhook: EKS access policies behind a SubjectAccessReview.

It runs after Node and RBAC, as EKS's does, and answers only ``allowed: true`` or no
opinion (never ``denied``). The caller is found through what kubegate's token webhook put
in the user's extra (the IAM principal ID), and only if the rest of the identity agrees
with that access entry, so a user who merely claims those extras gets no policy. Users of
OIDC identity providers carry no such extra: no opinion on them, RBAC alone decides.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from kubegate.api import metrics
from kubegate.api.audit import AuditLog
from kubegate.api.tls import caller_is_cluster, load_review
from kubegate.api.webhook_routes import Reply, Scope
from kubegate.domain import rbac
from kubegate.domain.access_entries import AccessEntry
from kubegate.domain.aws_auth import CallerIdentity, TemplateError, is_template
from kubegate.domain.policies import catalogue
from kubegate.engine.mapping import entry_username
from kubegate.engine.registry import SnapshotRegistry
from kubegate.engine.snapshot import ClusterSnapshot

SAR_VERSIONS = ("authorization.k8s.io/v1", "authorization.k8s.io/v1beta1")
RESOURCE_FIELDS = rbac.ResourceRequest._fields  # named as in a review's resourceAttributes
PRINCIPAL_ID_KEY = "sigs.k8s.io/aws-iam-authenticator/principalId"  # else "principalId", as AIA also sets
EXTRA_SHAPE = "SubjectAccessReview spec.extra must map strings to lists"


class Subject(NamedTuple):
    """The reviewed user, and the IAM identity kubegate's token webhook put in its extra ("" where
    absent, or not a string): read once here, since every check below needs it."""

    user: str
    groups: tuple[str, ...]
    uid: str
    principal_id: str
    arn: str
    canonical_arn: str
    session_name: str
    access_key_id: str


def parse_sar(body: bytes) -> tuple[str, Subject, rbac.Request]:
    """apiVersion, subject and request of a SubjectAccessReview, or ValueError saying what is wrong."""
    api_version, spec = load_review(body, "SubjectAccessReview", SAR_VERSIONS)
    groups_key = "group" if api_version.endswith("v1beta1") else "groups"
    extra = spec.get("extra") or {}
    if not isinstance(extra, dict):
        raise ValueError(EXTRA_SHAPE)
    for values in extra.values():
        if not isinstance(values, list):
            raise ValueError(EXTRA_SHAPE)
    subject = Subject(
        user=_text(spec.get("user")), groups=tuple(spec.get(groups_key) or ()), uid=_text(spec.get("uid")),
        principal_id=_first(extra, PRINCIPAL_ID_KEY) or _first(extra, "principalId"), arn=_first(extra, "arn"),
        canonical_arn=_first(extra, "canonicalArn"), session_name=_first(extra, "sessionName"),
        access_key_id=_first(extra, "accessKeyId"),
    )
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(resource, dict):
        request: rbac.Request = rbac.ResourceRequest._make(_text(resource.get(field)) for field in RESOURCE_FIELDS)
    elif isinstance(non_resource, dict):
        request = rbac.NonResourceRequest(path=_text(non_resource.get("path")), verb=_text(non_resource.get("verb")))
    else:
        raise ValueError("SubjectAccessReview needs resourceAttributes or nonResourceAttributes")
    return api_version, subject, request


def _first(extra: dict[str, list[Any]], key: str) -> str:
    values = extra.get(key)
    return values[0] if values and isinstance(values[0], str) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def answer(api_version: str, allowed: bool, reason: str, status_code: int = 200) -> Reply:
    status = {"allowed": allowed, "reason": reason}
    return status_code, {"apiVersion": api_version, "kind": "SubjectAccessReview", "status": status}


def entry_for(snapshot: ClusterSnapshot, subject: Subject) -> tuple[AccessEntry | None, str]:
    """The subject's access entry, if kubegate authenticated it and nothing in its identity disagrees."""
    principal_id, arn = subject.principal_id, subject.arn
    if not principal_id or not arn:
        return None, (f"user {subject.user!r} carries no IAM principal in extra (an OIDC user, or not authenticated "
                      "by kubegate): access policies do not apply, RBAC decides")
    if not snapshot.mode.uses_access_entries:
        return None, f"cluster {snapshot.name} is in {snapshot.mode.value} mode: access policies do not apply"
    canonical = subject.canonical_arn
    entry = snapshot.entries_by_id.get(principal_id) or snapshot.entries_by_arn.get(canonical.lower())
    if entry is None:
        return None, f"no access entry for {arn}; left to RBAC for groups {list(subject.groups)}"
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if subject.uid != f"aws-iam-authenticator:{account}:{principal_id}":
        return None, "the user's uid does not match its IAM principal (impersonated?); access policies do not apply"
    expected = entry.username
    if is_template(expected):  # render it for this caller, as the token webhook did
        caller = CallerIdentity(arn=arn, canonical_arn=canonical, account=account, user_id=principal_id,
                                session_name=subject.session_name or None,
                                access_key_id=subject.access_key_id or None)
        try:
            expected = entry_username(entry, caller, snapshot)
        except TemplateError as exc:
            return None, exc.message
    if expected != subject.user:
        return None, (f"user {subject.user!r} is not the username access entry {entry.principal_arn} gives "
                      "(impersonated?); access policies do not apply")
    return entry, ""


class AuthorizationWebhook:
    def __init__(self, registry: SnapshotRegistry, audit: AuditLog) -> None:
        self.registry = registry
        self.audit = audit

    def failure(self, reason: str) -> dict[str, Any]:
        return answer(SAR_VERSIONS[0], False, reason)[1]

    async def handle(self, cluster: str, body: bytes, scope: Scope) -> Reply:
        started = time.perf_counter()
        snapshot = self.registry.snapshot(cluster)
        outcome = "error"  # if _review raises: WebhookRoutes answers fail-closed
        try:
            reply, outcome = self._review(cluster, body, scope, snapshot, started)
            return reply
        finally:  # the cluster as a label only with a snapshot, so callers cannot mint series
            label = cluster if snapshot is not None else metrics.UNKNOWN
            metrics.webhook_review("authorization", label, outcome, time.perf_counter() - started)

    def _review(self, cluster: str, body: bytes, scope: Scope, snapshot: ClusterSnapshot | None,
                started: float) -> tuple[Reply, str]:
        """The reply and its outcome as the metrics name it."""
        if not caller_is_cluster(scope, snapshot):  # before the body is even parsed
            return answer(SAR_VERSIONS[0], False,
                          f"a current client certificate issued by kubegate for cluster {cluster} is required",
                          403), "forbidden"
        try:
            api_version, subject, attributes = parse_sar(body)
        except ValueError as exc:
            return answer(SAR_VERSIONS[0], False, str(exc), 400), "invalid"
        allowed, reason = self.decide(cluster, subject, attributes)
        self.audit.record(
            "authorization", cluster=cluster, user=subject.user, principal=subject.arn or None,
            request=attributes._asdict(), allowed=allowed, reason=reason,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return answer(api_version, allowed, reason), "allowed" if allowed else "no-opinion"

    def decide(self, cluster: str, subject: Subject, attributes: rbac.Request) -> tuple[bool, str]:
        snapshot = self.registry.snapshot(cluster)
        if snapshot is None:
            return False, f"unknown cluster {cluster}"
        entry, why_not = entry_for(snapshot, subject)
        if entry is None:
            return False, why_not
        decision = rbac.decide(entry.policies, attributes, catalogue())
        return decision.allowed, f"entry {entry.principal_arn}: {decision.reason}"
