"""`explain` and `who-can` over HTTP (JSON), for the CLI now and a console later.

They reveal who may do what, so they are management calls: SigV4-signed like the EKS API
and allowed to callers whose IAM policies allow ``eks:ListAccessEntries`` on the cluster.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kubegate.api.aws_endpoint import read_request
from kubegate.domain import rbac
from kubegate.domain.arns import PrincipalKind, parse_principal_arn
from kubegate.domain.aws_auth import CallerIdentity
from kubegate.domain.caller import Caller
from kubegate.domain.errors import AccessDenied, DomainError
from kubegate.engine.explain import explain, who_can
from kubegate.engine.registry import SnapshotRegistry
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.sigv4 import SigV4Error
from kubegate.service.access import AccessService, utcnow
from kubegate.store.database import Store


class BadQuery(Exception):
    pass


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


class Insight:
    def __init__(self, registry: SnapshotRegistry, keys: AccessKeys, authorizer: Authorizer, service: AccessService,
                 store: Store) -> None:
        self.registry = registry
        self.keys = keys
        self.authorizer = authorizer
        self.service = service
        self.store = store

    async def explain(self, request: Request) -> Response:
        return await self._answer(request, self._explain)

    async def who_can(self, request: Request) -> Response:
        return await self._answer(request, self._who_can)

    async def _answer(self, request: Request, compute: Any) -> Response:
        raw = await read_request(request)
        cluster = request.path_params["name"]
        try:
            caller = await run_in_threadpool(self._caller, raw)
            await run_in_threadpool(self.authorizer.check, caller, "eks:ListAccessEntries",
                                    self.service.cluster_arn(cluster))
            snapshot = self.registry.snapshot(cluster)
            if snapshot is None:
                return JSONResponse({"message": f"No cluster found for name: {cluster}."}, status_code=404)
            return JSONResponse(await run_in_threadpool(compute, snapshot, dict(request.query_params)))
        except SigV4Error as exc:
            return JSONResponse({"message": exc.message, "code": exc.code}, status_code=exc.status)
        except DomainError as exc:
            status = 403 if isinstance(exc, AccessDenied) else 400
            return JSONResponse({"message": exc.message}, status_code=status)
        except BadQuery as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)

    def _caller(self, raw: Any) -> Caller:
        caller, _ = self.keys.authenticate(method=raw.method, raw_path=raw.raw_path, raw_query=raw.raw_query,
                                           headers=raw.headers, body=raw.body, now=utcnow())
        return caller

    def _explain(self, snapshot: Any, query: dict[str, str]) -> dict[str, Any]:
        if not query.get("principalArn"):
            raise BadQuery("principalArn is required")
        identity = self._identity(query["principalArn"], query.get("session") or None)
        return {"cluster": snapshot.name, "principal": identity.arn,
                **explain(snapshot, identity, request_from(query)).as_dict()}

    def _who_can(self, snapshot: Any, query: dict[str, str]) -> dict[str, Any]:
        holders = who_can(snapshot, request_from(query))
        return {"cluster": snapshot.name, "holders": [
            {"principalArn": h.principal_arn, "username": h.username, "policyArn": h.grant.policy_arn,
             "reason": h.grant.describe()} for h in holders
        ], "note": "Kubernetes RBAC bindings may grant more; kubegate lists access policies only."}

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
