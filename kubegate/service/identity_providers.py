"""EKS's OIDC identity provider configs: associate, describe, list, disassociate.

Associating and disassociating are cluster updates, as on EKS: each writes an ``Update``
(tracked by DescribeUpdate/ListUpdates) and bumps the cluster's revision in the same
transaction, so the webhooks' snapshots pick the change up. A disassociated config is
DELETING until ``--settle-seconds`` pass, then gone: filtered out of reads and purged with
its tags by the cluster's next identity-provider write.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubegate.domain import tags as tagrules
from kubegate.domain.clusters import Cluster, Update, settle_time
from kubegate.domain.errors import (
    InvalidParameter,
    InvalidRequest,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
)
from kubegate.domain.identity_providers import (
    MAX_CONFIGS_PER_CLUSTER,
    OIDC,
    OidcConfig,
    check_oidc_request,
    is_gone,
    not_associated_message,
    not_found_message,
    update_param,
)
from kubegate.domain.pagination import page
from kubegate.service.access import AccessService, existing_cluster
from kubegate.store.database import Conflict, Transaction

ASSOCIATE = "AssociateIdentityProviderConfig"
DISASSOCIATE = "DisassociateIdentityProviderConfig"


class IdentityProviderService:
    """Shares the access service's store, account, clock, IDs and settle time."""

    def __init__(self, access: AccessService) -> None:
        self.access = access
        self.store = access.store

    # helpers

    @staticmethod
    def _cluster(tx: Transaction, name: str, *, lock: bool = False) -> Cluster:
        return existing_cluster(tx, name, lock=lock)

    @staticmethod
    def _live(tx: Transaction, cluster_name: str, now: datetime) -> list[OidcConfig]:
        return [c for c in tx.oidc_configs(cluster_name) if not is_gone(c, now)]

    @staticmethod
    def _purge(tx: Transaction, cluster_name: str, now: datetime) -> list[OidcConfig]:
        """Drop the configs whose DELETING time is over (with their tags); the rest."""
        live = []
        for config in tx.oidc_configs(cluster_name):
            if is_gone(config, now):
                tx.delete_oidc_config(config)
            else:
                live.append(config)
        return live

    def _config_arn(self, cluster_name: str, name: str, suffix: str) -> str:
        a = self.access
        return (f"arn:{a.partition}:eks:{a.region}:{a.account}:identityproviderconfig/"
                f"{cluster_name}/{OIDC}/{name}/{suffix}")

    def _update(self, cluster_name: str, kind: str, name: str, now: datetime) -> Update:
        return Update(
            id=self.access.new_id(),
            cluster_name=cluster_name,
            type=kind,
            params=(update_param(name),),
            created_at=now,
            settles_at=settle_time(now, self.access.settle_seconds),
        )

    @staticmethod
    def _not_busy(cluster: Cluster, kind: str, now: datetime) -> None:
        busy = cluster.update_in_progress(now)
        if busy is not None:
            raise ResourceInUse(
                f"Cannot {kind} because cluster {cluster.name} currently has update {busy.id} in progress",
                cluster_name=cluster.name,
            )

    # operations

    def associate(
        self,
        cluster_name: str,
        oidc: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        client_request_token: str | None = None,
    ) -> tuple[Update, dict[str, str]]:
        name = str(oidc.get("identityProviderConfigName") or "")
        now = self.access.clock()
        in_use = f"An identity provider config named {name} is already associated with cluster {cluster_name}"
        try:
            with self.store.transaction() as tx:
                cluster = self._cluster(tx, cluster_name, lock=True)
                check_oidc_request(oidc, cluster_name)
                tagrules.check_tags(tags or {}, InvalidParameter)
                live = self._purge(tx, cluster_name, now)
                same_name = next((c for c in live if c.name == name), None)
                if same_name is not None:
                    if (client_request_token and same_name.client_request_token == client_request_token
                            and same_name.deleting_until is None):
                        return self._association_update(cluster, same_name), tx.tags(same_name.arn)
                    raise ResourceInUse(in_use, cluster_name=cluster_name)
                if any(c.issuer_url == oidc["issuerUrl"] for c in live):
                    raise InvalidParameter(
                        f"The issuerUrl {oidc['issuerUrl']} is already used by an identity provider config of "
                        f"cluster {cluster_name}: each provider can be associated only once",
                        cluster_name=cluster_name,
                    )
                if len(live) >= MAX_CONFIGS_PER_CLUSTER:
                    raise ResourceLimitExceeded(
                        f"Cluster {cluster_name} already has the maximum of {MAX_CONFIGS_PER_CLUSTER} "
                        "identity provider configs",
                        cluster_name=cluster_name,
                    )
                self._not_busy(cluster, ASSOCIATE, now)
                config = OidcConfig(
                    cluster_name=cluster_name,
                    name=name,
                    issuer_url=oidc["issuerUrl"],
                    client_id=oidc["clientId"],
                    arn=self._config_arn(cluster_name, name, self.access.new_id()),
                    created_at=now,
                    settles_at=settle_time(now, self.access.settle_seconds),
                    username_claim=oidc.get("usernameClaim"),
                    username_prefix=oidc.get("usernamePrefix"),
                    groups_claim=oidc.get("groupsClaim"),
                    groups_prefix=oidc.get("groupsPrefix"),
                    required_claims=tuple((oidc.get("requiredClaims") or {}).items()),
                    client_request_token=client_request_token,
                )
                update_ = self._update(cluster_name, ASSOCIATE, name, now)
                tx.add_oidc_config(config)
                tx.set_tags(config.arn, dict(tags or {}))
                tx.add_update(update_)
                return update_, dict(tags or {})
        except Conflict:
            raise ResourceInUse(in_use, cluster_name=cluster_name) from None

    @staticmethod
    def _association_update(cluster: Cluster, config: OidcConfig) -> Update:
        """The update a retried Associate (same clientRequestToken) answers with again."""
        param = update_param(config.name)
        found = [u for u in cluster.updates if u.type == ASSOCIATE and u.params == (param,)]
        if not found:  # not expected: the config and its update are written together
            raise ResourceInUse(f"An identity provider config named {config.name} is already associated",
                                cluster_name=cluster.name)
        return found[-1]

    def describe(self, cluster_name: str, config_type: str, name: str) -> tuple[OidcConfig, dict[str, str]]:
        now = self.access.clock()
        with self.store.transaction() as tx:
            self._cluster(tx, cluster_name)
            config = next((c for c in self._live(tx, cluster_name, now) if c.name == name), None)
            if config is None or config_type != OIDC:
                raise ResourceNotFound(not_found_message(cluster_name, config_type, name), cluster_name=cluster_name)
            return config, tx.tags(config.arn)

    def list(self, cluster_name: str, max_results: int | None, next_token: str | None) -> tuple[list[str], str | None]:
        now = self.access.clock()
        with self.store.transaction() as tx:
            self._cluster(tx, cluster_name)
            names = [c.name for c in self._live(tx, cluster_name, now)]
        return page(names, max_results, next_token)

    def disassociate(self, cluster_name: str, config_type: str, name: str) -> Update:
        now = self.access.clock()
        with self.store.transaction() as tx:
            cluster = self._cluster(tx, cluster_name, lock=True)
            live = self._purge(tx, cluster_name, now)
            config = next((c for c in live if c.name == name), None)
            if config is None or config_type != OIDC or config.deleting_until is not None:
                raise InvalidRequest(not_associated_message(cluster_name), cluster_name=cluster_name)
            self._not_busy(cluster, DISASSOCIATE, now)
            update_ = self._update(cluster_name, DISASSOCIATE, name, now)
            tx.mark_oidc_config_deleting(config, update_.settles_at)
            tx.add_update(update_)
        return update_

    # authorization

    def config_arn(self, cluster_name: str, identity_provider_config: Any) -> str:
        """The ARN Describe/Disassociate are authorized on: the config's, or a pattern if there is none."""
        spec = identity_provider_config if isinstance(identity_provider_config, Mapping) else {}
        name = str(spec.get("name", ""))
        now = self.access.clock()
        with self.store.transaction() as tx:
            config = next((c for c in self._live(tx, cluster_name, now) if c.name == name), None)
        if config is not None and spec.get("type") == OIDC:
            return config.arn
        return self._config_arn(cluster_name, name, "*")
