"""The store: one SQLAlchemy engine, Alembic-migrated at open, and short transactions.

Every write of the service layer runs inside one :meth:`Store.transaction`, so a failed
check or a crash leaves nothing half-written. Rows are turned into domain objects here
and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    bindparam,
    create_engine,
    event,
    delete,
    func,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from kubegate.domain.access_entries import AccessEntry, EntryType, PolicyAssociation
from kubegate.domain.arns import parse_principal_arn
from kubegate.domain.clusters import Cluster, Creator, Update
from kubegate.domain.identity_providers import OidcConfig
from kubegate.domain.modes import AuthenticationMode
from kubegate.domain.policies import AccessScope, ScopeType
from kubegate.store import schema as t
from kubegate.store.iam_rows import IamRows

MIGRATIONS = Path(__file__).with_name("migrations")
INSTANCES = "\x00instances"  # the pseudo-name touched by changes to the EC2 instance registry
IAM = "\x00iam"  # the pseudo-name touched by IAM changes that can take an identity away (see IamRows)


class AwsAuthVersion(NamedTuple):
    version: int
    created_at: datetime
    source: str  # "file:<name>", "cluster:kube-system/aws-auth@<rv>", "kubegate:<what>"
    author: str | None  # the caller's ARN; None: the data dir's CLI, or an edit made in the cluster
    changes: tuple[str, ...]
    document: str


CHANGES_CHANNEL = "kubegate_changes"
MAX_PAYLOAD = 7900  # PostgreSQL's NOTIFY payload limit is 8000 bytes


@dataclass(frozen=True)
class Committed:
    """What one committed transaction changed: enough for a snapshot to catch up.

    ``entries`` names, per cluster, the access entries that changed when nothing else in that
    cluster did; a snapshot one revision behind applies just those. Any other change, or a gap in
    the revisions, means a rebuild.
    """

    revisions: Mapping[str, int | None]  # cluster -> its revision after the commit; None: deleted
    entries: Mapping[str, frozenset[str]] = field(default_factory=dict)
    instances: bool = False
    iam: bool = False
    # This process's own commit: the entries as written (None: deleted), so its snapshot needs no
    # read. Never sent: other processes read what the notice names.
    written: Mapping[str, Mapping[str, AccessEntry | None]] = field(default_factory=dict, compare=False)

    def payload(self) -> str:
        """The NOTIFY payload: JSON, entries dropped (a rebuild) if it would not fit."""
        document: dict[str, Any] = {"r": dict(self.revisions), "e": {k: sorted(v) for k, v in self.entries.items()},
                                    "i": self.instances, "a": self.iam}
        text_ = json.dumps(document, separators=(",", ":"))
        if len(text_.encode()) > MAX_PAYLOAD:
            document["e"] = {}
            text_ = json.dumps(document, separators=(",", ":"))
        if len(text_.encode()) > MAX_PAYLOAD:
            return "*"
        return text_

    @classmethod
    def from_payload(cls, payload: str) -> Committed | None:
        """None: too much changed to say (compare every revision)."""
        if payload == "*":
            return None
        document = json.loads(payload)
        return cls(document["r"], {k: frozenset(v) for k, v in document["e"].items()}, document["i"], document["a"])


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Write-ahead logging: a commit appends to one file and syncs it once (the rollback journal
    synced three times: most of a write's cost), readers never wait for a writer (workers and the
    CLI share the file), and synchronous=FULL keeps every acknowledged commit through a power loss."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


class Unavailable(Exception):
    """The database cannot be reached (or broke off mid-transaction): nothing was committed."""


def _first_line(exc: Exception) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return f"the database is unavailable: {text_.splitlines()[0][:300] if text_ else type(exc).__name__}"


class Conflict(Exception):
    """A write collided with a row that another writer committed first."""


Listener = Callable[["Committed"], None]


# The statements of the frequent paths (every entry write, every revision poll), built once.
# SQLAlchemy caches a statement's compiled form by its structure, but building a statement and
# computing that cache key costs ~130 µs each time; one built here with bind parameters computes
# its key once, so each use is the execution alone. The values are the same bound parameters a
# freshly built statement would send (and go through the same column types), so nothing reaches
# the database differently. Bind names never equal a column name: in an UPDATE or INSERT those
# would become values to set.
_cl, _ae, _pa, _tg = t.clusters.c, t.access_entries.c, t.policy_associations.c, t.tags.c
_CLUSTER_MODE = select(_cl.authentication_mode).where(_cl.name == bindparam("k_name"))
_CLUSTER_MODE_LOCKED = _CLUSTER_MODE.with_for_update()
_REVISIONS = select(_cl.name, _cl.revision)
_BUMP_ONE = (update(t.clusters).where(_cl.name == bindparam("k_name")).values(revision=_cl.revision + 1)
             .returning(_cl.name, _cl.revision))
_BUMP_MANY = (update(t.clusters).where(_cl.name.in_(bindparam("k_names", expanding=True)))
              .values(revision=_cl.revision + 1).returning(_cl.name, _cl.revision))
_IAM_GENERATION = select(t.iam_generation.c.generation)
_BUMP_IAM = update(t.iam_generation).values(generation=t.iam_generation.c.generation + 1)
_INSTANCES_MARK = select(func.count(), func.max(t.ec2_instances.c.registered_at))
_ENTRY = select(t.access_entries).where(_ae.cluster_name == bindparam("k_cluster"),
                                         _ae.principal_arn == bindparam("k_principal"))
_ENTRY_TOKEN = select(_ae.client_request_token).where(_ae.cluster_name == bindparam("k_cluster"),
                                                       _ae.principal_arn == bindparam("k_principal"))
_ENTRIES_OF = select(t.access_entries).where(_ae.cluster_name == bindparam("k_cluster"),
                                              _ae.principal_arn.in_(bindparam("k_principals", expanding=True)))
_COUNT_ENTRIES = select(func.count()).where(_ae.cluster_name == bindparam("k_cluster"))
_ENTRY_TOKEN_AND_COUNT = select(  # what a create checks, in one statement
    select(func.count()).where(_ae.cluster_name == bindparam("k_cluster"),
                               _ae.principal_arn == bindparam("k_principal")).scalar_subquery(),
    _ENTRY_TOKEN.scalar_subquery(),
    _COUNT_ENTRIES.scalar_subquery(),
)
_INSERT_ENTRY = insert(t.access_entries)
_UPDATE_ENTRY = update(t.access_entries).where(_ae.cluster_name == bindparam("k_cluster"),
                                               _ae.principal_arn == bindparam("k_principal"))
_DELETE_ENTRY = delete(t.access_entries).where(_ae.cluster_name == bindparam("k_cluster"),
                                               _ae.principal_arn == bindparam("k_principal"))
_POLICIES_OF = (select(t.policy_associations)
                .where(_pa.cluster_name == bindparam("k_cluster"),
                       _pa.principal_arn.in_(bindparam("k_principals", expanding=True)))
                .order_by(_pa.associated_at, _pa.policy_arn))
_INSERT_POLICY = insert(t.policy_associations)
_DELETE_POLICY = delete(t.policy_associations).where(_pa.cluster_name == bindparam("k_cluster"),
                                                     _pa.principal_arn == bindparam("k_principal"),
                                                     _pa.policy_arn == bindparam("k_policy"))
_DELETE_POLICIES = delete(t.policy_associations).where(_pa.cluster_name == bindparam("k_cluster"),
                                                       _pa.principal_arn == bindparam("k_principal"))
_TAGS = select(_tg.key, _tg.value).where(_tg.resource_arn == bindparam("k_resource")).order_by(_tg.key)
_INSERT_TAG = insert(t.tags)
_DELETE_TAGS = delete(t.tags).where(_tg.resource_arn == bindparam("k_resource"))


class Store:
    def __init__(self, url: str) -> None:
        if make_url(url).get_backend_name() == "postgresql":
            # A server that is down or unreachable fails a call within ~2 s instead of hanging,
            # and a pooled connection the server dropped (restart, failover) is replaced, not used.
            self.engine: Engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 2})
        else:
            self.engine = create_engine(url)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
        self._listeners: list[Listener] = []
        try:
            self._migrate()
        except (OperationalError, InterfaceError) as exc:  # the server is not there (yet)
            self.engine.dispose()
            raise Unavailable(_first_line(exc)) from exc

    def on_commit(self, listener: Listener) -> None:
        """Call ``listener`` with what a committed transaction changed (:class:`Committed`), before
        the transaction's caller goes on."""
        self._listeners.append(listener)

    def _migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Replicas starting at once migrate one after another: the lock is held until this
                # transaction commits, and the later ones then find the schema at head and do nothing.
                # (SQLite needs none: its first write locks the whole database.)
                migration_lock = 0x6B75626567617465  # "kubegate" in ASCII: fixed, within a signed bigint
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": migration_lock})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One database transaction; what it touched gets a new revision (or generation) in the same commit.

        On PostgreSQL the commit also NOTIFYs every listening process (``CHANGES_CHANNEL``) with
        what changed; NOTIFY is transactional, so it is sent exactly when the change is visible.
        """
        try:
            with self.engine.begin() as connection:
                tx = Transaction(connection)
                yield tx
                committed = tx.bump_revisions()
                if committed is not None and connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                                       {"channel": CHANGES_CHANNEL, "payload": committed.payload()})
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc
        except (OperationalError, InterfaceError) as exc:
            raise Unavailable(_first_line(exc)) from exc
        if committed is not None:
            for listener in self._listeners:
                listener(committed)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A plain transaction for tables outside the snapshots (stacks, console sessions): no
        revisions, no NOTIFY; the same errors as :meth:`transaction`."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc
        except (OperationalError, InterfaceError) as exc:
            raise Unavailable(_first_line(exc)) from exc

    @contextmanager
    def rehearsal(self) -> Iterator[Rehearsal]:
        """A store whose transactions all happen inside one database transaction that is rolled
        back at the end: the service layer runs a change exactly as it would, and the caller reads
        the state it would leave, with nothing committed and no listener told."""
        with self.engine.connect() as connection:
            outer = connection.begin()
            if connection.dialect.name == "sqlite":
                # pysqlite defers BEGIN to the first write, so the first savepoint would be the outermost
                # and its RELEASE would commit: open the transaction ourselves.
                connection.exec_driver_sql("BEGIN")
            try:
                yield Rehearsal(connection)
            finally:
                outer.rollback()

    def close(self) -> None:
        self.engine.dispose()


class Rehearsal:
    """Stands in for a :class:`Store` inside :meth:`Store.rehearsal`; each transaction is a
    savepoint, so a step that fails leaves nothing of itself behind, as a real one would not."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        try:
            with self._connection.begin_nested():
                yield Transaction(self._connection)
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc

    def on_commit(self, listener: Listener) -> None:
        """Nothing is ever committed."""


