"""Changes that can lose someone access, rehearsed before they are made and then carried out.

A change is a function over an :class:`AccessService` (and the aws-auth it may edit): a mode
switch, an aws-auth version, deleting an entry, disassociating a policy, or a whole
migration plan. It runs once inside a store rehearsal (the same service code, rolled back)
to produce the state it would leave, which ``engine.access_diff`` compares with the state
now; and, for a migration that is approved, once for real, step by step.

The migration (``eks-access.md`` §7.3): move to API_AND_CONFIG_MAP (waiting on the update),
create the entries, and, when nothing blocks it, move to API and delete aws-auth. It stops at
the first failure with what it did listed; every step leaves a state in which the next run
picks up where this one stopped (existing entries are skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kubegate.domain.arns import PrincipalArn, PrincipalKind
from kubegate.domain.aws_auth import AwsAuthError, parse_config_map
from kubegate.domain.caller import Caller
from kubegate.domain.clusters import UpdateStatus
from kubegate.domain.errors import DomainError, InvalidParameter, ResourceInUse
from kubegate.domain.migration import MigrationPlan, Resolved, parse_target, plan_migration, principals_to_resolve
from kubegate.domain.modes import AuthenticationMode
from kubegate.engine.access_diff import AccessDiff, diff, subjects
from kubegate.engine.registry import load_snapshot
from kubegate.engine.snapshot import ClusterSnapshot
from kubegate.service.access import AccessService, existing_cluster
from kubegate.service.aws_auth_edits import NONE, AwsAuthEdits, AwsAuthState
from kubegate.service.aws_auth_watch import render
from kubegate.service.live_aws_auth import ABSENT
from kubegate.store.database import Transaction

Change = Callable[[AccessService], None]
UPDATE_TIMEOUT = 300.0  # seconds a mode update may take before the migration gives up waiting


@dataclass
class Outcome:
    """What carrying out a plan did, in order, and the reason it stopped early (if it did)."""

    done: list[str] = field(default_factory=list)
    failed: str | None = None


class AccessChanges:
    def __init__(self, access: AccessService, aws_auth: AwsAuthEdits, instances: Callable[[], dict[str, str]],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.access = access
        self.aws_auth = aws_auth
        self.instances = instances
        self.sleep = sleep

    # --- rehearsing --------------------------------------------------------------------------

    def snapshot(self, cluster_name: str, state: AwsAuthState | None = None) -> ClusterSnapshot:
        """The cluster as it is, with aws-auth as ``state`` read it (a live ConfigMap may be ahead of the mirror)."""
        with self.access.store.transaction() as tx:
            existing_cluster(tx, cluster_name)
            snapshot = load_snapshot(tx, cluster_name, 0, self.instances())
        assert snapshot is not None
        if state is not None:
            snapshot = replace(snapshot, aws_auth=state.parsed)
        return snapshot

    def rehearse(self, cluster_name: str, change: Change, state: AwsAuthState | None = None) -> ClusterSnapshot:
        """The state ``change`` would leave, made by the service layer itself and rolled back."""
        with self.access.store.rehearsal() as store:
            service = AccessService(store, account=self.access.account, region=self.access.region,  # type: ignore[arg-type]
                                    partition=self.access.partition, clock=self.access.clock, new_id=self.access.new_id)
            if state is not None and state.live:  # start from what the cluster holds now
                document = render({"metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": state.data})
                with store.transaction() as tx:
                    tx.add_aws_auth(cluster_name, document, "rehearsal", service.clock())
            change(service)
            with store.transaction() as tx:
                after = load_snapshot(tx, cluster_name, 0, self.instances())
        assert after is not None
        return after

    def diff(self, cluster_name: str, change: Change, *, caller: Caller | None,
             state: AwsAuthState | None = None) -> AccessDiff:
        before = self.snapshot(cluster_name, state)
        after = self.rehearse(cluster_name, change, state)
        with self.access.store.transaction() as tx:
            cluster = existing_cluster(tx, cluster_name)
            found = subjects(
                (before, after), unique_id=lambda p: _unique_id(tx, p, self.access.account),
                creator=(cluster.creator.principal_arn, cluster.creator.principal_id),
                caller=(caller.principal_arn, caller.user_id.split(":", 1)[0]) if caller else None,
            )
        return diff(before, after, found)

    # --- the changes access-diff knows -------------------------------------------------------

    @staticmethod
    def mode_switch(cluster_name: str, mode: str) -> Change:
        def change(service: AccessService) -> None:
            service.update_cluster_config(cluster_name, {"accessConfig": {"authenticationMode": mode}})
        return change

    @staticmethod
    def aws_auth_version(cluster_name: str, document: str) -> Change:
        def change(service: AccessService) -> None:
            service.set_aws_auth(cluster_name, document, "access-diff")
        return change

    @staticmethod
    def delete_entry(cluster_name: str, principal_arn: str) -> Change:
        def change(service: AccessService) -> None:
            service.delete_access_entry(cluster_name, principal_arn)
        return change

    @staticmethod
    def disassociate(cluster_name: str, principal_arn: str, policy_arn: str) -> Change:
        def change(service: AccessService) -> None:
            service.disassociate_access_policy(cluster_name=cluster_name, principal_arn=principal_arn,
                                               policy_arn=policy_arn)
        return change

    @staticmethod
    def combine(changes: list[Change]) -> Change:
        def change(service: AccessService) -> None:
            for one in changes:
                one(service)
        return change

    # --- the migration -----------------------------------------------------------------------

    def plan(self, cluster_name: str, target: str) -> tuple[MigrationPlan, AwsAuthState]:
        target_mode = parse_target(target)
        state = self.aws_auth.state(cluster_name)
        try:
            aws_auth = parse_config_map(state.data, strict=True)
        except AwsAuthError as exc:
            raise InvalidParameter(f"aws-auth of cluster {cluster_name} is invalid, fix it first: {exc.message}") from None
        with self.access.store.transaction() as tx:
            cluster = existing_cluster(tx, cluster_name)
            resolved = {p.arn.lower(): _resolve(tx, p, self.access.account) for p in principals_to_resolve(aws_auth)}
            existing = frozenset(e.principal.canonical_arn.lower() for e in tx.entries(cluster_name))
        plan = plan_migration(cluster_name, cluster.authentication_mode, target_mode, aws_auth, state.version,
                              account=self.access.account, resolved=resolved, existing_entries=existing)
        return plan, state

    def migration(self, plan: MigrationPlan, state: AwsAuthState, outcome: Outcome, *,
                  wait: bool, author: str | None) -> Change:
        """The plan's steps as one change; ``outcome`` lists them as they complete."""
        def change(service: AccessService) -> None:
            for mode in plan.mode_steps:
                if mode is AuthenticationMode.API:
                    break
                self._switch(service, plan.cluster, mode, wait)
                outcome.done.append(f"authentication mode {mode.value}")
            for entry in plan.entries:
                try:
                    service.create_access_entry(cluster_name=plan.cluster, principal_arn=entry.principal_arn,
                                                type=entry.type.value, username=entry.username,
                                                kubernetes_groups=list(entry.groups) or None)
                except ResourceInUse:
                    outcome.done.append(f"access entry {entry.principal_arn} exists already: left as it is")
                    continue
                for policy in entry.cluster_policies:
                    service.associate_access_policy(cluster_name=plan.cluster, principal_arn=entry.principal_arn,
                                                    policy_arn=policy, access_scope={"type": "cluster"})
                policies = f" with {', '.join(p.rsplit('/', 1)[-1] for p in entry.cluster_policies)} (cluster)" \
                    if entry.cluster_policies else ""
                outcome.done.append(f"access entry {entry.principal_arn} ({entry.type.value}){policies}")
            if AuthenticationMode.API in plan.mode_steps:
                if wait:  # the last moment to notice a concurrent aws-auth edit before it stops counting
                    self.aws_auth.check(plan.cluster, state.version)
                self._switch(service, plan.cluster, AuthenticationMode.API, wait)
                outcome.done.append("authentication mode API")
                if wait:
                    self.aws_auth.delete(plan.cluster, state.version, author=author, what="migrate-to-access-entry")
                elif state.version != NONE:
                    service.set_aws_auth(plan.cluster, ABSENT, "rehearsal")
                outcome.done.append("aws-auth deleted (API mode no longer reads it)")
        return change

    def carry_out(self, plan: MigrationPlan, state: AwsAuthState, *, author: str | None) -> Outcome:
        outcome = Outcome()
        try:
            self.aws_auth.check(plan.cluster, state.version)
            self.migration(plan, state, outcome, wait=True, author=author)(self.access)
        except DomainError as exc:
            outcome.failed = exc.message
        return outcome

    def _switch(self, service: AccessService, cluster: str, mode: AuthenticationMode, wait: bool) -> None:
        update = service.update_cluster_config(cluster, {"accessConfig": {"authenticationMode": mode.value}})
        deadline = time.monotonic() + UPDATE_TIMEOUT
        while wait:
            status = service.describe_update(cluster, update.id).status(service.clock())
            if status is UpdateStatus.SUCCESSFUL:
                return
            if status is not UpdateStatus.IN_PROGRESS or time.monotonic() > deadline:
                raise InvalidParameter(f"update {update.id} to {mode.value} ended {status.value}")
            self.sleep(0.2)


def _unique_id(tx: Transaction, principal: PrincipalArn, account: str) -> str | None:
    """The IAM unique ID of a principal of kubegate's account, found by name as a session is."""
    if principal.account != account:
        return None
    if principal.kind is PrincipalKind.ROOT:
        return account
    found = tx.iam.user(principal.name) if principal.kind is PrincipalKind.USER else tx.iam.role(principal.name)
    return found.id if found is not None else None


def _resolve(tx: Transaction, principal: PrincipalArn, account: str) -> Resolved:
    """eksctl's GetRole/GetUser by the ARN's last segment, with kubegate's IAM for its own account."""
    if principal.account != account:
        return Resolved(principal.arn, f"account {principal.account} is not kubegate's: its IAM cannot confirm "
                                       "the principal exists or restore a role path, so the ARN is taken as written")
    if principal.kind is PrincipalKind.ROOT:
        return Resolved(principal.arn)
    found = tx.iam.user(principal.name) if principal.kind is PrincipalKind.USER else tx.iam.role(principal.name)
    return Resolved(found.arn if found is not None else None)
