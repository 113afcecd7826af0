"""The live snapshots of every cluster, rebuilt after each committed change and swapped whole.

A webhook call reads one dict entry and never waits for the database. Changes made in
this process arrive through the store's commit listener; changes made elsewhere (another
replica, the CLI writing the same database) are found by :meth:`SnapshotRegistry.sync`,
which compares revisions.

The registry also keeps `iam_generation`, which grows whenever kubegate's IAM may have taken
an identity away (here through the commit listener, elsewhere through the store's counter,
compared by the same sync), so the token webhook drops identities the embedded STS vouched
for before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace

from kubegate.domain.access_entries import AccessEntry
from kubegate.domain.aws_auth import AwsAuth, AwsAuthError, parse_config_map_yaml
from kubegate.engine.snapshot import ClusterSnapshot, build_snapshot
from kubegate.store.database import IAM, INSTANCES, Committed, Store, Transaction

log = logging.getLogger("kubegate.engine")


class SnapshotRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshots: dict[str, ClusterSnapshot] = {}
        self._instances: dict[str, str] = {}
        self._lock = threading.Lock()  # serializes rebuilds; readers never take it
        # Only grows (under _iam_lock), read without one. Local, not the store's counter: a bump after
        # a commit here needs no read, and the counter is compared only for changes made elsewhere.
        self.iam_generation = 0
        self._iam_lock = threading.Lock()
        self._iam_stored: int | None = None  # the store's counter at the last sync
        self._instances_mark: tuple[int, object] | None = None  # the registry's size and newest row at the last read
        self.last_sync: float | None = None  # wall-clock time of the last successful revision check
        self.stale_since: float | None = None  # set while the database cannot be read: when it last could
        store.on_commit(self.apply)
        self.sync()
        self.synced()

    def heard(self, committed: Committed | None) -> None:
        """A notice from another process: one commit, or None (notices may have been missed)."""
        if committed is None:
            self.sync()
        else:
            self.apply(committed)

    def health(self) -> dict[str, object]:
        """What /readyz shows: each snapshot's revision and age, and since when the database is unreachable."""
        now = time.time()
        return {"clusters": {name: {"revision": s.revision} for name, s in sorted(self._snapshots.items())},
                "lastSync": self.last_sync, "secondsSinceSync": None if self.last_sync is None else now - self.last_sync,
                "staleSince": self.stale_since}

    def revisions(self) -> dict[str, int]:
        """Each snapshot's revision, as served now."""
        return {name: s.revision for name, s in self._snapshots.items()}

    def synced(self) -> None:
        self.last_sync = time.time()
        self.stale_since = None

    def sync_failed(self) -> None:
        if self.stale_since is None:
            self.stale_since = self.last_sync or time.time()

    @property
    def instances(self) -> dict[str, str]:
        """The EC2 instance registry as the snapshots see it."""
        return self._instances

    def snapshot(self, cluster_name: str) -> ClusterSnapshot | None:
        return self._snapshots.get(cluster_name)

    def apply(self, committed: Committed) -> None:
        """Catch up with one commit: this process's own, or another's heard through NOTIFY.

        A snapshot one revision behind a commit that changed only access entries gets just those
        entries (a write's cost does not grow with the cluster); anything else is rebuilt.
        """
        if committed.iam:
            self._iam_changed()
        rebuild: set[str] = {INSTANCES} if committed.instances else set()
        for name, revision in committed.revisions.items():
            current = self._snapshots.get(name)
            if revision is not None and current is not None and current.revision >= revision:
                continue  # already applied (our own commit, heard again)
            principals = committed.entries.get(name)
            written = committed.written.get(name)
            if revision is None or principals is None or not self._patch(name, revision, principals, written):
                rebuild.add(name)
        if rebuild:
            self.refresh(frozenset(rebuild))

    def _patch(self, name: str, revision: int, principals: frozenset[str],
               written: Mapping[str, AccessEntry | None] | None = None) -> bool:
        """Apply one commit's entries (as this process wrote them, or read now); False when the
        snapshot is not exactly one revision behind."""
        with self._lock:
            current = self._snapshots.get(name)
            if current is None or current.revision != revision - 1:
                return current is not None and current.revision >= revision
            if written is not None:
                entries = [entry for entry in written.values() if entry is not None]
            else:
                with self.store.transaction() as tx:
                    entries = tx.entries_of(name, principals)
            # Entries read now may already hold a later commit's change: fresher, never older. That
            # commit's own notice finds the revision one behind and applies its entries again.
            self._snapshots = {**self._snapshots, name: current.with_entries(revision, principals, entries)}
        return True

    def sync(self) -> None:
        """Rebuild what is stale or new, drop what was deleted."""
        with self.store.transaction() as tx:  # three small reads, every half second: the poll must stay cheap
            revisions = tx.revisions()
            iam_stored = tx.iam_generation()
            mark = tx.instances_mark()
        if iam_stored != self._iam_stored:  # read before bumping, so a change committed meanwhile is not missed
            if self._iam_stored is not None:
                self._iam_changed()
            self._iam_stored = iam_stored
        stale = {n for n, rev in revisions.items() if (s := self._snapshots.get(n)) is None or s.revision != rev}
        gone = set(self._snapshots) - set(revisions)
        instances_changed = mark != self._instances_mark
        if stale or gone or instances_changed:
            self.refresh(frozenset(stale | gone | ({INSTANCES} if instances_changed else set())))

    def refresh(self, names: frozenset[str]) -> None:
        if IAM in names:
            self._iam_changed()  # the next sync sees the store's counter moved and bumps once more: harmless
            names = names - {IAM}
            if not names:
                return
        with self._lock:
            with self.store.transaction() as tx:
                if INSTANCES in names or self._instances_mark is None:
                    self._instances_mark = tx.instances_mark()
                    self._instances = tx.instances()
                revisions = tx.revisions()
                # A snapshot already at the revision the database has now is current: a commit (its
                # own, or one heard) reached it while this rebuild was being decided (a poll that
                # read the revisions just before a write, say). Rebuilding it would change nothing.
                fresh = {name: self._build(tx, name, revisions.get(name, 0)) for name in names - {INSTANCES}
                         if not self._current(name, revisions)}
            snapshots = dict(self._snapshots)
            if INSTANCES in names:  # the registry is shared: hand it to every snapshot, no rebuild
                snapshots = {n: replace(s, instances=self._instances) for n, s in snapshots.items()}
            for name, snapshot in fresh.items():
                if snapshot is None:
                    snapshots.pop(name, None)
                else:
                    snapshots[name] = snapshot
            self._snapshots = snapshots  # one reference swap: readers see the old or the new, whole

    def _current(self, name: str, revisions: Mapping[str, int]) -> bool:
        served = self._snapshots.get(name)
        return served is not None and name in revisions and served.revision == revisions[name]

    def _iam_changed(self) -> None:
        with self._iam_lock:
            self.iam_generation += 1

    def _build(self, tx: Transaction, name: str, revision: int) -> ClusterSnapshot | None:
        return load_snapshot(tx, name, revision, self._instances)


def load_snapshot(tx: Transaction, name: str, revision: int, instances: Mapping[str, str]) -> ClusterSnapshot | None:
    """One cluster's snapshot as the transaction sees it (also inside a rehearsal, before a change is made)."""
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
    return build_snapshot(cluster, revision, tx.entries(name), aws_auth, version, instances,
                          tuple(tx.oidc_configs(name)))
