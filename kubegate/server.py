"""Composition: one data dir and one store make one running kubegate."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from kubegate.api.app import create_app
from kubegate.api.aws_apis import eks_api, iam_api, sts_api
from kubegate.api.aws_endpoint import AwsEndpoint
from kubegate.datadir import DataDir, InstanceConfig
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.iam import IamService
from kubegate.identity.sts import StsService
from kubegate.service.access import AccessService, utcnow
from kubegate.store.database import Store


@dataclass
class Kubegate:
    config: InstanceConfig
    store: Store
    service: AccessService
    app: Starlette


def build(data_dir: DataDir, config: InstanceConfig, *, database_url: str | None, settle_seconds: float) -> Kubegate:
    store = Store(database_url or data_dir.default_database_url)
    cipher = data_dir.cipher()
    authorizer = Authorizer(store)
    sts = StsService(store, cipher, authorizer, account=config.account_id, clock=utcnow)
    keys = AccessKeys(store, cipher, sts, account=config.account_id)
    bootstrap = data_dir.bootstrap_key()
    keys.ensure_root_key(bootstrap.access_key_id, bootstrap.secret_access_key, utcnow())
    service = AccessService(
        store, account=config.account_id, region=config.region, settle_seconds=settle_seconds
    )
    iam = IamService(store, cipher, account=config.account_id, clock=utcnow)
    apis = [eks_api(service, authorizer), iam_api(iam, authorizer), sts_api(sts)]
    app = create_app(AwsEndpoint(apis, keys, utcnow))
    return Kubegate(config, store, service, app)


def serve(data_dir: DataDir, kubegate: Kubegate) -> None:
    """Serve HTTPS until SIGINT or SIGTERM, then exit 0.

    uvicorn drains in-flight requests and re-raises the signal it caught; the handlers
    installed here turn that into a clean exit rather than a death by signal.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        uvicorn.run(
            kubegate.app,
            host=kubegate.config.host,
            port=kubegate.config.port,
            ssl_certfile=str(data_dir.server_certificate),
            ssl_keyfile=str(data_dir.server_key),
            access_log=False,
            timeout_graceful_shutdown=5,
            log_level="info",
        )
    finally:
        kubegate.store.close()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
