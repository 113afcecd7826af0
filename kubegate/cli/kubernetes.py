"""Commands that connect Kubernetes to kubegate: tokens, kubeconfigs, webhook configuration."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import yaml

from kubegate import pki
from kubegate.api.tls import WEBHOOK_ORGANIZATION
from kubegate.datadir import DataDir, InstanceConfig
from kubegate.domain.clusters import Cluster
from kubegate.identity import token_maker

WEBHOOK_PATH = "/k8s/clusters/{name}/{verb}"


@click.command()
@click.option("--cluster", "cluster_name", required=True, help="The cluster name (the x-k8s-aws-id the token is bound to).")
@click.option("--region", default=None, help="Region of the STS endpoint (default: the AWS configuration's).")
def token(cluster_name: str, region: str | None) -> None:
    """Print an ExecCredential with a k8s-aws-v1 token, as `aws eks get-token` does.

    Credentials, region and endpoint come from the usual AWS configuration
    (`eval "$(kubegate env)"` points them at kubegate's embedded STS); the token is
    presigned here, and the server checks it when a kube-apiserver asks.
    """
    import botocore.session

    session = botocore.session.get_session()
    sts = token_maker.new_sts_client(region=region or session.get_config_variable("region") or "us-east-1",
                                     session=session)
    version, warning = token_maker.exec_api_version(os.environ.get("KUBERNETES_EXEC_INFO"))
    if warning:
        click.echo(warning, err=True)
    credential = token_maker.exec_credential(
        token_maker.make_token(sts, cluster_name), now=datetime.now(timezone.utc), api_version=version
    )
    click.echo(json.dumps(credential))


@click.command()
@click.option("--cluster", "cluster_name", required=True)
@click.option("--aws-cli", is_flag=True, help="Run `aws eks get-token` instead of `kubegate token`.")
@click.option("--user-env", multiple=True, help="NAME=VALUE for the exec plugin's environment (repeatable).")
@click.option("--oidc", "oidc_config", default=None,
              help="An OIDC identity provider config of CLUSTER: the user gets ID tokens with `kubectl oidc-login` "
                   "(the kubelogin plugin) from its issuer for its client ID.")
@click.option("--token-file", default=None,
              help="A file holding the bearer token (e.g. an OIDC ID token): the user reads it (tokenFile) "
                   "instead of running a plugin.")
def kubeconfig(cluster_name: str, aws_cli: bool, user_env: tuple[str, ...], oidc_config: str | None,
               token_file: str | None) -> None:
    """Print a kubeconfig for CLUSTER whose user runs an exec credential plugin (or reads a token file).

    Talks to the running kubegate server (AWS_ENDPOINT_URL, signed with your AWS credentials):
    DescribeCluster gives the API server and its CA."""
    import boto3

    if (oidc_config or token_file) and (aws_cli or user_env):
        raise click.ClickException("--aws-cli and --user-env configure the IAM exec plugin: not with --oidc or "
                                   "--token-file")
    eks = boto3.client("eks")
    try:
        cluster = eks.describe_cluster(name=cluster_name)["cluster"]
        oidc = None if oidc_config is None or token_file else eks.describe_identity_provider_config(
            clusterName=cluster_name, identityProviderConfig={"type": "oidc", "name": oidc_config},
        )["identityProviderConfig"]["oidc"]
    except Exception as exc:  # the SDK's own error text is what the user needs
        raise click.ClickException(str(exc)) from None
    if not cluster.get("endpoint"):
        raise click.ClickException(
            f"cluster {cluster_name} has no API server recorded: kubegate cluster set-endpoint --name {cluster_name} …"
        )
    if aws_cli:
        command, args = "aws", ["--region", cluster["arn"].split(":")[3], "eks", "get-token", "--cluster-name", cluster_name]
    else:
        command, args = "kubegate", ["token", "--cluster", cluster_name]
    env = [{"name": k, "value": v} for k, _, v in (item.partition("=") for item in user_env)]
    exec_config: dict[str, Any] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": args,
        "interactiveMode": "Never", "provideClusterInfo": False,
    }
    if env:
        exec_config["env"] = env
    cluster_entry: dict[str, Any] = {"server": cluster["endpoint"]}
    if cluster.get("certificateAuthority", {}).get("data"):
        cluster_entry["certificate-authority-data"] = cluster["certificateAuthority"]["data"]
    name = user_name = cluster["arn"]
    user: dict[str, Any] = {"exec": exec_config}
    if token_file:
        user = {"tokenFile": token_file}
        user_name = f"{name}#token-file"
    elif oidc is not None:
        user = {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubectl",
            "args": ["oidc-login", "get-token", f"--oidc-issuer-url={oidc['issuerUrl']}",
                     f"--oidc-client-id={oidc['clientId']}"],
            "interactiveMode": "IfAvailable", "provideClusterInfo": False,
        }}
        user_name = f"{name}#oidc:{oidc_config}"
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster_entry}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user_name}}],
        "current-context": name,
    }
    click.echo(yaml.safe_dump(config, sort_keys=False), nl=False)


def webhook_kubeconfig(server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """The kubeconfig format kube-apiserver reads for a webhook (clusters = the webhook, users = itself)."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "kubegate", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": "kube-apiserver", "user": {
            "client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": "webhook", "context": {"cluster": "kubegate", "user": "kube-apiserver"}}],
        "current-context": "webhook",
    }


