"""Seed a kubegate data dir through kubegate's own services, without HTTP.

Clusters come from AccessService.create_cluster; a few real IAM principals of kubegate's account
(IamService, and one AssumeRole session) get entries the EKS way (create_access_entry,
associate_access_policy); the bulk, roles and users of other accounts, go in with Transaction.add_entry,
one transaction per cluster, which also gets past EKS's 3,000-entry limit (scenario A has 10,000).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

from kubegate.datadir import DataDir
from kubegate.domain.access_entries import AccessEntry, EntryType, PolicyAssociation, identity_for
from kubegate.domain.arns import parse_principal_arn
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.policies import POLICY_ARN_PREFIX, AccessScope
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.iam import IamService
from kubegate.identity.sts import AssumeRoleRequest, StsService
from kubegate.service.access import AccessService, utcnow
from kubegate.store.database import Store

POLICIES = [POLICY_ARN_PREFIX + name for name in ("AmazonEKSViewPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminPolicy",
                                                  "AmazonEKSAdminViewPolicy", "AmazonEKSSecretReaderPolicy")]


def _scope(rng: random.Random) -> AccessScope:
    """30 % cluster scope; otherwise 1-3 namespaces, some of them wildcards."""
    if rng.random() < 0.3:
        return AccessScope.create("cluster", None)
    pool = [f"team-{rng.randrange(500)}", f"team-{rng.randrange(50)}*", "prod-*", "staging", f"app-{rng.randrange(99)}"]
    return AccessScope.create("namespace", rng.sample(pool, rng.randint(1, 3)))


def _bulk_entries(store: Store, account: str, region: str, cluster: str, count: int, rng: random.Random) -> None:
    now = datetime.now(timezone.utc)
    with store.transaction() as tx:
        for i in range(count):
            other, kind = f"{100000000000 + rng.randrange(200)}", "role" if rng.random() < 0.9 else "user"
            principal = parse_principal_arn(f"arn:aws:iam::{other}:{kind}/bench-{kind}-{i}")
            username, groups = identity_for(principal, EntryType.STANDARD, None, [f"g{i % 40}"], account)
            chosen = rng.sample(POLICIES, rng.randint(1, 3))
            policies = tuple(PolicyAssociation(arn, _scope(rng), now, now) for arn in chosen)
            tx.add_entry(AccessEntry(
                cluster_name=cluster, principal=principal, principal_id=None, type=EntryType.STANDARD,
                username=username, kubernetes_groups=groups, created_at=now, modified_at=now, policies=policies,
                arn=f"arn:aws:eks:{region}:{account}:access-entry/{cluster}/{kind}/{other}/{principal.name}/b{i}"))


def seed(data_dir: str, clusters: int, entries: int) -> dict[str, object]:
    """``clusters`` clusters of ``entries`` entries; the middle one also holds the real principals.

    Returns that cluster's name, the region, and credentials (key, secret, session token) of an IAM
    user ("user") and of a session of an IAM role ("role") that both have entries there.
    """
    directory = DataDir(data_dir)
    config, cipher = directory.config(), directory.cipher()
    account, store = config.account_id, Store(directory.default_database_url)
    try:
        access = AccessService(store, account=account, region=config.region)
        iam = IamService(store, cipher, account=account, clock=utcnow)
        names = [f"bench-{i:03d}" for i in range(clusters)]
        target = names[len(names) // 2]
        for name in names:
            access.create_cluster(Caller.root(account), name=name, role_arn=f"arn:aws:iam::{account}:role/eks",
                                  spec={"resourcesVpcConfig": {"subnetIds": ["subnet-1"]}},
                                  access_config={"authenticationMode": "API_AND_CONFIG_MAP"})
        users = [iam.create_user(f"bench-user-{i}", None) for i in range(3)]
        key = iam.create_access_key(users[0].name)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": users[0].arn}, "Action": "sts:AssumeRole"}]})
        roles = [iam.create_role(f"bench-role-{i}", None, trust, None, None) for i in range(2)]
        for principal in [*users, *roles]:  # Edit in team-a and dev-*, View in shared
            access.create_access_entry(cluster_name=target, principal_arn=principal.arn, kubernetes_groups=["bench"])
            for policy, namespaces in ((POLICIES[1], ["team-a", "dev-*"]), (POLICIES[0], ["shared"])):
                access.associate_access_policy(cluster_name=target, principal_arn=principal.arn, policy_arn=policy,
                                               access_scope={"type": "namespace", "namespaces": namespaces})
        caller = Caller(arn=users[0].arn, user_id=users[0].id, account=account, principal_arn=users[0].arn)
        session = StsService(store, cipher, Authorizer(store), account=account, clock=utcnow).assume_role(
            caller, AssumeRoleRequest(role_arn=roles[0].arn, session_name="bench", duration_seconds=3600),
            RequestFacts(now=utcnow(), region=config.region))
        rng = random.Random(42)
        for name in names:
            _bulk_entries(store, account, config.region, name, entries - (5 if name == target else 0), rng)
    finally:
        store.close()
    return {"cluster": target, "region": config.region, "user": (key.access_key_id, key.secret_access_key, None),
            "role": (session.session.access_key_id, session.secret_access_key, session.session_token)}
