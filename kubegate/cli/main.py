"""The `kubegate` command."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubegate.api.tls import REQUEST_READ_TIMEOUT
from kubegate.cli.aws_auth import access_diff, history, iamidentitymapping, migrate
from kubegate.cli.insight import explain_command, who_can_command
from kubegate.cli.kubernetes import kubeconfig, token, webhook_config
from kubegate.datadir import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DataDir, InstanceConfig

if TYPE_CHECKING:
    from kubegate.service.access import AccessService

data_dir_option = click.option(
    "--data-dir",
    envvar="KUBEGATE_DATA_DIR",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where kubegate keeps its CA, keys, credentials and (by default) its SQLite database.",
)
database_option = click.option(
    "--database-url", envvar="KUBEGATE_DATABASE_URL", default=None,
    help="Any SQLAlchemy URL; default: SQLite in the data dir.",
)


def _config(directory: DataDir) -> InstanceConfig:
    try:
        return directory.config()
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _service(data_dir: Path, database_url: str | None) -> Iterator[AccessService]:
    """The access service on the data dir's store, for commands that write without the server.

    A running server sees the change within seconds (its snapshots compare revisions).
    """
    from kubegate.domain.errors import DomainError
    from kubegate.service.access import AccessService
    from kubegate.store.database import Store

    directory = DataDir(data_dir)
    config = _config(directory)
    store = Store(database_url or directory.default_database_url)
    try:
        yield AccessService(store, account=config.account_id, region=config.region)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


@click.group()
def main() -> None:
    """kubegate: the Amazon EKS access model for any Kubernetes cluster."""


public_url_option = click.option(
    "--public-url", default=None,
    help="https://HOST[:PORT] that clients and kube-apiservers use (a load balancer in front of replicas): "
         "`kubegate env` and webhook-config print it, every replica accepts tokens presigned for it, and the "
         "serving certificate names its host.")


@main.command()
@data_dir_option
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="The address `kubegate env` points at.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--region", default=None, help="Region of a new data dir (default us-east-1); fixed afterwards.")
@public_url_option
def init(data_dir: Path, host: str, port: int, region: str | None, public_url: str | None) -> None:
    """Make a data dir (CA, keys, account, region) without serving; replicas share a copy of it."""
    directory = DataDir(data_dir)
    try:
        config = directory.initialize(region=region, host=host, port=port, public_url=public_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{directory.path}: account {config.account_id}, region {config.region}, endpoint {config.endpoint}")


@main.command()
@data_dir_option
@database_option
@click.option("--host", default=None, help=f"Address to listen on (default: the data dir's, or {DEFAULT_HOST}).")
@click.option("--port", default=None, type=int, help=f"Port to listen on (default: the data dir's, or {DEFAULT_PORT}).")
@click.option("--region", default=None, help="Region of a new data dir (default us-east-1); fixed afterwards.")
@public_url_option
@click.option(
    "--settle-seconds", default=0.0, show_default=True, type=float,
    help="How long creations and updates report CREATING/InProgress before they settle.",
)
@click.option("--audit-log", type=click.Choice(["file", "-"]), default="file", show_default=True,
              help="Where webhook decisions are logged: audit.log in the data dir (rotated), or - for stdout.")
@click.option("--sts-region", "sts_regions", multiple=True,
              help="An AWS region whose STS may verify tokens presigned for AWS (repeatable; the data dir's region "
                   "is always allowed, and kubegate's own STS).")
@click.option("--ec2-lookup", is_flag=True,
              help="Resolve {{EC2PrivateDNSName}} of unregistered instances with EC2 DescribeInstances "
                   "(the server's AWS configuration; AWS_ENDPOINT_URL_EC2 is honoured).")
@click.option("--no-aws-sts", is_flag=True,
              help="Refuse tokens presigned for AWS's STS without calling it (an offline deployment); "
                   "kubegate's own STS keeps verifying its tokens.")
@click.option("--request-read-timeout", default=REQUEST_READ_TIMEOUT, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a client has to send a whole request (headers and body); slower ones get 408.")
@click.option("--oidc-ca-file", default=None, type=click.Path(dir_okay=False, exists=True),
              help="PEM file of CA certificates trusted, besides the system store, for OIDC providers' discovery "
                   "and keys (SSL_CERT_FILE works as usual).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Server log lines as text or one JSON object each.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1, max=64),
              help="Worker processes on the one port (SO_REUSEPORT), each with its own snapshots.")
@click.option("--metrics-require-client-cert", is_flag=True,
              help="Serve /metrics only to callers presenting a current webhook client certificate of a cluster.")
@click.option("--unsafe-aws-sts-url-override", default=None, hidden=True,
              help="TESTING ONLY: send AWS STS calls to this http(s) URL on a loopback address instead of AWS.")
def up(data_dir: Path, database_url: str | None, host: str | None, port: int | None, region: str | None,
       public_url: str | None, settle_seconds: float,
       audit_log: str, sts_regions: tuple[str, ...], ec2_lookup: bool, no_aws_sts: bool,
       unsafe_aws_sts_url_override: str | None, request_read_timeout: float, oidc_ca_file: str | None,
       metrics_require_client_cert: bool, workers: int, log_format: str) -> None:
    """Start kubegate over HTTPS, creating the data dir on first start (an existing one is only read)."""
    from kubegate import workers as worker_processes

    metrics_dir = worker_processes.prepare_metrics_dir() if workers > 1 else None  # before prometheus-client loads
    from kubegate.server import build, serve

    directory = DataDir(data_dir)
    try:
        if directory.config_file.exists():
            config = directory.existing()
            if public_url and public_url.rstrip("/") != config.public_url:
                raise ValueError(f"this data dir's public URL is {config.public_url}; change it with "
                                 "`kubegate init --public-url` (and give every replica the new data dir)")
            if region and region != config.region:
                raise ValueError(f"this data dir's region is {config.region}; it cannot change to {region}")
        else:
            config = directory.initialize(region=region, host=host or DEFAULT_HOST, port=port or DEFAULT_PORT,
                                          public_url=public_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    listen = (host or config.host, port or config.port)

    def build_one() -> Any:
        try:
            return build(directory, config, listen=listen, database_url=database_url, settle_seconds=settle_seconds,
                         audit_log=audit_log, sts_regions=frozenset(sts_regions), ec2_lookup=ec2_lookup,
                         aws_sts=not no_aws_sts, unsafe_aws_sts_url_override=unsafe_aws_sts_url_override,
                         oidc_ca_file=oidc_ca_file, metrics_need_certificate=metrics_require_client_cert,
                         workers=workers)
        except ValueError as exc:  # e.g. a region that is not one of the partition's
            raise click.ClickException(str(exc)) from None

    banner = (f"kubegate on https://{listen[0]}:{listen[1]} for {config.endpoint} (account {config.account_id}, "
              f"region {config.region}{f', {workers} workers' if workers > 1 else ''}); "
              f"in another shell: eval \"$(kubegate env --data-dir {shlex.quote(str(directory.path))})\"")
    def run(sock: Any = None) -> None:
        """Serve; if the database cannot be reached yet, serve refusals until it can (see api.pending)."""
        from kubegate.api.pending import PendingApp
        from kubegate.store.database import Unavailable

        try:
            kubegate = build_one()
        except Unavailable as exc:
            click.echo(f"{exc}: serving refusals until it can be reached", err=True)
            serve(directory, PendingApp(lambda: build_one().app, str(exc)), listen, sock=sock,
                  request_read_timeout=request_read_timeout, log_format=log_format)
            return
        serve(directory, kubegate.app, listen, close=kubegate.store.close, sock=sock,
              request_read_timeout=request_read_timeout, log_format=log_format)

    click.echo(banner, err=True)
    if workers == 1:
        run()
        return
    from kubegate.store.database import Unavailable

    try:
        build_one().store.close()  # fail here, once, on what every worker would fail on; migrations run once
    except Unavailable:
        pass  # each worker serves refusals until the database can be reached

    def run_worker(index: int) -> int:
        run(worker_processes.reuse_port_socket(*listen))
        return 0

    sys.exit(worker_processes.supervise(workers, run_worker, metrics_dir))


@main.command()
@data_dir_option
def env(data_dir: Path) -> None:
    """Print the export lines that point the AWS CLI and SDKs at kubegate."""
    directory = DataDir(data_dir)
    config = _config(directory)
    values = {
        "AWS_ENDPOINT_URL": config.endpoint,
        "AWS_CA_BUNDLE": str(directory.ca_certificate),
        "AWS_SHARED_CREDENTIALS_FILE": str(directory.credentials),
        "AWS_DEFAULT_REGION": config.region,
        "AWS_REGION": config.region,
    }
    for name, value in values.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@main.group()
def cluster() -> None:
    """Settings of a registered cluster that the EKS API has no call for."""


@cluster.command("set-endpoint")
@data_dir_option
@database_option
@click.option("--name", required=True, help="The kubegate cluster.")
@click.option("--server", required=True, help="The Kubernetes API server URL, e.g. https://10.0.0.1:6443.")
@click.option("--certificate-authority", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="PEM file of the API server's CA.")
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A bearer token that may get and watch kube-system/aws-auth; kubegate then follows it live.")
def set_endpoint(data_dir: Path, database_url: str | None, name: str, server: str,
                 certificate_authority: Path | None, token_file: Path | None) -> None:
    """Record the API server that cluster NAME stands for (shown by describe-cluster)."""
    from kubegate.api.eks import encode_certificate_authority

    ca = encode_certificate_authority(certificate_authority.read_bytes()) if certificate_authority else None
    token = DataDir(data_dir).cipher().encrypt(token_file.read_text().strip().encode()) if token_file else None
    with _service(data_dir, database_url) as service:
        service.set_cluster_endpoint(name, server, ca, token)
    click.echo(f"cluster {name}: endpoint {server}")


@main.group()
def awsauth() -> None:
    """The aws-auth ConfigMap kubegate consults for a cluster (CONFIG_MAP and API_AND_CONFIG_MAP modes)."""


@awsauth.command("set")
@data_dir_option
@database_option
@click.option("--cluster", "cluster_name", required=True)
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The ConfigMap manifest (as `kubectl get cm -n kube-system aws-auth -o yaml` prints it).")
def awsauth_set(data_dir: Path, database_url: str | None, cluster_name: str, path: Path) -> None:
    """Store a new version of CLUSTER's aws-auth; an invalid file is refused and the old one keeps serving."""
    with _service(data_dir, database_url) as service:
        version = service.set_aws_auth(cluster_name, path.read_text(), f"file:{path.name}")
    click.echo(f"cluster {cluster_name}: aws-auth version {version}")


