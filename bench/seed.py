"""Seed a kubegate data dir directly through kubegate's own services (no HTTP): fast and realistic.

Clusters come from AccessService.create_cluster; a few real IAM principals of kubegate's account
(IamService, plus an AssumeRole session from StsService) get entries through create_access_entry
and associate_access_policy; the bulk of the entries (roles and users of other accounts) are
written with Transaction.add_entry, one transaction per cluster, which also bypasses EKS's
3,000-entries-per-cluster limit (scenario A needs 10,000).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

from kubegate.datadir import DataDir
from kubegate.domain.access_entries import AccessEntry, EntryType, PolicyAssociation, identity_for
from kubegate.domain.arns import parse_principal_arn
from kubegate.domain.caller import Caller
from kubegate.domain.policies import POLICY_ARN_PREFIX, AccessScope
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.iam import IamService
from kubegate.identity.sts import StsService
from kubegate.service.access import AccessService, utcnow
from kubegate.store.database import Store

POLICIES = [POLICY_ARN_PREFIX + n for n in (
    "AmazonEKSViewPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminPolicy", "AmazonEKSAdminViewPolicy",
    "AmazonEKSSecretReaderPolicy", "AmazonEKSClusterAdminPolicy")]
EDIT, VIEW = POLICY_ARN_PREFIX + "AmazonEKSEditPolicy", POLICY_ARN_PREFIX + "AmazonEKSViewPolicy"


def _scope(rng: random.Random) -> AccessScope:
    if rng.random() < 0.3:
        return AccessScope.create("cluster", None)
    pool = [f"team-{rng.randrange(500)}", f"team-{rng.randrange(50)}*", "prod-*", "staging", f"app-{rng.randrange(2000)}"]
    return AccessScope.create("namespace", rng.sample(pool, rng.randint(1, 3)))


def _bulk_entries(store: Store, account: str, region: str, cluster: str, count: int, rng: random.Random) -> None:
    now = datetime.now(timezone.utc)
    with store.transaction() as tx:
        for i in range(count):
            other = f"{100000000000 + rng.randrange(200):012d}"
            kind = "role" if rng.random() < 0.9 else "user"
            principal = parse_principal_arn(f"arn:aws:iam::{other}:{kind}/bench-{kind}-{i}")
            username, groups = identity_for(principal, EntryType.STANDARD, None, [f"g{i % 40}"], account)
            policies = tuple(PolicyAssociation(arn, _scope(rng), now, now)
                             for arn in rng.sample(POLICIES[:-1] if rng.random() < 0.98 else POLICIES, rng.randint(1, 3)))
            tx.add_entry(AccessEntry(
                cluster_name=cluster, principal=principal, principal_id=None, type=EntryType.STANDARD,
                username=username, kubernetes_groups=groups, created_at=now, modified_at=now, policies=policies,
                arn=f"arn:aws:eks:{region}:{account}:access-entry/{cluster}/{kind}/{other}/{principal.name}/b{i}"))


def seed(data_dir: str, clusters: int, entries: int) -> dict[str, object]:
    """Seed ``clusters`` clusters of ``entries`` entries each; returns the target cluster and credentials."""
    directory = DataDir(data_dir)
    config = directory.config()
    account, cipher = config.account_id, directory.cipher()
    store = Store(directory.default_database_url)
    try:
        access = AccessService(store, account=account, region=config.region)
        iam = IamService(store, cipher, account=account, clock=utcnow)
        rng = random.Random(42)
        names = [f"bench-{i:03d}" for i in range(clusters)]
        target = names[len(names) // 2]
        root = Caller.root(account)
        for name in names:
            access.create_cluster(root, name=name, role_arn=f"arn:aws:iam::{account}:role/eks",
                                  spec={"resourcesVpcConfig": {"subnetIds": ["subnet-1"]}},
                                  access_config={"authenticationMode": "API_AND_CONFIG_MAP"})
        # Real principals of kubegate's account: entries bound to their unique IDs, made the EKS way.
        users = [iam.create_user(f"bench-user-{i}", None) for i in range(3)]
        key = iam.create_access_key(users[0].name)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": users[0].arn}, "Action": "sts:AssumeRole"}]})
        roles = [iam.create_role(f"bench-role-{i}", None, trust, None, None) for i in range(2)]
        for principal in [*users, *roles]:
            access.create_access_entry(cluster_name=target, principal_arn=principal.arn, kubernetes_groups=["bench"])
            access.associate_access_policy(cluster_name=target, principal_arn=principal.arn, policy_arn=EDIT,
                                           access_scope={"type": "namespace", "namespaces": ["team-a", "dev-*"]})
            access.associate_access_policy(cluster_name=target, principal_arn=principal.arn, policy_arn=VIEW,
                                           access_scope={"type": "namespace", "namespaces": ["shared"]})
        user_caller = Caller(arn=users[0].arn, user_id=users[0].id, account=account, principal_arn=users[0].arn)
        session = StsService(store, cipher, Authorizer(store), account=account, clock=utcnow).assume_role(
            user_caller, role_arn=roles[0].arn, session_name="bench", duration_seconds=3600)
        for name in names:
            _bulk_entries(store, account, config.region, name, entries - (5 if name == target else 0), rng)
    finally:
        store.close()
    return {
        "cluster": target, "region": config.region,
        "user": (key.access_key_id, key.secret_access_key, None),
        "role": (session.session.access_key_id, session.secret_access_key, session.session_token),
    }
