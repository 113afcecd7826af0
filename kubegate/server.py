"""Composition: one data dir and one store make one running kubegate."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import logging.config
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import FrameType

import boto3
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from kubegate.api.app import create_app
from kubegate.api.audit import AuditLog
from kubegate.api.authz_webhook import AuthorizationWebhook
from kubegate.api.aws_apis import cloudformation_api, eks_api, iam_api, sts_api
from kubegate.api import metrics
from kubegate.api.aws_endpoint import AwsEndpoint
from kubegate.api.aws_auth_api import AwsAuthApi
from kubegate.api.insight import Insight
from kubegate.api.mode_guard import ModeSwitchGuard
from kubegate.api.signed_json import SignedJson
from kubegate.api.embedded_sts import EmbeddedStsClient, RoutingStsClient
from kubegate.api.tls import REQUEST_READ_TIMEOUT, client_certificate_protocol
from kubegate.api.webhook_routes import ASGIApp
from kubegate.api.token_webhook import TokenWebhook
from kubegate.console.app import Console, console_app
from kubegate.console.sessions import Sessions
from kubegate.datadir import DataDir, InstanceConfig
from kubegate.engine.registry import SnapshotRegistry
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.ec2 import Ec2DnsResolver
from kubegate.identity.iam import IamService
from kubegate.identity.aws_sts import AwsStsDisabled, AwsStsGate
from kubegate.identity.iam_token import HttpStsClient, StsClient, StsEndpointPolicy, TokenVerifier
from kubegate.identity.oidc import OidcGate, OidcVerifier
from kubegate.identity.sts import StsService
from kubegate.service.stacks.operations import StackService, milliseconds
from kubegate.service.stacks.providers import PROVIDERS
from kubegate.store.stacks import StackStore
from kubegate.service.access_changes import AccessChanges
from kubegate.service.aws_auth_edits import AwsAuthEdits
from kubegate.service.access import AccessService, utcnow
from kubegate.service.live_aws_auth import LiveAwsAuth
from kubegate.logs import uvicorn_log_config
from kubegate.store.database import Store
from kubegate.store.notifications import ChangeListener, listens

POLL_SECONDS = 0.5  # the revision check: every change reaches this process within it (PostgreSQL: NOTIFY, at once)
LIVE_AWS_AUTH_SECONDS = 2.0  # how often the live aws-auth watchers are matched to the recorded credentials
KEEP_ALIVE_SECONDS = 5  # idle time allowed between requests on one connection (uvicorn's default, made explicit)
log = logging.getLogger("kubegate")


@dataclass
class Kubegate:
    config: InstanceConfig
    store: Store
    service: AccessService
    registry: SnapshotRegistry
    app: ASGIApp
    oidc: OidcVerifier | None = field(default=None)  # the ID-token verifier the token webhook uses (STS may share it)
    listen: tuple[str, int] = ("127.0.0.1", 8443)  # this replica's address and port


def sts_policy(config: InstanceConfig, regions: frozenset[str] = frozenset(), port: int | None = None) -> StsEndpointPolicy:
    """AWS's STS in the configured regions, plus kubegate's own endpoint (the embedded STS): this
    replica's port on loopback, the data dir's, and the public URL every replica shares."""
    ports = {config.port, port or config.port}
    hosts = {f"{name}:{p}" for p in ports for name in ("127.0.0.1", "localhost")}
    hosts.update(config.public_hosts)
    return StsEndpointPolicy(partition="aws", regions=regions | {config.region}, extra_hosts=frozenset(hosts))


def build(
    data_dir: DataDir, config: InstanceConfig, *, database_url: str | None, settle_seconds: float,
    listen: tuple[str, int] | None = None,
    audit_log: str = "file", sts_regions: frozenset[str] = frozenset(), ec2_lookup: bool = False,
    aws_sts: bool = True, unsafe_aws_sts_url_override: str | None = None, oidc_ca_file: str | None = None,
    metrics_need_certificate: bool = False, workers: int = 1,
) -> Kubegate:
    store = Store(database_url or data_dir.default_database_url)
    cipher = data_dir.cipher()
    authorizer = Authorizer(store)
    oidc = OidcVerifier(ca_file=oidc_ca_file, clock=utcnow)  # ValueError if the CA file is unusable
    sts = StsService(store, cipher, authorizer, account=config.account_id, clock=utcnow, oidc=oidc)
    registry = SnapshotRegistry(store)
    keys = AccessKeys(store, cipher, sts, account=config.account_id, generation=lambda: registry.iam_generation)
    bootstrap = data_dir.bootstrap_key()
    keys.ensure_root_key(bootstrap.access_key_id, bootstrap.secret_access_key, utcnow())
    service = AccessService(
        store, account=config.account_id, region=config.region, settle_seconds=settle_seconds
    )
    iam = IamService(store, cipher, account=config.account_id, clock=utcnow)
    audit = AuditLog(None if audit_log == "-" else data_dir.path / "audit.log", shared=workers > 1)
    edits = AwsAuthEdits(service, cipher)
    changes = AccessChanges(service, edits, instances=lambda: registry.instances)
    eks, iam_ = eks_api(service, authorizer, ModeSwitchGuard(changes, audit)), iam_api(iam, authorizer)
    stacks = StackService(StackStore(store), PROVIDERS, account=config.account_id, region=config.region,
                          clock=milliseconds(utcnow))
    aws = AwsEndpoint([eks, iam_, sts_api(sts), cloudformation_api(stacks, {"eks": eks, "iam": iam_}, authorizer, utcnow)],
                      keys, utcnow, region=config.region)
    policy = sts_policy(config, sts_regions, listen[1] if listen else None)
    remote = _aws_sts_client(aws_sts, unsafe_aws_sts_url_override)
    sts_client = RoutingStsClient(EmbeddedStsClient(aws), policy.extra_hosts, remote)
    verifiers: dict[str, TokenVerifier] = {}

    def verifier_for(cluster: str) -> TokenVerifier:
        if cluster not in verifiers:
            verifiers[cluster] = TokenVerifier(cluster_id=cluster, policy=policy, sts=sts_client, clock=utcnow)
        return verifiers[cluster]

    resolver = Ec2DnsResolver(boto3.client("ec2", region_name=config.region)) if ec2_lookup else None
    webhook = TokenWebhook(
        registry, verifier_for, utcnow, audit,
        resolve_instance=resolver.private_dns_name if resolver else None,
        register_instance=service.register_instance,
        embedded_hosts=policy.extra_hosts, aws_sts=AwsStsGate(enabled=aws_sts), oidc=OidcGate(oidc),
    )
    signed = SignedJson(keys, authorizer, service)
    insight = Insight(registry, signed, store)
    live = LiveAwsAuth(service, cipher)
    console = Console(
        sessions=Sessions(store, keys, sts, cipher, clock=utcnow, region=config.region,
                          bootstrap_key_id=bootstrap.access_key_id),
        apis={"eks": eks, "iam": iam_}, access=service, iam=iam, authorizer=authorizer, registry=registry,
        clock=utcnow, extras={"insight": insight, "changes": changes, "edits": edits, "store": store,
                              "audit_path": None if audit_log == "-" else data_dir.path / "audit.log"},
    )
    app = create_app(aws, webhook, AuthorizationWebhook(registry, audit), insight, AwsAuthApi(signed, edits, changes), registry,
                     metrics_need_certificate=metrics_need_certificate, console=console_app(console),
                     lifespan=_syncing(registry, live, database_url or data_dir.default_database_url))
    return Kubegate(config, store, service, registry, app, oidc, listen or (config.host, config.port))


def _aws_sts_client(enabled: bool, unsafe_url_override: str | None) -> StsClient:
    """AWS's STS over HTTPS; refused outright when switched off; a loopback listener only when testing."""
    if not enabled:
        log.warning("AWS STS disabled (--no-aws-sts): tokens presigned for AWS are refused; kubegate's own STS "
                    "still verifies its tokens")
        return AwsStsDisabled()
    if unsafe_url_override is not None:
        client = HttpStsClient(unsafe_endpoint_override=unsafe_url_override)  # ValueError unless loopback
        log.warning("UNSAFE, FOR TESTING ONLY: calls to AWS STS go to %s instead of AWS "
                    "(--unsafe-aws-sts-url-override)", unsafe_url_override)
        return client
    return HttpStsClient()


