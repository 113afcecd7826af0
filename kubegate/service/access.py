"""EKS access management: clusters, authentication modes, access entries and policies.

Every method is one EKS operation. Reads and writes happen inside one store transaction,
so a rule broken half-way leaves nothing behind; the domain decides every rule.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from kubegate.domain import tags as tagrules
from kubegate.domain.access_entries import (
    MAX_ENTRIES_PER_CLUSTER,
    AccessEntry,
    EntryType,
    PolicyAssociation,
    associate,
    check_policy_allowed,
    identity_for,
    requested_scope,
    updated,
)
from kubegate.domain.aws_auth import AwsAuthError, parse_config_map_yaml
from kubegate.domain.caller import Caller
from kubegate.domain.arns import Arn, PrincipalArn, PrincipalKind, parse_principal_arn
from kubegate.domain.clusters import (
    DEFAULT_KUBERNETES_VERSION,
    WEBHOOK_GENERATION,
    Cluster,
    Creator,
    Update,
    check_cluster_name,
    check_role_arn,
    settle_time,
)
from kubegate.domain.errors import (
    BadRequest,
    InvalidParameter,
    NotFound,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
)
from kubegate.domain.identity_providers import is_gone
from kubegate.domain.modes import (
    DEFAULT_MODE,
    AuthenticationMode,
    check_bootstrap,
    check_transition,
    require_access_entries,
)
from kubegate.domain.pagination import decode_token, encode_token, page
from kubegate.domain.identity_mappings import config_map_data, describe_changes
from kubegate.domain.policies import CLUSTER_ADMIN_POLICY_ARN, AccessPolicy, AccessScope, ScopeType, catalogue, policy_by_arn
from kubegate.store.database import Conflict, Store, Transaction

ENTRY_NOT_FOUND = (
    "The specified principalArn could not be found. You can view your available access entries "
    "with 'list-access-entries'."
)
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
INVALID_PRINCIPAL = "The specified principalArn is invalid: invalid principal."
ENTRY_IN_USE = "The specified access entry resource is already in use on this cluster."

# UpdateClusterConfig members and the update type EKS reports for each.
UPDATE_KINDS = {
    "accessConfig": "AccessConfigUpdate",
    "logging": "LoggingUpdate",
    "resourcesVpcConfig": "EndpointAccessUpdate",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_uuid() -> str:
    return str(uuid.uuid4())


class AccessService:
    def __init__(
        self,
        store: Store,
        *,
        account: str,
        region: str,
        partition: str = "aws",
        settle_seconds: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = new_uuid,
    ) -> None:
        self.store = store
        self.account = account
        self.region = region
        self.partition = partition
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.new_id = new_id

    # helpers

    def _cluster(self, tx: Transaction, name: str, *, lock: bool = False) -> Cluster:
        return existing_cluster(tx, name, lock=lock)

    def _entry_cluster(self, tx: Transaction, name: str, *, lock: bool = False) -> None:
        """The gate of every access-entry operation: the cluster exists and its mode uses entries.
        Reads the mode only (an entry write does not need the cluster's spec or updates)."""
        check_cluster_name(name)
        mode = tx.cluster_mode(name, lock=lock)
        if mode is None:
            raise ResourceNotFound(f"No cluster found for name: {name}.", cluster_name=name)
        require_access_entries(mode, name)

    def _entry(self, tx: Transaction, cluster_name: str, principal_arn: str, *, policies: bool = True) -> AccessEntry:
        entry = tx.entry(cluster_name, parse_principal_arn(principal_arn).arn, policies=policies)
        if entry is None:
            raise ResourceNotFound(ENTRY_NOT_FOUND, cluster_name=cluster_name)
        return entry

    def _principal_id(self, tx: Transaction, principal: PrincipalArn) -> str | None:
        """The unique ID of a principal of this account, which must exist; None for other accounts.

        Binding the entry to the ID is what stops a re-created namesake from inheriting it.
        """
        if principal.account != self.account:
            return None
        if principal.kind is PrincipalKind.ROOT:
            return self.account
        found = tx.iam.user(principal.name) if principal.kind is PrincipalKind.USER else tx.iam.role(principal.name)
        if found is None or found.arn != principal.arn:
            raise InvalidParameter(INVALID_PRINCIPAL)
        return found.id

    def _entry_arn(self, cluster_name: str, principal: PrincipalArn) -> str:
        kind = principal.kind.value
        return (
            f"arn:{self.partition}:eks:{self.region}:{self.account}:access-entry/{cluster_name}/"
            f"{kind}/{principal.account}/{principal.name or 'root'}/{self.new_id()}"
        )

    def cluster_arn(self, name: str) -> str:
        return f"arn:{self.partition}:eks:{self.region}:{self.account}:cluster/{name}"

    def entry_arn(self, cluster_name: str, principal_arn: str) -> str:
        """The access-entry ARN IAM policies are checked against (a pattern if it does not exist yet)."""
        return self.entry_authorization_facts(cluster_name, principal_arn)[0]

    # clusters

    def create_cluster(
        self,
        caller: Caller,
        *,
        name: str,
        role_arn: str,
        spec: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        access_config: Mapping[str, Any] | None = None,
        client_request_token: str | None = None,
    ) -> Cluster:
        check_cluster_name(name)
        check_role_arn(role_arn)
        tagrules.check_tags(tags or {}, InvalidParameter)
        access_config = access_config or {}
        mode = AuthenticationMode(access_config.get("authenticationMode", DEFAULT_MODE.value))
        bootstrap = bool(access_config.get("bootstrapClusterCreatorAdminPermissions", True))
        check_bootstrap(mode, bootstrap)
        now = self.clock()
        stored_spec = {**spec, "roleArn": role_arn, "version": spec.get("version") or DEFAULT_KUBERNETES_VERSION}
        if client_request_token is not None:
            stored_spec["clientRequestToken"] = client_request_token
        cluster = Cluster(
            name=name,
            arn=self.cluster_arn(name),
            created_at=now,
            settles_at=settle_time(now, self.settle_seconds),
            spec=stored_spec,
            authentication_mode=mode,
            bootstrap_admin=bootstrap,
            creator=Creator(caller.principal_arn, caller.user_id.split(":", 1)[0]),
        )
        try:
            with self.store.transaction() as tx:
                existing = tx.cluster(name)
                if existing is not None:
                    if client_request_token and existing.spec.get("clientRequestToken") == client_request_token:
                        return existing
                    raise ResourceInUse(f"Cluster already exists with name: {name}", cluster_name=name)
                tx.add_cluster(cluster)
                tx.set_tags(cluster.arn, dict(tags or {}))
                if mode.uses_access_entries and bootstrap:
                    self._add_creator_entry(tx, cluster, now)
        except Conflict:
            raise ResourceInUse(f"Cluster already exists with name: {name}", cluster_name=name) from None
        return cluster

    def _add_creator_entry(self, tx: Transaction, cluster: Cluster, now: datetime) -> None:
        """EKS's visible cluster-admin entry for whoever created the cluster."""
        principal = parse_principal_arn(cluster.creator.principal_arn)
        if tx.entry(cluster.name, principal.arn) is not None:
            return
        username, groups = identity_for(principal, EntryType.STANDARD, None, None, self.account)
        entry = AccessEntry(
            cluster_name=cluster.name,
            principal=principal,
            principal_id=cluster.creator.principal_id,
            type=EntryType.STANDARD,
            username=username,
            kubernetes_groups=groups,
            arn=self._entry_arn(cluster.name, principal),
            created_at=now,
            modified_at=now,
            policies=(PolicyAssociation(CLUSTER_ADMIN_POLICY_ARN, AccessScope(ScopeType.CLUSTER), now, now),),
        )
        tx.add_entry(entry)

    def describe_cluster(self, name: str) -> tuple[Cluster, dict[str, str]]:
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, name)
            return cluster, tx.tags(cluster.arn)

    def list_clusters(self, max_results: int | None, next_token: str | None) -> tuple[list[str], str | None]:
        with self.store.transaction() as tx:
            return page(tx.cluster_names(), max_results, next_token)

    def delete_cluster(self, name: str) -> tuple[Cluster, dict[str, str]]:
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, name, lock=True)
            tags = tx.tags(cluster.arn)
            tx.delete_cluster(cluster)
        return cluster, tags

    def set_cluster_endpoint(
        self, name: str, endpoint: str | None, certificate_authority: str | None,
        api_token_ciphertext: bytes | None = None,
    ) -> Cluster:
        """Record the Kubernetes API server this cluster stands for (kubeconfig and proxy use it).

        With a token, kubegate also reads and watches the cluster's own kube-system/aws-auth.
        """
        with self.store.transaction() as tx:
            cluster = replace(
                self._cluster(tx, name, lock=True), endpoint=endpoint, certificate_authority=certificate_authority,
                api_token_ciphertext=api_token_ciphertext,
            )
            tx.save_cluster(cluster)
        return cluster

    def rotate_webhook_certificates(self, name: str) -> Cluster:
        """A new webhook-certificate generation: the certificates issued for earlier ones stop working
        once the webhooks' snapshots have the cluster's new revision (at once here, within a sync elsewhere)."""
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, name, lock=True)
            generation = cluster.webhook_generation + 1
            cluster = replace(cluster, spec={**cluster.spec, WEBHOOK_GENERATION: generation})
            tx.save_cluster(cluster)
        return cluster

    def clusters_with_credentials(self) -> list[Cluster]:
        """Clusters whose live aws-auth kubegate follows (one cheap query when there are none)."""
        with self.store.transaction() as tx:
            found = (tx.cluster(name) for name in tx.credentialed_cluster_names())
            return [c for c in found if c is not None and c.endpoint and c.api_token_ciphertext]

    def set_aws_auth(self, name: str, document: str, source: str, *, author: str | None = None) -> int:
        """Store a new aws-auth version; an invalid one is refused and the previous keeps serving.

        A live cluster's report of what kubegate itself just wrote there (same resourceVersion,
        or the same document) is not stored twice: the edit already recorded it, attributed.
        """
        try:
            parse_config_map_yaml(document, strict=True)
        except AwsAuthError as exc:
            raise InvalidParameter(exc.message, cluster_name=name) from None
        with self.store.transaction() as tx:
            self._cluster(tx, name, lock=True)
            newest = tx.aws_auth(name)
            if newest is not None and source.startswith("cluster:") and (newest[2] == source or newest[1] == document):
                return newest[0]
            before = config_map_data(newest[1]) if newest is not None else {}
            changes = describe_changes(before, config_map_data(document))
            return tx.add_aws_auth(name, document, source, self.clock(), author=author, changes=changes)

    def register_instance(self, instance_id: str, private_dns_name: str) -> None:
        """kubegate's stand-in for EC2 DescribeInstances: what {{EC2PrivateDNSName}} resolves to."""
        if not INSTANCE_ID.fullmatch(instance_id):
            raise InvalidParameter(f"{instance_id!r} is not an EC2 instance ID (i- and 8 or 17 characters)")
        if not private_dns_name or " " in private_dns_name:
            raise InvalidParameter(f"{private_dns_name!r} is not a DNS name")
        with self.store.transaction() as tx:
            tx.put_instance(instance_id, private_dns_name, self.clock())

    def update_cluster_config(
        self, name: str, changes: Mapping[str, Any], client_request_token: str | None = None
    ) -> Update:
        kinds = [member for member in changes if member in UPDATE_KINDS]
        unsupported = [member for member in changes if member not in UPDATE_KINDS]
        if unsupported:
            raise InvalidParameter(f"kubegate does not support updating {', '.join(sorted(unsupported))}")
        if len(kinds) > 1:
            raise InvalidParameter("Only one type of update can be allowed.")
        if not kinds:
            raise InvalidParameter("No changes were requested.")
        member = kinds[0]
        now = self.clock()
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, name, lock=True)
            busy = cluster.update_in_progress(now)
            if busy is not None:
                raise ResourceInUse(
                    f"Cannot {UPDATE_KINDS[member]} because cluster {name} currently has update {busy.id} in progress",
                    cluster_name=name,
                )
            value = changes[member]
            if member == "accessConfig":
                cluster, params = self._change_mode(tx, cluster, value, now)
            else:
                cluster = replace(cluster, spec={**cluster.spec, member: {**cluster.spec.get(member, {}), **value}})
                params = _update_params(member, value)
            update_ = Update(
                id=self.new_id(),
                cluster_name=name,
                type=UPDATE_KINDS[member],
                params=params,
                created_at=now,
                settles_at=settle_time(now, self.settle_seconds),
            )
            tx.save_cluster(cluster)
            tx.add_update(update_)
        return update_

    def _change_mode(
        self, tx: Transaction, cluster: Cluster, access_config: Mapping[str, Any], now: datetime
    ) -> tuple[Cluster, tuple[tuple[str, str], ...]]:
        if "authenticationMode" not in access_config:
            raise InvalidParameter("accessConfig.authenticationMode must be specified")
        new_mode = AuthenticationMode(access_config["authenticationMode"])
        check_transition(cluster.authentication_mode, new_mode)
        changed = replace(cluster, authentication_mode=new_mode)
        if cluster.bootstrap_admin:
            # The creator's hidden system:masters mapping becomes a visible entry, as EKS does.
            self._add_creator_entry(tx, changed, now)
        return changed, (("AuthenticationMode", new_mode.value),)

    def describe_update(self, name: str, update_id: str) -> Update:
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, name)
        for update_ in cluster.updates:
            if update_.id == update_id:
                return update_
        raise ResourceNotFound(f"No update found for ID: {update_id}", cluster_name=name)

    def list_updates(self, name: str, max_results: int | None, next_token: str | None) -> tuple[list[str], str | None]:
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, name)
        ids = [u.id for u in cluster.updates]
        after = decode_token(next_token)
        start = ids.index(after) + 1 if after in ids else 0
        size = max_results or 100
        chosen = ids[start : start + size]
        return chosen, encode_token(chosen[-1]) if start + size < len(ids) else None

    # access entries

    def create_access_entry(
        self,
        *,
        cluster_name: str,
        principal_arn: str,
        kubernetes_groups: list[str] | None = None,
        tags: Mapping[str, str] | None = None,
        client_request_token: str | None = None,
        username: str | None = None,
        type: str | None = None,
    ) -> tuple[AccessEntry, dict[str, str]]:
        now = self.clock()
        try:
            with self.store.transaction() as tx:
                self._entry_cluster(tx, cluster_name, lock=True)
                principal = parse_principal_arn(principal_arn)
                entry_type = EntryType.parse(type)
                name, groups = identity_for(principal, entry_type, username, kubernetes_groups, self.account)
                principal_id = self._principal_id(tx, principal)
                tagrules.check_tags(tags or {}, InvalidParameter)
                exists, token, count = tx.entry_token_and_count(cluster_name, principal.arn)
                if exists:
                    if client_request_token and token == client_request_token:
                        existing = self._entry(tx, cluster_name, principal.arn)
                        return existing, tx.tags(existing.arn)
                    raise ResourceInUse(ENTRY_IN_USE, cluster_name=cluster_name)
                if count >= MAX_ENTRIES_PER_CLUSTER:
                    raise ResourceLimitExceeded(
                        f"Cluster {cluster_name} already has the maximum of {MAX_ENTRIES_PER_CLUSTER} access entries",
                        cluster_name=cluster_name,
                    )
                entry = AccessEntry(
                    cluster_name=cluster_name,
                    principal=principal,
                    principal_id=principal_id,
                    type=entry_type,
                    username=name,
                    kubernetes_groups=groups,
                    arn=self._entry_arn(cluster_name, principal),
                    created_at=now,
                    modified_at=now,
                    client_request_token=client_request_token,
                )
                tx.add_entry(entry)
                if tags:  # a new entry has no tags to replace
                    tx.set_tags(entry.arn, dict(tags))
                return entry, dict(tags or {})
        except Conflict:
            raise ResourceInUse(ENTRY_IN_USE, cluster_name=cluster_name) from None

    def describe_access_entry(self, cluster_name: str, principal_arn: str) -> tuple[AccessEntry, dict[str, str]]:
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name)
            entry = self._entry(tx, cluster_name, principal_arn)
            return entry, tx.tags(entry.arn)

    def list_access_entries(
        self,
        cluster_name: str,
        associated_policy_arn: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[str], str | None]:
        if associated_policy_arn is not None:
            policy_by_arn(associated_policy_arn)
        size = max_results or 100
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name)
            entries = tx.entries(
                cluster_name, after=decode_token(next_token), limit=size + 1, with_policy=associated_policy_arn
            )
        arns = [e.principal_arn for e in entries[:size]]
        return arns, encode_token(arns[-1]) if len(entries) > size else None

    def update_access_entry(
        self,
        *,
        cluster_name: str,
        principal_arn: str,
        kubernetes_groups: list[str] | None = None,
        client_request_token: str | None = None,
        username: str | None = None,
    ) -> tuple[AccessEntry, dict[str, str]]:
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name, lock=True)
            before = self._entry(tx, cluster_name, principal_arn)
            entry = updated(before, username, kubernetes_groups, self.clock())
            tx.save_entry(entry, before)
            return entry, tx.tags(entry.arn)

    def delete_access_entry(self, cluster_name: str, principal_arn: str) -> None:
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name, lock=True)
            tx.delete_entry(self._entry(tx, cluster_name, principal_arn, policies=False))  # its associations go by key

    # access policies

    def list_access_policies(self, max_results: int | None, next_token: str | None) -> tuple[list[AccessPolicy], str | None]:
        by_name = {p.name: p for p in catalogue().values()}
        names, token = page(sorted(by_name), max_results, next_token)
        return [by_name[n] for n in names], token

    def associate_access_policy(
        self, *, cluster_name: str, principal_arn: str, policy_arn: str, access_scope: Mapping[str, Any]
    ) -> tuple[AccessEntry, PolicyAssociation]:
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name, lock=True)
            before = self._entry(tx, cluster_name, principal_arn)
            policy = policy_by_arn(policy_arn)
            scope = requested_scope(access_scope)
            entry, association = associate(before, policy, scope, self.clock())
            tx.save_entry(entry, before)
        return entry, association

    def disassociate_access_policy(self, *, cluster_name: str, principal_arn: str, policy_arn: str) -> None:
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name, lock=True)
            entry = self._entry(tx, cluster_name, principal_arn)
            check_policy_allowed(entry, None, None)
            remaining = tuple(p for p in entry.policies if p.policy_arn != policy_arn)
            if len(remaining) == len(entry.policies):
                raise ResourceNotFound(
                    f"The specified policyArn {policy_arn} is not associated with this access entry.",
                    cluster_name=cluster_name,
                )
            tx.save_entry(replace(entry, policies=remaining), entry)

    def list_associated_access_policies(
        self, cluster_name: str, principal_arn: str, max_results: int | None, next_token: str | None
    ) -> tuple[AccessEntry, list[PolicyAssociation], str | None]:
        with self.store.transaction() as tx:
            self._entry_cluster(tx, cluster_name)
            entry = self._entry(tx, cluster_name, principal_arn)
        check_policy_allowed(entry, None, None)
        by_arn = {p.policy_arn: p for p in entry.policies}
        arns, token = page(sorted(by_arn), max_results, next_token)
        return entry, [by_arn[a] for a in arns], token

    # tags

    def _tagged(self, tx: Transaction, resource_arn: str) -> str:
        """Resolve a taggable resource (a cluster, an access entry or an identity provider config)
        or fail as EKS's tagging does."""
        try:
            arn = Arn.parse(resource_arn)
        except ValueError:
            raise BadRequest(f"Invalid ARN: {resource_arn}") from None
        if arn.service != "eks" or arn.account != self.account:
            raise BadRequest(f"Invalid ARN: {resource_arn}")
        if (tx.cluster_by_arn(resource_arn) is None and tx.entry_by_arn(resource_arn) is None
                and not self._live_oidc_config(tx, resource_arn)):
            raise NotFound(f"Resource not found: {resource_arn}")
        return resource_arn

    def _live_oidc_config(self, tx: Transaction, arn: str) -> bool:
        config = tx.oidc_config_by_arn(arn)
        return config is not None and not is_gone(config, self.clock())

    def tag_resource(self, resource_arn: str, tags: Mapping[str, str]) -> None:
        with self.store.transaction() as tx:
            arn = self._tagged(tx, resource_arn)
            tx.set_tags(arn, tagrules.merged(tx.tags(arn), tags, BadRequest))

    def untag_resource(self, resource_arn: str, tag_keys: list[str]) -> None:
        with self.store.transaction() as tx:
            arn = self._tagged(tx, resource_arn)
            tx.set_tags(arn, tagrules.without(tx.tags(arn), tag_keys))

    def entry_authorization_facts(self, cluster_name: str,
                                  principal_arn: str) -> tuple[str, AccessEntry | None, dict[str, str]]:
        """What an action on one access entry is authorized against, in one read: the entry's ARN (a
        pattern if it does not exist), the stored entry (its condition keys) and its tags."""
        try:
            principal = parse_principal_arn(principal_arn)
        except InvalidParameter:
            arn = self.cluster_arn(cluster_name)
            return arn, None, self.resource_tags(arn)
        with self.store.transaction() as tx:
            entry = tx.entry(cluster_name, principal.arn)
            if entry is None:
                return (f"arn:{self.partition}:eks:{self.region}:{self.account}:access-entry/{cluster_name}/"
                        f"{principal.kind.value}/{principal.account}/{principal.name or 'root'}/*"), None, {}
            return entry.arn, entry, tx.tags(entry.arn)

    def entry_for_authorization(self, cluster_name: str, principal_arn: str) -> AccessEntry | None:
        """The stored entry an action acts on, whose properties are its condition keys (None if none)."""
        try:
            principal = parse_principal_arn(principal_arn)
        except InvalidParameter:
            return None
        with self.store.transaction() as tx:
            return tx.entry(cluster_name, principal.arn)

    def resource_tags(self, arn: str) -> dict[str, str]:
        """The tags IAM conditions see as aws:ResourceTag/*; none for a resource that does not exist."""
        with self.store.transaction() as tx:
            return tx.tags(arn)

    def list_tags_for_resource(self, resource_arn: str) -> dict[str, str]:
        with self.store.transaction() as tx:
            return tx.tags(self._tagged(tx, resource_arn))


