"""The access service on a real store (SQLite in a temp dir, and PostgreSQL), for what is slow over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegate.domain.caller import Caller
from kubegate.domain.errors import InvalidParameter, ResourceLimitExceeded
from kubegate.service.access import AccessService
from kubegate.store.database import Store
from kubegate.store.schema import access_entries

ACCOUNT = "111122223333"
OTHER = "444455556666"  # principals of another account need no IAM entity here


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccessService]:
    """The service on each backend: a SQLite file, or a fresh database of the session's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'k.db'}"
    else:
        url = request.getfixturevalue("postgres").fresh_database()
    store = Store(url)
    yield AccessService(store, account=ACCOUNT, region="us-east-1")
    store.close()


def test_three_thousand_entries_per_cluster(service: AccessService) -> None:
    service.create_cluster(
        Caller.root(ACCOUNT), name="big", role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        spec={"resourcesVpcConfig": {"subnetIds": ["s"]}},
        access_config={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    )
    rows = [
        {"cluster_name": "big", "principal_arn": f"arn:aws:iam::{ACCOUNT}:role/r{i:04d}", "principal_id": None,
         "type": "STANDARD", "username": "u", "kubernetes_groups": [], "arn": f"arn:entry/{i}",
         "created_at": service.clock(), "modified_at": service.clock(), "client_request_token": None}
        for i in range(2999)
    ]
    with service.store.engine.begin() as connection:  # seed quickly; the 3000th goes through the service
        connection.execute(access_entries.insert(), rows)
    service.create_access_entry(cluster_name="big", principal_arn=f"arn:aws:iam::{OTHER}:role/last")
    with pytest.raises(ResourceLimitExceeded):
        service.create_access_entry(cluster_name="big", principal_arn=f"arn:aws:iam::{OTHER}:role/one-too-many")
    arns, token = service.list_access_entries("big", None, None, None)
    assert len(arns) == 100 and token is not None


def test_failed_write_leaves_nothing_behind(service: AccessService) -> None:
    """A rule broken after the first insert of a transaction rolls all of it back."""
    cluster, _ = service.create_cluster(
        Caller.root(ACCOUNT), name="atomic", role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        spec={}, access_config={"authenticationMode": "API"},
    ), None
    with pytest.raises(InvalidParameter):
        with service.store.transaction() as tx:
            tx.delete_cluster(cluster)
            tx.set_tags(cluster.arn, {"half": "written"})
            raise InvalidParameter("broken half-way")
    described, tags = service.describe_cluster("atomic")
    assert described.name == "atomic" and tags == {}
    arns, _ = service.list_access_entries("atomic", None, None, None)
    assert arns == [f"arn:aws:iam::{ACCOUNT}:root"]
