"""Edits to a cluster's aws-auth, wherever it lives, never overwriting a concurrent edit.

A cluster's aws-auth is either kubegate's stored versions (``kubegate awsauth set``) or,
when the cluster's API server and token are recorded, the live ``kube-system/aws-auth``
ConfigMap. A stored edit is one transaction on the newest version; a live edit is a
read-modify-write with the object's ``resourceVersion``, retried from a fresh read when the
API server answers 409 (someone else wrote in between) and refused with the reason when that
keeps happening. Every edit is recorded as a version with its author and what it changed,
which is what ``kubegate awsauth history`` shows.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet

from kubegate.domain.aws_auth import AwsAuth, AwsAuthError, parse_config_map
from kubegate.domain.clusters import Cluster
from kubegate.domain.errors import InvalidParameter, InvalidRequest
from kubegate.domain.identity_mappings import config_map_data, describe_changes
from kubegate.service.access import AccessService, existing_cluster
from kubegate.service.aws_auth_watch import render
from kubegate.service.config_map_client import ConfigMapClient, ConfigMapConflict, ConfigMapError, LiveConfigMap
from kubegate.service.live_aws_auth import ABSENT
from kubegate.store.database import AwsAuthVersion, Conflict

ATTEMPTS = 5  # read-modify-write rounds before a live edit gives up on a busy ConfigMap
NONE = "none"  # the version label of a cluster that has no aws-auth

Edit = Callable[[dict[str, str]], dict[str, str]]
ClientFactory = Callable[..., ConfigMapClient]


@dataclass(frozen=True)
class AwsAuthState:
    """A cluster's aws-auth as read at one moment, and the label that names that moment."""

    data: dict[str, str]
    version: str  # a stored version number, "live@<resourceVersion>", or "none"
    live: bool
    live_object: LiveConfigMap | None = None

    @property
    def parsed(self) -> AwsAuth:
        return parse_config_map(self.data, strict=False)


class StaleAwsAuth(InvalidRequest):
    """aws-auth changed since the version a plan was made from."""


