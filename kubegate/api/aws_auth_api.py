"""aws-auth identity mappings, their history, access-diff and the migration to access entries, over HTTP.

Authorization (the caller's IAM policies; README "Migrating from aws-auth"):

- ``kubegate:DescribeIdentityMappings`` on the cluster: read aws-auth and its history;
- ``kubegate:CreateIdentityMapping`` / ``kubegate:DeleteIdentityMapping``: edit it (the
  migration deletes the whole aws-auth under the latter);
- access-diff and a migration plan show every principal's identity and policies, so they
  also need ``eks:ListAccessEntries`` and, on every access entry of the cluster,
  ``eks:DescribeAccessEntry`` and ``eks:ListAssociatedAccessPolicies``; a partial diff would
  mislead, so a missing one refuses the call rather than withholding rows;
- ``--approve`` is authorized up front, every step as the EKS action it performs
  (``eks:UpdateClusterConfig``, ``eks:CreateAccessEntry`` with ``iam:PassRole`` for node
  roles, ``eks:AssociateAccessPolicy``), so a missing permission stops it before it starts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from kubegate.api.insight import ENTRY_READS
from kubegate.api.signed_json import BadQuery, SignedJson, json_body
from kubegate.api.wire import RawRequest
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.errors import DomainError
from kubegate.domain.identity_mappings import create_mapping, delete_mapping, mapping_rows, remaining_matches
from kubegate.domain.migration import MigrationPlan, RowPlan
from kubegate.service.access_changes import AccessChanges, Change, Outcome
from kubegate.service.aws_auth_edits import AwsAuthEdits, AwsAuthState, stale

DESCRIBE = "DescribeIdentityMappings"
CREATE = "CreateIdentityMapping"
DELETE = "DeleteIdentityMapping"


class AwsAuthApi:
    def __init__(self, signed: SignedJson, edits: AwsAuthEdits, changes: AccessChanges) -> None:
        self.signed = signed
        self.edits = edits
        self.changes = changes

    # --- routes ----------------------------------------------------------------------------

    async def identity_mappings(self, request: Request) -> Response:
        cluster = request.path_params["name"]
        handler = {"GET": self._get, "POST": self._create, "DELETE": self._delete}[request.method]
        return await self.signed.respond(request, lambda c, f, r: handler(cluster, c, f, r))

    async def history(self, request: Request) -> Response:
        cluster = request.path_params["name"]
        return await self.signed.respond(request, lambda c, f, r: self._history(cluster, c, f))

    async def access_diff(self, request: Request) -> Response:
        cluster = request.path_params["name"]
        return await self.signed.respond(request, lambda c, f, r: self._access_diff(cluster, c, f, r))

    async def migration(self, request: Request) -> Response:
        cluster = request.path_params["name"]
        return await self.signed.respond(request, lambda c, f, r: self._migration(cluster, c, f, r))

    # --- identity mappings --------------------------------------------------------------------

    def _get(self, cluster: str, caller: Caller, facts: RequestFacts, raw: RawRequest) -> dict[str, Any]:
        self.signed.check_kubegate(caller, DESCRIBE, cluster, facts)
        state = self.edits.state(cluster)
        return {"cluster": cluster, **_state(state), "mappings": _rows(state.data)}

    def _create(self, cluster: str, caller: Caller, facts: RequestFacts, raw: RawRequest) -> dict[str, Any]:
        self.signed.check_kubegate(caller, CREATE, cluster, facts)
        body = json_body(raw)
        groups = body.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise BadQuery("groups must be a list of strings")
        arn, username, account = (_text(body, name) for name in ("arn", "username", "account"))

        def edit(data: dict[str, str]) -> dict[str, str]:
            return create_mapping(data, arn=arn, username=username, groups=groups, account=account,
                                  no_duplicate_arns=bool(body.get("noDuplicateArns")))

        state, changes = self.edits.edit(cluster, edit, author=caller.arn, what="iamidentitymapping create")
        return {"cluster": cluster, **_state(state), "changes": changes, "mappings": _rows(state.data)}

    def _delete(self, cluster: str, caller: Caller, facts: RequestFacts, raw: RawRequest) -> dict[str, Any]:
        self.signed.check_kubegate(caller, DELETE, cluster, facts)
        query = dict(parse_qsl(raw.raw_query, keep_blank_values=True))
        arn, account = query.get("arn") or None, query.get("account") or None
        every = query.get("all") == "true"

        def edit(data: dict[str, str]) -> dict[str, str]:
            return delete_mapping(data, arn=arn, account=account, all=every)

        state, changes = self.edits.edit(cluster, edit, author=caller.arn, what="iamidentitymapping delete")
        left = remaining_matches(state.data, arn=arn, account=account)
        return {"cluster": cluster, **_state(state), "changes": changes, "remainingMatches": left,
                "mappings": _rows(state.data)}

    def _history(self, cluster: str, caller: Caller, facts: RequestFacts) -> dict[str, Any]:
        self.signed.check_kubegate(caller, DESCRIBE, cluster, facts)
        return {"cluster": cluster, "versions": [
            {"version": v.version, "createdAt": v.created_at.isoformat(), "source": v.source, "author": v.author,
             "changes": list(v.changes)} for v in self.edits.history(cluster)]}

    # --- access-diff and the migration --------------------------------------------------------

    def _may_read_everything(self, cluster: str, caller: Caller, facts: RequestFacts) -> None:
        self.signed.check(caller, "ListAccessEntries", cluster, facts)
        self.signed.check_kubegate(caller, DESCRIBE, cluster, facts)
        snapshot = self.changes.snapshot(cluster)
        for entry in [*snapshot.entries_by_id.values(), *snapshot.entries_by_arn.values()]:
            for operation in ENTRY_READS:
                self.signed.check(caller, operation, cluster, facts, {"principalArn": entry.principal_arn})

    def _access_diff(self, cluster: str, caller: Caller, facts: RequestFacts, raw: RawRequest) -> dict[str, Any]:
        self._may_read_everything(cluster, caller, facts)
        body = json_body(raw)
        steps: list[Change] = []
        state: AwsAuthState | None = None
        if body.get("migration"):
            plan, state = self.changes.plan(cluster, str(body["migration"]))
            steps.append(self.changes.migration(plan, state, Outcome(), wait=False, author=None))
        if body.get("awsAuth") is not None:
            steps.append(self.changes.aws_auth_version(cluster, str(body["awsAuth"])))
        for arn in _strings(body, "deleteEntries"):
            steps.append(self.changes.delete_entry(cluster, arn))
        for pair in body.get("disassociate") or []:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise BadQuery("disassociate takes [principalArn, policyArn] pairs")
            steps.append(self.changes.disassociate(cluster, pair[0], pair[1]))
        if body.get("authenticationMode"):
            steps.append(self.changes.mode_switch(cluster, str(body["authenticationMode"])))
        if not steps:
            raise BadQuery("name a change: authenticationMode, migration, awsAuth, deleteEntries or disassociate")
        if state is None:  # a live ConfigMap may be ahead of kubegate's mirror of it
            state = self.edits.state(cluster)
        result = self.changes.diff(cluster, self.changes.combine(steps), caller=caller, state=state)
        return {"cluster": cluster, **result.as_dict()}

    def _migration(self, cluster: str, caller: Caller, facts: RequestFacts, raw: RawRequest) -> dict[str, Any]:
        self._may_read_everything(cluster, caller, facts)
        body = json_body(raw)
        plan, state = self.changes.plan(cluster, str(body.get("targetAuthenticationMode") or ""))
        answer: dict[str, Any] = {"cluster": cluster, "plan": _plan(plan)}
        if plan.no_need or plan.errors:
            return answer
        change = self.changes.migration(plan, state, Outcome(), wait=False, author=None)
        try:
            answer["accessDiff"] = self.changes.diff(cluster, change, caller=caller, state=state).as_dict()
        except DomainError as exc:  # the plan cannot be carried out now; show it, and say why
            answer["accessDiffError"] = exc.message
        if not body.get("approve"):
            return answer
        expected = body.get("awsAuthVersion")
        if expected is not None and str(expected) != plan.aws_auth_version:
            refusal = stale(cluster, str(expected), plan.aws_auth_version, "nothing was done")
            answer["outcome"] = {"done": [], "failed": refusal.message}
            return answer
        self._may_carry_out(plan, caller, facts)
        outcome = self.changes.carry_out(plan, state, author=caller.arn)
        answer["outcome"] = {"done": outcome.done, "failed": outcome.failed}
        return answer

    def _may_carry_out(self, plan: MigrationPlan, caller: Caller, facts: RequestFacts) -> None:
        if plan.mode_steps:
            self.signed.check(caller, "UpdateClusterConfig", plan.cluster, facts)
        for entry in plan.entries:
            params: dict[str, Any] = {"principalArn": entry.principal_arn, "type": entry.type.value}
            if entry.username is not None:
                params["username"] = entry.username
            if entry.groups:
                params["kubernetesGroups"] = list(entry.groups)
            self.signed.check(caller, "CreateAccessEntry", plan.cluster, facts, params)
            for policy in entry.cluster_policies:
                self.signed.check(caller, "AssociateAccessPolicy", plan.cluster, facts,
                                  {"principalArn": entry.principal_arn, "policyArn": policy,
                                   "accessScope": {"type": "cluster"}})
        if plan.deletes_aws_auth and plan.aws_auth_version != "none":
            self.signed.check_kubegate(caller, DELETE, plan.cluster, facts)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadQuery(f"{name} must be a string")
    return value or None


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadQuery(f"{name} must be a list of strings")
    return value


def _state(state: AwsAuthState) -> dict[str, Any]:
    return {"awsAuthVersion": state.version, "live": state.live}


def _rows(data: dict[str, str]) -> list[dict[str, Any]]:
    return [{"arn": r.arn, "username": r.username, "groups": list(r.groups), "account": r.account, "key": r.key}
            for r in mapping_rows(data, strict=False)]


def _row(row: RowPlan) -> dict[str, Any]:
    entry = None
    if row.entry is not None:
        entry = {"principalArn": row.entry.principal_arn, "type": row.entry.type.value, "username": row.entry.username,
                 "kubernetesGroups": list(row.entry.groups), "clusterPolicies": list(row.entry.cluster_policies)}
    return {"row": row.label, "key": row.key, "index": row.index, "arn": row.arn, "username": row.username,
            "groups": list(row.groups), "action": row.action.value, "reason": row.reason,
            "blocksApi": row.blocks_api, "entry": entry, "notes": list(row.notes)}


def _plan(plan: MigrationPlan) -> dict[str, Any]:
    return {
        "currentAuthenticationMode": plan.current.value, "targetAuthenticationMode": plan.target.value,
        "awsAuthVersion": plan.aws_auth_version, "noNeed": plan.no_need,
        "rows": [_row(r) for r in plan.rows],
        "blockers": [r.label for r in plan.blockers], "errors": [r.reason for r in plan.errors],
        "modeSteps": [m.value for m in plan.mode_steps], "deletesAwsAuth": plan.deletes_aws_auth,
        "finalAuthenticationMode": plan.final_mode.value,
    }