def _syncing(registry: SnapshotRegistry, live: LiveAwsAuth, database_url: str):  # type: ignore[no-untyped-def]
    """Pick up changes other processes committed (another replica, another worker, the CLI): at
    once through NOTIFY on PostgreSQL, and by a revision check every POLL_SECONDS everywhere (it
    covers lost notices and SQLite); follow the live aws-auth of clusters whose API credentials
    are recorded. While the database cannot be read, the last snapshots keep serving."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def loop() -> None:
            polls_per_live_sync = max(1, round(LIVE_AWS_AUTH_SECONDS / POLL_SECONDS))
            tick = 0
            while True:
                await asyncio.sleep(POLL_SECONDS)
                tick += 1
                try:
                    await run_in_threadpool(registry.sync)
                    registry.synced()
                except Exception as exc:  # a database outage: keep serving the last snapshots
                    if registry.stale_since is None:
                        log.error("cannot read the database (%s); serving the last snapshots", _reason(exc))
                    registry.sync_failed()
                    metrics.database_error("sync")
                    metrics.database_reachable(False, registry.stale_since or 0.0)
                    continue
                metrics.database_reachable(True, 0.0)
                for name, revision in registry.revisions().items():
                    metrics.snapshot(name, revision, registry.last_sync or 0.0)
                if tick % polls_per_live_sync == 0:
                    try:
                        await run_in_threadpool(live.sync)
                    except Exception:
                        log.exception("following the live aws-auth failed")

        listener = ChangeListener(database_url, registry.heard) if listens(database_url) else None
        if listener is not None:
            listener.start()
        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            if listener is not None:
                await run_in_threadpool(listener.stop)
            await run_in_threadpool(live.stop)

    return lifespan


def _reason(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def serve(data_dir: DataDir, app: ASGIApp, listen: tuple[str, int], *, close: Callable[[], None] = lambda: None,
          request_read_timeout: float = REQUEST_READ_TIMEOUT, sock: socket.socket | None = None,
          log_format: str = "text") -> None:
    """Serve HTTPS until SIGINT or SIGTERM, then exit 0.

    Slow clients are bounded: a request must be read whole within `request_read_timeout` seconds
    of its first byte (a new connection's within as many of the handshake), an idle connection
    is closed after KEEP_ALIVE_SECONDS, and headers are capped (see `api.tls`).

    uvicorn drains in-flight requests and re-raises the signal it caught; the handlers
    installed here turn that into a clean exit rather than a death by signal. A client
    certificate is optional (the AWS CLI has none) but, when given, must be from
    kubegate's CA; the webhooks require one.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    logging.config.dictConfig(uvicorn_log_config(log_format))
    _freeze_startup_heap()
    try:
        config = uvicorn.Config(
            app,
            host=listen[0],
            port=listen[1],
            ssl_certfile=str(data_dir.server_certificate),
            ssl_keyfile=str(data_dir.server_key),
            ssl_cert_reqs=ssl.CERT_OPTIONAL,
            ssl_ca_certs=str(data_dir.ca_certificate),
            http=client_certificate_protocol(request_read_timeout),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            loop="uvloop",
            proxy_headers=False,  # nothing fronts kubegate: X-Forwarded-* is not to be believed
            access_log=False,
            timeout_graceful_shutdown=5,
            log_level="info",
            log_config=uvicorn_log_config(log_format),
        )
        uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)  # a worker's: SO_REUSEPORT
    finally:
        close()


def _freeze_startup_heap() -> None:
    """Keep what start-up built (modules, the first snapshots: ~18 objects per access entry) out of
    the garbage collector's full passes, which otherwise stop the event loop for ~90 ms per 10 000
    entries. Measured with bench/webhooks; frozen objects are still freed when no longer referenced."""
    gc.collect()
    gc.freeze()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