class AwsAuthEdits:
    def __init__(self, access: AccessService, cipher: Fernet, client: ClientFactory = ConfigMapClient) -> None:
        self.access = access
        self.cipher = cipher
        self.client = client

    def state(self, cluster_name: str) -> AwsAuthState:
        cluster = self._cluster(cluster_name)
        if _is_live(cluster):
            with closing(self._client(cluster)) as client:
                current = _live(client.get)
            if current is None:
                return AwsAuthState({}, NONE, True)
            return AwsAuthState(dict(current.data), f"live@{current.resource_version}", True, current)
        with self.access.store.transaction() as tx:
            stored = tx.aws_auth(cluster_name)
        if stored is None:
            return AwsAuthState({}, NONE, False)
        return AwsAuthState(config_map_data(stored[1]), str(stored[0]), False)

    def history(self, cluster_name: str) -> list[AwsAuthVersion]:
        with self.access.store.transaction() as tx:
            existing_cluster(tx, cluster_name)
            return tx.aws_auth_history(cluster_name)

    def edit(self, cluster_name: str, edit: Edit, *, author: str | None, what: str) -> tuple[AwsAuthState, list[str]]:
        """Apply ``edit`` to the newest aws-auth; the new state and the lines describing the change."""
        cluster = self._cluster(cluster_name)
        if _is_live(cluster):
            return self._edit_live(cluster, edit, author=author, what=what)
        for _ in range(ATTEMPTS):
            try:
                with self.access.store.transaction() as tx:
                    stored = tx.aws_auth(cluster_name)
                    before = config_map_data(stored[1]) if stored else {}
                    after = _checked(edit(dict(before)))
                    changes = describe_changes(before, after)
                    document = render({"metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": after})
                    version = tx.add_aws_auth(cluster_name, document, f"kubegate:{what}", self.access.clock(),
                                              author=author, changes=changes)
                return AwsAuthState(after, str(version), False), changes
            except Conflict:  # another writer took the next version number: read again
                continue
        raise InvalidRequest(f"aws-auth of cluster {cluster_name} kept changing; try again", cluster_name=cluster_name)

    def _edit_live(self, cluster: Cluster, edit: Edit, *, author: str | None,
                   what: str) -> tuple[AwsAuthState, list[str]]:
        with closing(self._client(cluster)) as client:
            for _ in range(ATTEMPTS):
                current = _live(client.get)
                before = dict(current.data) if current else {}
                after = _checked(edit(dict(before)))
                try:
                    if current is None:
                        version = _live(lambda: client.create(after))
                    else:
                        version = _live(lambda: client.replace(current, after))
                except ConfigMapConflict:
                    continue  # a concurrent edit: redo ours on top of it
                changes = describe_changes(before, after)
                self._record_live(cluster, after, version, author=author, changes=changes, what=what)
                obj = {**(current.obj if current else {}), "data": after}
                return AwsAuthState(after, f"live@{version}", True, LiveConfigMap(after, version, obj)), changes
        raise InvalidRequest(f"kube-system/aws-auth of cluster {cluster.name} was changed by someone else "
                             f"{ATTEMPTS} times while kubegate edited it; nothing was written by kubegate, try again",
                             cluster_name=cluster.name)

    def delete(self, cluster_name: str, expected: str, *, author: str | None, what: str) -> None:
        """Delete aws-auth, only if it is still the version the caller saw: the live ConfigMap with its
        resourceVersion as precondition, a stored one in the transaction that reads its version."""
        cluster = self._cluster(cluster_name)
        changes = [f"deleted aws-auth ({what})"]
        if _is_live(cluster):
            state = self.check(cluster_name, expected, consequence="it was not deleted")
            if state.live_object is None:
                return
            resource_version = state.live_object.resource_version
            with closing(self._client(cluster)) as client:
                try:
                    _live(lambda: client.delete(resource_version))
                except ConfigMapConflict:
                    raise stale(cluster_name, expected, "newer", "it was not deleted") from None
            self._record_live(cluster, None, "deleted", author=author, changes=changes, what=what)
            return
        with self.access.store.transaction() as tx:
            stored = tx.aws_auth(cluster_name)
            now = str(stored[0]) if stored else NONE
            if now != expected:
                raise stale(cluster_name, expected, now, "it was not deleted")
            if stored is not None:
                tx.add_aws_auth(cluster_name, ABSENT, f"kubegate:{what}", self.access.clock(), author=author,
                                changes=changes)

    def check(self, cluster_name: str, expected: str, *, consequence: str = "nothing was done") -> AwsAuthState:
        """The current state, refused if it is not the version a plan was made from."""
        state = self.state(cluster_name)
        if state.version != expected:
            raise stale(cluster_name, expected, state.version, consequence)
        return state

    def _record_live(self, cluster: Cluster, data: dict[str, str] | None, version: str, *, author: str | None,
                     changes: list[str], what: str) -> None:
        """Store what was written now, attributed; the watcher's report of the same resourceVersion is then
        a no-op (see AccessService.set_aws_auth)."""
        obj: dict[str, Any] = {"metadata": {"name": "aws-auth", "namespace": "kube-system", "resourceVersion": version}}
        document = render({**obj, "data": data}) if data is not None else ABSENT
        with self.access.store.transaction() as tx:
            tx.add_aws_auth(cluster.name, document, f"cluster:kube-system/aws-auth@{version}", self.access.clock(),
                            author=author, changes=[*changes, f"written to the cluster by kubegate ({what})"])

    def _cluster(self, name: str) -> Cluster:
        with self.access.store.transaction() as tx:
            return existing_cluster(tx, name)

    def _client(self, cluster: Cluster) -> ConfigMapClient:
        assert cluster.endpoint and cluster.api_token_ciphertext
        return self.client(server=cluster.endpoint, certificate_authority=cluster.certificate_authority,
                           token=self.cipher.decrypt(cluster.api_token_ciphertext).decode())


def stale(cluster_name: str, expected: str, now: str, consequence: str) -> StaleAwsAuth:
    """The refusal of a plan whose aws-auth has changed since it was made."""
    return StaleAwsAuth(f"aws-auth of cluster {cluster_name} changed since the plan (version {expected}, now {now}); "
                        f"{consequence}: plan again", cluster_name=cluster_name)


def _is_live(cluster: Cluster) -> bool:
    return bool(cluster.endpoint and cluster.api_token_ciphertext)


def _live(call: Callable[[], Any]) -> Any:
    """A ConfigMap call; its failure becomes the caller's error (a conflict stays a conflict for retries)."""
    try:
        return call()
    except ConfigMapConflict:
        raise
    except ConfigMapError as exc:
        raise InvalidRequest(f"the cluster's API server: {exc.message}") from None


def _checked(data: dict[str, str]) -> dict[str, str]:
    """An edit must leave an aws-auth the authenticator reads whole."""
    try:
        parse_config_map(data, strict=True)
    except AwsAuthError as exc:
        raise InvalidParameter(exc.message) from None
    return data