@main.command("console-login")
@data_dir_option
@database_option
def console_login(data_dir: Path, database_url: str | None) -> None:
    """Print a one-time link (valid 5 minutes) that signs the bootstrap administrator in to the web console."""
    from datetime import datetime, timezone

    from kubegate.console.sessions import new_link
    from kubegate.store.console import ConsoleStore
    from kubegate.store.database import Store

    directory = DataDir(data_dir)
    config = _config(directory)
    store = Store(database_url or directory.default_database_url)
    try:
        token = new_link(ConsoleStore(store), datetime.now(timezone.utc))
    finally:
        store.close()
    click.echo(f"{config.endpoint}/console/link?token={token}")


@main.group()
def nodes() -> None:
    """kubegate's registry of EC2 instances (what {{EC2PrivateDNSName}} resolves to offline)."""


@nodes.command("register")
@data_dir_option
@database_option
@click.option("--instance-id", required=True)
@click.option("--private-dns-name", required=True)
def nodes_register(data_dir: Path, database_url: str | None, instance_id: str, private_dns_name: str) -> None:
    """Record an instance's private DNS name."""
    with _service(data_dir, database_url) as service:
        service.register_instance(instance_id, private_dns_name)
    click.echo(f"{instance_id}: {private_dns_name}")


main.add_command(token)
main.add_command(kubeconfig)
main.add_command(webhook_config)
main.add_command(explain_command)
main.add_command(who_can_command)
main.add_command(iamidentitymapping)
main.add_command(access_diff)
main.add_command(migrate)
awsauth.add_command(history)


if __name__ == "__main__":
    sys.exit(main())
