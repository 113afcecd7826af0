"""The `kubegate` command."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from kubegate.datadir import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DataDir

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


@click.group()
def main() -> None:
    """kubegate: the Amazon EKS access model for any Kubernetes cluster."""


@main.command()
@data_dir_option
@database_option
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--region", default=None, help="Region of a new data dir (default us-east-1); fixed afterwards.")
@click.option(
    "--settle-seconds", default=0.0, show_default=True, type=float,
    help="How long creations and updates report CREATING/InProgress before they settle.",
)
def up(data_dir: Path, database_url: str | None, host: str, port: int, region: str | None, settle_seconds: float) -> None:
    """Start kubegate over HTTPS, creating the data dir on first start."""
    from kubegate.server import build, serve

    directory = DataDir(data_dir)
    try:
        config = directory.initialize(region=region, host=host, port=port)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    kubegate = build(directory, config, database_url=database_url, settle_seconds=settle_seconds)
    click.echo(
        f"kubegate on {config.endpoint} (account {config.account_id}, region {config.region}); "
        f"in another shell: eval \"$(kubegate env --data-dir {shlex.quote(str(directory.path))})\"",
        err=True,
    )
    serve(directory, kubegate)


@main.command()
@data_dir_option
def env(data_dir: Path) -> None:
    """Print the export lines that point the AWS CLI and SDKs at kubegate."""
    directory = DataDir(data_dir)
    try:
        config = directory.config()
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
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
def set_endpoint(data_dir: Path, database_url: str | None, name: str, server: str,
                 certificate_authority: Path | None) -> None:
    """Record the API server that cluster NAME stands for (shown by describe-cluster)."""
    from kubegate.api.eks import encode_certificate_authority
    from kubegate.domain.errors import DomainError
    from kubegate.service.access import AccessService
    from kubegate.store.database import Store

    directory = DataDir(data_dir)
    config = directory.config()
    store = Store(database_url or directory.default_database_url)
    service = AccessService(store, account=config.account_id, region=config.region)
    ca = encode_certificate_authority(certificate_authority.read_bytes()) if certificate_authority else None
    try:
        service.set_cluster_endpoint(name, server, ca)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(f"cluster {name}: endpoint {server}")


if __name__ == "__main__":
    sys.exit(main())
