"""In-process EKS and IAM APIs over a throwaway data dir, for tests of the stack layer's providers.

The APIs are kubegate's real ones (store, services, authorizer); only HTTP and SigV4 are left
out, as they are for every call a stack operation makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from kubegate.api.aws_apis import eks_api, iam_api
from kubegate.api.stack_calls import ApiCalls
from kubegate.datadir import DataDir
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.iam import IamService
from kubegate.service.access import AccessService
from kubegate.store.database import Store

ACCOUNT_REGION = "us-west-2"


@contextmanager
def api_calls(tmp: Path, caller: Caller | None = None) -> Iterator[ApiCalls]:
    """Calls as the account root (or ``caller``) against a fresh SQLite store in ``tmp``."""
    with api_world(tmp, caller) as (calls, _):
        yield calls


@contextmanager
def api_world(tmp: Path, caller: Caller | None = None) -> Iterator[tuple[ApiCalls, AccessService]]:
    """:func:`api_calls` and the EKS service behind them, for what no public operation sets
    (a cluster's endpoint and certificate authority)."""
    data_dir = DataDir(tmp / "data")
    config = data_dir.initialize(region=ACCOUNT_REGION, host="127.0.0.1", port=0)
    store = Store(data_dir.default_database_url)
    try:
        authorizer = Authorizer(store)
        service = AccessService(store, account=config.account_id, region=config.region, settle_seconds=0)
        iam = IamService(store, data_dir.cipher(), account=config.account_id,
                         clock=lambda: datetime.now(timezone.utc))
        apis = {"eks": eks_api(service, authorizer), "iam": iam_api(iam, authorizer)}
        facts = RequestFacts(now=datetime.now(timezone.utc), region=config.region)
        calls = ApiCalls(apis, caller or Caller.root(config.account_id), facts, lambda: datetime.now(timezone.utc))
        yield calls, service
    finally:
        store.close()


def as_caller(calls: ApiCalls, caller: Caller) -> ApiCalls:
    """The same APIs, called as someone else (an IAM user the test made, say)."""
    return ApiCalls(calls.apis, caller, calls.facts, calls.clock)