def existing_cluster(tx: Transaction, name: str, *, lock: bool = False) -> Cluster:
    """The cluster, or EKS's ResourceNotFoundException for every operation that names one.

    ``lock``: every write takes the cluster's row lock before it reads what it will change, so
    writes to one cluster (from any replica) run one after another: two creates of one entry
    give one ResourceInUseException, concurrent associations are never lost, and of two mode
    switches the second sees the first's result. The database does it, not Python.
    """
    check_cluster_name(name)
    cluster = tx.cluster(name, lock=lock)
    if cluster is None:
        raise ResourceNotFound(f"No cluster found for name: {name}.", cluster_name=name)
    return cluster


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# resourcesVpcConfig members and the UpdateParamType EKS lists each change under.
VPC_PARAM_TYPES = {
    "endpointPublicAccess": "EndpointPublicAccess",
    "endpointPrivateAccess": "EndpointPrivateAccess",
    "publicAccessCidrs": "PublicAccessCidrs",
    "subnetIds": "Subnets",
    "securityGroupIds": "SecurityGroups",
    "controlPlaneEgressMode": "ControlPlaneEgressMode",
}


def _update_params(member: str, value: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A logging or VPC update's params as EKS lists them: one per changed setting, typed by the model.

    Values are text: booleans as ``true``/``false``, lists as JSON (``["203.0.113.5/32"]``).
    """
    if member == "logging":
        return (("ClusterLogging", _compact_json(value)),)

    def text(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        return item if isinstance(item, str) else _compact_json(item)

    return tuple((VPC_PARAM_TYPES[key], text(item)) for key, item in value.items() if key in VPC_PARAM_TYPES)