def _webhook_cluster(directory: DataDir, config: InstanceConfig, database_url: str | None, name: str,
                     rotate: bool) -> Cluster:
    """The cluster whose identity the certificate will carry, after starting a new generation if asked."""
    from kubegate.domain.errors import DomainError
    from kubegate.service.access import AccessService
    from kubegate.store.database import Store

    store = Store(database_url or directory.default_database_url)
    try:
        service = AccessService(store, account=config.account_id, region=config.region)
        if rotate:
            return service.rotate_webhook_certificates(name)
        return service.describe_cluster(name)[0]
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


@click.command("webhook-config")
@click.option("--data-dir", envvar="KUBEGATE_DATA_DIR", default=".kubegate", type=click.Path(file_okay=False, path_type=Path))
@click.option("--database-url", envvar="KUBEGATE_DATABASE_URL", default=None,
              help="SQLAlchemy URL of the database (default: kubegate.db in the data dir).")
@click.option("--cluster", "cluster_name", required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--server", default=None, help="kubegate's URL as the kube-apiserver reaches it (default: the data dir's).")
@click.option("--rotate", is_flag=True,
              help="Revoke every certificate issued for CLUSTER so far (a running kubegate refuses them within "
                   "seconds) and issue one of the new generation.")
def webhook_config(data_dir: Path, database_url: str | None, cluster_name: str, out_dir: Path, server: str | None,
                   rotate: bool) -> None:
    """Write webhook kubeconfigs (authn, authz) with a client certificate for CLUSTER's kube-apiserver.

    The certificate is good for this cluster only as it now is: not for a deleted and re-created
    namesake, and not after a later --rotate.
    """
    directory = DataDir(data_dir)
    try:
        config = directory.config()
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    cluster = _webhook_cluster(directory, config, database_url, cluster_name, rotate)
    authority = pki.load_authority(directory.ca_certificate, directory.ca_key)
    certificate, key = authority.issue(cluster_name, organization=WEBHOOK_ORGANIZATION, client=True,
                                       uris=(cluster.webhook_identity,))
    base = (server or config.endpoint).rstrip("/")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for verb, file_name in (("authenticate", "authn.kubeconfig"), ("authorize", "authz.kubeconfig")):
        document = webhook_kubeconfig(
            base + WEBHOOK_PATH.format(name=cluster_name, verb=verb), directory.ca_certificate.read_bytes(),
            pki.certificate_pem(certificate), pki.key_pem(key),
        )
        path = out_dir / file_name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(document, handle, sort_keys=False)
        written[verb] = path.absolute()
    if rotate:
        click.echo(f"# certificate generation {cluster.webhook_generation}: earlier certificates for "
                   f"{cluster_name} are revoked")
    click.echo("# kube-apiserver flags:")
    click.echo(f"--authentication-token-webhook-config-file={written['authenticate']}")
    click.echo("--authentication-token-webhook-version=v1")
    click.echo("--authentication-token-webhook-cache-ttl=2m")
    click.echo("--authorization-mode=Node,RBAC,Webhook")
    click.echo(f"--authorization-webhook-config-file={written['authorize']}")
    click.echo("--authorization-webhook-version=v1")
