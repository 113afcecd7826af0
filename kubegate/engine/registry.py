"""The live snapshots of every cluster, rebuilt after each committed change and swapped whole.

A webhook call reads one dict entry and never waits for the database. Changes made in
this process arrive through the store's commit listener; changes made elsewhere (another
replica, the CLI writing the same database) are found by :meth:`SnapshotRegistry.sync`,
which compares revisions.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from kubegate.domain.aws_auth import AwsAuth, AwsAuthError, parse_config_map_yaml
from kubegate.engine.snapshot import ClusterSnapshot, build_snapshot
from kubegate.store.database import INSTANCES, Store, Transaction

log = logging.getLogger("kubegate.engine")


class SnapshotRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshots: dict[str, ClusterSnapshot] = {}
        self._instances: dict[str, str] = {}
        self._lock = threading.Lock()  # serializes rebuilds; readers never take it
        store.on_commit(self.refresh)
        self.sync()

    def snapshot(self, cluster_name: str) -> ClusterSnapshot | None:
        return self._snapshots.get(cluster_name)

    def sync(self) -> None:
        """Rebuild what is stale or new, drop what was deleted."""
        with self.store.transaction() as tx:
            revisions = tx.revisions()
        stale = {n for n, rev in revisions.items() if (s := self._snapshots.get(n)) is None or s.revision != rev}
        gone = set(self._snapshots) - set(revisions)
        instances_changed = False
        with self.store.transaction() as tx:
            instances = tx.instances()
        if instances != self._instances:
            instances_changed = True
        if stale or gone or instances_changed:
            self.refresh(frozenset(stale | gone | ({INSTANCES} if instances_changed else set())))

    def refresh(self, names: frozenset[str]) -> None:
        with self._lock:
            with self.store.transaction() as tx:
                if INSTANCES in names or not self._instances:
                    self._instances = tx.instances()
                revisions = tx.revisions()
                fresh = {name: self._build(tx, name, revisions.get(name, 0)) for name in names - {INSTANCES}}
            snapshots = dict(self._snapshots)
            if INSTANCES in names:  # the registry is shared: hand it to every snapshot, no rebuild
                snapshots = {n: replace(s, instances=self._instances) for n, s in snapshots.items()}
            for name, snapshot in fresh.items():
                if snapshot is None:
                    snapshots.pop(name, None)
                else:
                    snapshots[name] = snapshot
            self._snapshots = snapshots  # one reference swap: readers see the old or the new, whole

    def _build(self, tx: Transaction, name: str, revision: int) -> ClusterSnapshot | None:
        cluster = tx.cluster(name)
        if cluster is None:
            return None
        stored = tx.aws_auth(name)
        aws_auth, version = AwsAuth(), None
        if stored is not None:
            version = stored[0]
            try:
                aws_auth = parse_config_map_yaml(stored[1], strict=False)
            except AwsAuthError as exc:  # validated when stored; keep serving without it rather than crash
                log.error("cluster %s: aws-auth v%d unreadable: %s", name, version, exc.message)
        return build_snapshot(cluster, revision, tx.entries(name), aws_auth, version, self._instances)
