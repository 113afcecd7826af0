"""`explain` and `who-can` over HTTP (JSON) for the CLI, and in-process for the web console (`*_for`).

They show what the EKS API shows only to callers allowed to read it, so they are management
calls under the same rules: SigV4-signed for ``eks`` in kubegate's region, and authorized
like the EKS calls whose data they reveal:

- both need ``eks:ListAccessEntries`` on the cluster;
- explain shows one principal's username, groups, policies and scopes, so it also needs
  ``eks:DescribeAccessEntry`` and ``eks:ListAssociatedAccessPolicies`` on that principal's
  access entry (the ARN it has, or would have);
- who-can lists only the entries for which the caller has both, and says how many entries
  it withheld without naming them.

Signing, authentication and error answers are ``signed_json``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kubegate.api.signed_json import BadQuery, SignedJson
from kubegate.api.wire import RawRequest
from kubegate.domain import rbac
from kubegate.domain.arns import PrincipalKind, parse_principal_arn
from kubegate.domain.aws_auth import CallerIdentity
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.condition_keys import PrincipalType, principal_type
from kubegate.domain.errors import AccessDenied, ResourceNotFound
from kubegate.engine.explain import OIDC_NOTE, explain, who_can
from kubegate.engine.registry import SnapshotRegistry
from kubegate.engine.snapshot import ClusterSnapshot
from kubegate.store.database import Store

ENTRY_READS = ("DescribeAccessEntry", "ListAssociatedAccessPolicies")
"""The EKS reads whose data an explanation (or a who-can row) shows about one principal."""


def request_from(query: Any) -> rbac.Request:
    verb = query.get("verb")
    if not verb:
        raise BadQuery("verb is required")
    if query.get("path"):
        return rbac.NonResourceRequest(path=query["path"], verb=verb)
    if not query.get("resource"):
        raise BadQuery("resource (or path) is required")
    return rbac.ResourceRequest(
        namespace=query.get("namespace", ""), verb=verb, group=query.get("group", ""), version=query.get("version", "v1"),
        resource=query["resource"], subresource=query.get("subresource", ""), name=query.get("name", ""),
    )


Compute = Callable[[ClusterSnapshot, dict[str, str], Caller, RequestFacts], dict[str, Any]]


class Insight:
    def __init__(self, registry: SnapshotRegistry, signed: SignedJson, store: Store) -> None:
        self.registry = registry
        self.signed = signed
        self.service = signed.service
        self.store = store

    async def explain(self, request: Request) -> Response:
        return await self._answer(request, self._explain)

    async def who_can(self, request: Request) -> Response:
        return await self._answer(request, self._who_can)

    def explain_for(self, caller: Caller, facts: RequestFacts, cluster: str, query: Mapping[str, str]) -> dict[str, Any]:
        """The HTTP endpoint's answer for an already-authenticated caller (the console's path).

        Raises AccessDenied, ResourceNotFound, another DomainError or BadQuery, as the endpoint does."""
        return self._run(caller, facts, cluster, dict(query), self._explain)

    def who_can_for(self, caller: Caller, facts: RequestFacts, cluster: str, query: Mapping[str, str]) -> dict[str, Any]:
        """As :meth:`explain_for`, for who-can."""
        return self._run(caller, facts, cluster, dict(query), self._who_can)

    def listable_snapshot(self, caller: Caller, facts: RequestFacts, cluster: str) -> ClusterSnapshot:
        """The cluster's snapshot, for a caller allowed eks:ListAccessEntries on it (the console's matrix).

        Raises AccessDenied or ResourceNotFound, as explain and who-can do."""
        self._check(caller, "ListAccessEntries", cluster, None, facts)
        snapshot = self.registry.snapshot(cluster)
        if snapshot is None:
            raise ResourceNotFound(f"No cluster found for name: {cluster}.")
        return snapshot

    def readable(self, caller: Caller, facts: RequestFacts, cluster: str, principals: Iterable[str]) -> set[str]:
        """Of ``principals``, those whose entries the caller may read (who-can's rule, for the console's matrix)."""
        return self._readable(caller, cluster, principals, facts)

    def _run(self, caller: Caller, facts: RequestFacts, cluster: str, query: dict[str, str],
             compute: Compute) -> dict[str, Any]:
        self._check(caller, "ListAccessEntries", cluster, None, facts)
        snapshot = self.registry.snapshot(cluster)
        if snapshot is None:
            raise ResourceNotFound(f"No cluster found for name: {cluster}.")
        return compute(snapshot, query, caller, facts)

    async def _answer(self, request: Request, compute: Compute) -> Response:
        cluster = request.path_params["name"]
        query = dict(request.query_params)

        def handle(caller: Caller, facts: RequestFacts, raw: RawRequest) -> dict[str, Any]:
            return self._run(caller, facts, cluster, query, compute)

        return await self.signed.respond(request, handle)

    def _check(self, caller: Caller, operation: str, cluster: str, principal_arn: str | None,
               facts: RequestFacts) -> None:
        """Authorize `operation` exactly as the EKS API would: same resource, same condition keys."""
        self.signed.check(caller, operation, cluster, facts, {} if principal_arn is None else {"principalArn": principal_arn})

    def _readable(self, caller: Caller, cluster: str, principals: Iterable[str], facts: RequestFacts) -> set[str]:
        """The principals whose access entries the caller may describe and list the policies of."""
        wanted = set(principals)
        if principal_type(caller) is PrincipalType.ROOT:
            return wanted
        readable = set()
        for principal in wanted:
            try:
                for operation in ENTRY_READS:
                    self._check(caller, operation, cluster, principal, facts)
            except AccessDenied:
                continue
            readable.add(principal)
        return readable

    def _explain(self, snapshot: ClusterSnapshot, query: dict[str, str], caller: Caller,
                 facts: RequestFacts) -> dict[str, Any]:
        if not query.get("principalArn"):
            raise BadQuery("principalArn is required")
        attributes = request_from(query)
        for operation in ENTRY_READS:
            self._check(caller, operation, snapshot.name, query["principalArn"], facts)
        identity = self._identity(query["principalArn"], query.get("session") or None)
        return {"cluster": snapshot.name, "principal": identity.arn,
                **explain(snapshot, identity, attributes).as_dict()}

    def _who_can(self, snapshot: ClusterSnapshot, query: dict[str, str], caller: Caller,
                 facts: RequestFacts) -> dict[str, Any]:
        holders = who_can(snapshot, request_from(query))
        principals = {h.principal_arn for h in holders}
        readable = self._readable(caller, snapshot.name, principals, facts)
        return {
            "cluster": snapshot.name,
            "holders": [
                {"principalArn": h.principal_arn, "username": h.username, "policyArn": h.grant.policy_arn,
                 "reason": h.grant.describe()} for h in holders if h.principal_arn in readable
            ],
            "withheld": len(principals - readable),
            "note": "Kubernetes RBAC bindings may grant more; kubegate lists access policies only. Entries you "
                    "may not DescribeAccessEntry and ListAssociatedAccessPolicies on are withheld (counted only). "
                    + OIDC_NOTE,
        }

    def _identity(self, principal_arn: str, session: str | None) -> CallerIdentity:
        """The caller as STS would name a session of this principal (unique ID from kubegate's IAM)."""
        principal = parse_principal_arn(principal_arn)
        unique_id = None
        with self.store.transaction() as tx:
            if principal.account == self.service.account:
                if principal.kind is PrincipalKind.ROOT:
                    unique_id = principal.account
                else:
                    found = tx.iam.user(principal.name) if principal.kind is PrincipalKind.USER else tx.iam.role(principal.name)
                    unique_id = found.id if found is not None and found.arn == principal.arn else None
        if principal.kind is PrincipalKind.ROLE:
            session = session or "kubegate-explain"
            arn = f"arn:{principal.partition}:sts::{principal.account}:assumed-role/{principal.name}/{session}"
        else:
            arn, session = principal.arn, None
        return CallerIdentity(arn=arn, canonical_arn=principal.canonical_arn, account=principal.account,
                              user_id=unique_id or f"unknown:{principal.arn}", session_name=session)