class Transaction:
    """Typed reads and writes of the domain inside one database transaction."""

    def __init__(self, connection: Connection) -> None:
        self.db = connection
        self.touched: set[str] = set()  # cluster names, INSTANCES for the instance registry, IAM
        self.entry_changes: dict[str, dict[str, AccessEntry | None]] = {}  # cluster -> principal ARN -> entry now
        self.iam = IamRows(connection, on_revoke=lambda: self.touch(IAM))

    def touch(self, name: str) -> None:
        """A change to the cluster ``name`` (or INSTANCES, IAM) that its snapshot must be rebuilt for."""
        self.touched.add(name)

    def touch_entry(self, cluster_name: str, principal_arn: str, entry: AccessEntry | None) -> None:
        """A change to one access entry or its associations: a snapshot can apply just that entry.
        ``entry`` is what it now is (None: deleted), so this process's snapshot needs no read."""
        self.entry_changes.setdefault(cluster_name, {})[principal_arn] = entry

    def bump_revisions(self) -> Committed | None:
        """Before commit: touched clusters get a new revision, and a revoking IAM change a new IAM
        generation. What changed, for the listeners; None if nothing did."""
        names = (self.touched - {INSTANCES, IAM}) | set(self.entry_changes)
        revisions: dict[str, int | None] = {}
        if names:
            revisions = dict.fromkeys(names)  # a deleted cluster keeps None
            if len(names) == 1:
                bumped = self.db.execute(_BUMP_ONE, {"k_name": next(iter(names))})
            else:
                bumped = self.db.execute(_BUMP_MANY, {"k_names": sorted(names)})
            for name, revision in bumped:
                revisions[name] = revision
        if IAM in self.touched:
            self.db.execute(_BUMP_IAM)
        if not revisions and not self.touched:
            return None
        changed = {name: found for name, found in self.entry_changes.items() if name not in self.touched}
        return Committed(revisions, {name: frozenset(found) for name, found in changed.items()},
                         instances=INSTANCES in self.touched, iam=IAM in self.touched, written=changed)

    def revisions(self) -> dict[str, int]:
        """Every cluster's revision: what a replica compares to know which snapshots are stale."""
        return {name: rev for name, rev in self.db.execute(_REVISIONS)}

    def iam_generation(self) -> int:
        """Grows with every committed IAM change that can take an identity away: what a replica
        compares to know that identities it verified with the embedded STS may be stale."""
        return int(self.db.execute(_IAM_GENERATION).scalar_one())

    # clusters

    def cluster_mode(self, name: str, *, lock: bool = False) -> AuthenticationMode | None:
        """Only the cluster's authentication mode (what an entry write checks), with the same row lock."""
        found = self.db.execute(_CLUSTER_MODE_LOCKED if lock else _CLUSTER_MODE, {"k_name": name}).scalar()
        return None if found is None else AuthenticationMode(found)

    def cluster(self, name: str, *, lock: bool = False) -> Cluster | None:
        """``lock``: SELECT … FOR UPDATE, held to the end of the transaction (SQLite's writes are
        serialized by the database lock already)."""
        query = select(t.clusters).where(t.clusters.c.name == name)
        row = self.db.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            return None
        updates = self.db.execute(
            select(t.cluster_updates)
            .where(t.cluster_updates.c.cluster_name == name)
            .order_by(t.cluster_updates.c.created_at)
        ).mappings()
        return Cluster(
            name=row["name"],
            arn=row["arn"],
            created_at=row["created_at"],
            settles_at=row["settles_at"],
            spec=row["spec"],
            authentication_mode=AuthenticationMode(row["authentication_mode"]),
            bootstrap_admin=row["bootstrap_admin"],
            creator=Creator(row["creator_arn"], row["creator_id"]),
            endpoint=row["endpoint"],
            certificate_authority=row["certificate_authority"],
            api_token_ciphertext=row["api_token_ciphertext"],
            updates=tuple(
                Update(
                    id=u["id"],
                    cluster_name=name,
                    type=u["type"],
                    params=tuple((p[0], p[1]) for p in u["params"]),
                    created_at=u["created_at"],
                    settles_at=u["settles_at"],
                )
                for u in updates
            ),
        )

    def cluster_names(self) -> list[str]:
        return list(self.db.execute(select(t.clusters.c.name).order_by(t.clusters.c.name)).scalars())

    def credentialed_cluster_names(self) -> list[str]:
        c = t.clusters.c
        query = select(c.name).where(c.endpoint.is_not(None), c.api_token_ciphertext.is_not(None)).order_by(c.name)
        return list(self.db.execute(query).scalars())

    def add_cluster(self, cluster: Cluster) -> None:
        self.touch(cluster.name)
        self.db.execute(insert(t.clusters).values(name=cluster.name, **self._cluster_columns(cluster)))

    def save_cluster(self, cluster: Cluster) -> None:
        self.touch(cluster.name)
        self.db.execute(
            update(t.clusters).where(t.clusters.c.name == cluster.name).values(**self._cluster_columns(cluster))
        )

    @staticmethod
    def _cluster_columns(cluster: Cluster) -> dict[str, object]:
        return {
            "arn": cluster.arn,
            "created_at": cluster.created_at,
            "settles_at": cluster.settles_at,
            "spec": cluster.spec,
            "authentication_mode": cluster.authentication_mode.value,
            "bootstrap_admin": cluster.bootstrap_admin,
            "creator_arn": cluster.creator.principal_arn,
            "creator_id": cluster.creator.principal_id,
            "endpoint": cluster.endpoint,
            "certificate_authority": cluster.certificate_authority,
            "api_token_ciphertext": cluster.api_token_ciphertext,
        }

    def delete_cluster(self, cluster: Cluster) -> None:
        self.touch(cluster.name)
        self.db.execute(delete(t.aws_auth_versions).where(t.aws_auth_versions.c.cluster_name == cluster.name))
        for entry in self.entries(cluster.name):
            self.delete_entry(entry)
        for config in self.oidc_configs(cluster.name):
            self.delete_oidc_config(config)
        self.delete_tags(cluster.arn)
        self.db.execute(delete(t.cluster_updates).where(t.cluster_updates.c.cluster_name == cluster.name))
        self.db.execute(delete(t.clusters).where(t.clusters.c.name == cluster.name))

    def add_update(self, update_: Update) -> None:
        self.db.execute(
            insert(t.cluster_updates).values(
                id=update_.id,
                cluster_name=update_.cluster_name,
                type=update_.type,
                params=[list(p) for p in update_.params],
                created_at=update_.created_at,
                settles_at=update_.settles_at,
            )
        )

    # access entries and their policies

    def entry(self, cluster_name: str, principal_arn: str, *, policies: bool = True) -> AccessEntry | None:
        """``policies=False``: the entry's row only, its ``policies`` left empty (what a delete needs)."""
        row = self.db.execute(_ENTRY, {"k_cluster": cluster_name, "k_principal": principal_arn}).mappings().first()
        if row is None:
            return None
        return self._entry(row, self._policies(cluster_name, principal_arn) if policies else ())

    def entry_token_and_count(self, cluster_name: str, principal_arn: str) -> tuple[bool, str | None, int]:
        """Whether the entry exists, its client request token, and how many entries the cluster has:
        all a create checks, in one read."""
        exists, token, count = self.db.execute(
            _ENTRY_TOKEN_AND_COUNT, {"k_cluster": cluster_name, "k_principal": principal_arn}).one()
        return bool(exists), token if exists else None, int(count)

    def entries(self, cluster_name: str, *, after: str | None = None, limit: int | None = None,
                with_policy: str | None = None) -> list[AccessEntry]:
        """Entries in principal-ARN byte order, optionally only those holding ``with_policy``.

        Two queries whatever the count (entries, then the cluster's associations), so a
        snapshot of 10 000 entries is not 10 001 round trips.
        """
        c = t.access_entries.c
        query = select(t.access_entries).where(c.cluster_name == cluster_name).order_by(c.principal_arn)
        if after is not None:
            query = query.where(c.principal_arn > after)
        if with_policy is not None:
            p = t.policy_associations.c
            query = query.where(
                select(p.policy_arn)
                .where(p.cluster_name == c.cluster_name, p.principal_arn == c.principal_arn, p.policy_arn == with_policy)
                .exists()
            )
        if limit is not None:
            query = query.limit(limit)
        rows = list(self.db.execute(query).mappings())
        wanted = {row["principal_arn"] for row in rows} if limit is not None else None
        by_principal = self._policies_by_principal(cluster_name, wanted)
        return [self._entry(row, by_principal.get(row["principal_arn"], ())) for row in rows]

    def entries_of(self, cluster_name: str, principal_arns: frozenset[str]) -> list[AccessEntry]:
        """The named principals' entries that exist (two queries, whatever the cluster's size)."""
        rows = list(self.db.execute(_ENTRIES_OF, {"k_cluster": cluster_name,
                                                  "k_principals": sorted(principal_arns)}).mappings())
        by_principal = self._policies_by_principal(cluster_name, set(principal_arns))
        return [self._entry(row, by_principal.get(row["principal_arn"], ())) for row in rows]

    def _policies_by_principal(
        self, cluster_name: str, principals: set[str] | None
    ) -> dict[str, tuple[PolicyAssociation, ...]]:
        if principals is not None:
            rows = self.db.execute(_POLICIES_OF, {"k_cluster": cluster_name, "k_principals": sorted(principals)})
        else:
            p = t.policy_associations.c
            rows = self.db.execute(select(t.policy_associations).where(p.cluster_name == cluster_name)
                                   .order_by(p.associated_at, p.policy_arn))
        grouped: dict[str, list[PolicyAssociation]] = {}
        for r in rows.mappings():
            grouped.setdefault(r["principal_arn"], []).append(self._association(r))
        return {principal: tuple(found) for principal, found in grouped.items()}

    def _policies(self, cluster_name: str, principal_arn: str) -> tuple[PolicyAssociation, ...]:
        return self._policies_by_principal(cluster_name, {principal_arn}).get(principal_arn, ())

    @staticmethod
    def _association(r: RowMapping) -> PolicyAssociation:
        return PolicyAssociation(
            policy_arn=r["policy_arn"],
            scope=AccessScope(ScopeType(r["scope_type"]), tuple(r["namespaces"])),
            associated_at=r["associated_at"],
            modified_at=r["modified_at"],
        )

    @staticmethod
    def _entry(r: RowMapping, policies: tuple[PolicyAssociation, ...]) -> AccessEntry:
        return AccessEntry(
            cluster_name=r["cluster_name"],
            principal=parse_principal_arn(r["principal_arn"]),
            principal_id=r["principal_id"],
            type=EntryType(r["type"]),
            username=r["username"],
            kubernetes_groups=tuple(r["kubernetes_groups"]),
            arn=r["arn"],
            created_at=r["created_at"],
            modified_at=r["modified_at"],
            client_request_token=r["client_request_token"],
            policies=policies,
        )

    def add_entry(self, entry: AccessEntry) -> None:
        self.touch_entry(entry.cluster_name, entry.principal_arn, entry)
        self.db.execute(_INSERT_ENTRY, {
            "cluster_name": entry.cluster_name,
            "principal_arn": entry.principal_arn,
            "principal_id": entry.principal_id,
            "type": entry.type.value,
            "arn": entry.arn,
            "created_at": entry.created_at,
            "client_request_token": entry.client_request_token,
            **self._mutable_entry_columns(entry),
        })
        self._insert_policies(entry)  # a new entry has no association rows to replace

    def save_entry(self, entry: AccessEntry, before: AccessEntry | None = None) -> None:
        """Store the entry and its associations. ``before``: the entry as this transaction read it (under
        the cluster's row lock), so only what differs is written; the rows end up the same either way."""
        self.touch_entry(entry.cluster_name, entry.principal_arn, entry)
        columns = self._mutable_entry_columns(entry)
        keys = {"k_cluster": entry.cluster_name, "k_principal": entry.principal_arn}
        if before is None or self._mutable_entry_columns(before) != columns:
            self.db.execute(_UPDATE_ENTRY, {**keys, **columns})
        if before is None:
            self._write_policies(entry)
            return
        old = {p.policy_arn: p for p in before.policies}
        new = {p.policy_arn: p for p in entry.policies}
        for arn, association in old.items():
            if new.get(arn) != association:
                self.db.execute(_DELETE_POLICY, {**keys, "k_policy": arn})
        self._insert_policies(entry, [p for arn, p in new.items() if old.get(arn) != p])

    @staticmethod
    def _mutable_entry_columns(entry: AccessEntry) -> dict[str, object]:
        return {
            "username": entry.username,
            "kubernetes_groups": list(entry.kubernetes_groups),
            "modified_at": entry.modified_at,
        }

    def _write_policies(self, entry: AccessEntry) -> None:
        """Replace the entry's associations with the entry's current set."""
        self.db.execute(_DELETE_POLICIES, {"k_cluster": entry.cluster_name, "k_principal": entry.principal_arn})
        self._insert_policies(entry)

    def _insert_policies(self, entry: AccessEntry, associations: Sequence[PolicyAssociation] | None = None) -> None:
        for association in entry.policies if associations is None else associations:
            self.db.execute(_INSERT_POLICY, {
                "cluster_name": entry.cluster_name,
                "principal_arn": entry.principal_arn,
                "policy_arn": association.policy_arn,
                "scope_type": association.scope.type.value,
                "namespaces": list(association.scope.namespaces),
                "associated_at": association.associated_at,
                "modified_at": association.modified_at,
            })

    def delete_entry(self, entry: AccessEntry) -> None:
        self.touch_entry(entry.cluster_name, entry.principal_arn, None)
        keys = {"k_cluster": entry.cluster_name, "k_principal": entry.principal_arn}
        self.db.execute(_DELETE_POLICIES, keys)
        self.db.execute(_DELETE_ENTRY, keys)
        self.delete_tags(entry.arn)

    # OIDC identity provider configs

    def oidc_configs(self, cluster_name: str) -> list[OidcConfig]:
        """Every config of a cluster in name order, whatever its status (a gone one until purged)."""
        c = t.identity_provider_configs.c
        rows = self.db.execute(
            select(t.identity_provider_configs).where(c.cluster_name == cluster_name).order_by(c.name)
        ).mappings()
        return [self._oidc_config(row) for row in rows]

    def oidc_config_by_arn(self, arn: str) -> OidcConfig | None:
        c = t.identity_provider_configs.c
        row = self.db.execute(select(t.identity_provider_configs).where(c.arn == arn)).mappings().first()
        return None if row is None else self._oidc_config(row)

    @staticmethod
    def _oidc_config(r: RowMapping) -> OidcConfig:
        return OidcConfig(
            cluster_name=r["cluster_name"],
            name=r["name"],
            issuer_url=r["issuer_url"],
            client_id=r["client_id"],
            arn=r["arn"],
            created_at=r["created_at"],
            settles_at=r["settles_at"],
            username_claim=r["username_claim"],
            username_prefix=r["username_prefix"],
            groups_claim=r["groups_claim"],
            groups_prefix=r["groups_prefix"],
            required_claims=tuple((k, v) for k, v in r["required_claims"]),
            deleting_until=r["deleting_until"],
            client_request_token=r["client_request_token"],
        )

    def add_oidc_config(self, config: OidcConfig) -> None:
        self.touch(config.cluster_name)
        self.db.execute(insert(t.identity_provider_configs).values(
            cluster_name=config.cluster_name,
            name=config.name,
            arn=config.arn,
            issuer_url=config.issuer_url,
            client_id=config.client_id,
            username_claim=config.username_claim,
            username_prefix=config.username_prefix,
            groups_claim=config.groups_claim,
            groups_prefix=config.groups_prefix,
            required_claims=[list(claim) for claim in config.required_claims],
            created_at=config.created_at,
            settles_at=config.settles_at,
            deleting_until=config.deleting_until,
            client_request_token=config.client_request_token,
        ))

    def mark_oidc_config_deleting(self, config: OidcConfig, until: datetime) -> None:
        self.touch(config.cluster_name)
        c = t.identity_provider_configs.c
        self.db.execute(
            update(t.identity_provider_configs)
            .where(c.cluster_name == config.cluster_name, c.name == config.name)
            .values(deleting_until=until)
        )

    def delete_oidc_config(self, config: OidcConfig) -> None:
        """The config and its tags."""
        self.touch(config.cluster_name)
        c = t.identity_provider_configs.c
        self.db.execute(
            delete(t.identity_provider_configs).where(c.cluster_name == config.cluster_name, c.name == config.name)
        )
        self.delete_tags(config.arn)

    # tags

    def tags(self, resource_arn: str) -> dict[str, str]:
        return {key: value for key, value in self.db.execute(_TAGS, {"k_resource": resource_arn})}

    def set_tags(self, resource_arn: str, tags: dict[str, str]) -> None:
        self.delete_tags(resource_arn)
        for key, value in tags.items():
            self.db.execute(_INSERT_TAG, {"resource_arn": resource_arn, "key": key, "value": value})

    def delete_tags(self, resource_arn: str) -> None:
        self.db.execute(_DELETE_TAGS, {"k_resource": resource_arn})

    def entry_by_arn(self, entry_arn: str) -> AccessEntry | None:
        row = self.db.execute(select(t.access_entries).where(t.access_entries.c.arn == entry_arn)).mappings().first()
        return None if row is None else self._entry(row, ())

    def cluster_by_arn(self, cluster_arn: str) -> str | None:
        return self.db.execute(select(t.clusters.c.name).where(t.clusters.c.arn == cluster_arn)).scalar()

    # aws-auth versions and the EC2 instance registry

    def aws_auth(self, cluster_name: str) -> tuple[int, str, str] | None:
        """The newest aws-auth version of a cluster: (version, document, source)."""
        c = t.aws_auth_versions.c
        row = self.db.execute(
            select(c.version, c.document, c.source).where(c.cluster_name == cluster_name).order_by(c.version.desc())
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    def add_aws_auth(self, cluster_name: str, document: str, source: str, now: datetime, *,
                     author: str | None = None, changes: Sequence[str] = ()) -> int:
        current = self.aws_auth(cluster_name)
        version = 1 if current is None else current[0] + 1
        self.db.execute(insert(t.aws_auth_versions).values(
            cluster_name=cluster_name, version=version, document=document, source=source, created_at=now,
            author=author, changes=json.dumps(list(changes))))
        self.touch(cluster_name)
        return version

    def aws_auth_history(self, cluster_name: str) -> list[AwsAuthVersion]:
        """Every stored version, newest first."""
        c = t.aws_auth_versions.c
        rows = self.db.execute(
            select(c.version, c.created_at, c.source, c.author, c.changes, c.document)
            .where(c.cluster_name == cluster_name).order_by(c.version.desc())
        )
        return [AwsAuthVersion(r[0], r[1], r[2], r[3], tuple(json.loads(r[4] or "[]")), r[5]) for r in rows]

    def instances_mark(self) -> tuple[int, object]:
        """How many instances are registered and when the newest was: changes whenever the
        registry does (a re-registration deletes and inserts), at the cost of one small query."""
        count, newest = self.db.execute(_INSTANCES_MARK).one()
        return int(count), newest

    def instances(self) -> dict[str, str]:
        c = t.ec2_instances.c
        return {i: name for i, name in self.db.execute(select(c.instance_id, c.private_dns_name))}

    def put_instance(self, instance_id: str, private_dns_name: str, now: datetime) -> None:
        self.db.execute(delete(t.ec2_instances).where(t.ec2_instances.c.instance_id == instance_id))
        self.db.execute(insert(t.ec2_instances).values(
            instance_id=instance_id, private_dns_name=private_dns_name, registered_at=now))
        self.touch(INSTANCES)
