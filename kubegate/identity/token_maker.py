"""Make IAM tokens in the `aws eks get-token` format, for `kubegate token` and for tests.

botocore does the signing, through the same STS client path the AWS CLI uses, so the URL's
parameter order and encoding are byte-identical to what real clients send (spec §1.1, §1.3).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.session
from botocore.client import BaseClient

from kubegate.identity.iam_token import CLUSTER_ID_HEADER, TOKEN_PREFIX

PRESIGN_EXPIRES = 60  # legacy value every client sends; STS ignores it (15-minute window)
TOKEN_LIFETIME = timedelta(minutes=14)  # one minute short of STS's window, so kubectl refreshes in time
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
DEPRECATED_EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1alpha1",)
DEFAULT_EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def new_sts_client(
    *, region: str | None, endpoint_url: str | None = None, verify: str | bool | None = None,
    session: botocore.session.Session | None = None,
) -> BaseClient:
    """An STS client for presigning; `endpoint_url` points it at kubegate's embedded STS."""
    session = session or botocore.session.get_session()
    return session.create_client("sts", region_name=region, endpoint_url=endpoint_url, verify=verify)


def presigned_get_caller_identity(sts: BaseClient, cluster_id: str) -> str:
    """The cluster id goes in as a signed header, not a parameter, so the URL only names it as signed."""

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_ID_HEADER] = cluster_id

    event = "before-sign.sts.GetCallerIdentity"
    sts.meta.events.register(event, add_cluster_header)
    try:
        url: str = sts.generate_presigned_url("get_caller_identity", ExpiresIn=PRESIGN_EXPIRES, HttpMethod="GET")
    finally:
        sts.meta.events.unregister(event, add_cluster_header)
    return url


def encode_token(url: str) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def make_token(sts: BaseClient, cluster_id: str) -> str:
    return encode_token(presigned_get_caller_identity(sts, cluster_id))


def exec_api_version(exec_info: str | None) -> tuple[str, str | None]:
    """The apiVersion kubectl asked for in KUBERNETES_EXEC_INFO, and a warning for stderr if any.

    Old kubectl leaves the variable unset; anything unreadable falls back to v1beta1 as the CLI does.
    """
    if not exec_info:
        return DEFAULT_EXEC_API_VERSION, None
    try:
        requested = json.loads(exec_info).get("apiVersion")
    except (ValueError, AttributeError):
        return DEFAULT_EXEC_API_VERSION, f"Cannot parse KUBERNETES_EXEC_INFO; using {DEFAULT_EXEC_API_VERSION}"
    if requested in EXEC_API_VERSIONS:
        return requested, None
    if requested in DEPRECATED_EXEC_API_VERSIONS:
        return requested, f"{requested} is deprecated; regenerate the kubeconfig entry"
    return DEFAULT_EXEC_API_VERSION, f"Unknown apiVersion in KUBERNETES_EXEC_INFO; using {DEFAULT_EXEC_API_VERSION}"


def exec_credential(token: str, *, now: datetime, api_version: str = DEFAULT_EXEC_API_VERSION) -> dict[str, Any]:
    """The ExecCredential kubectl reads; it reuses the token until expirationTimestamp."""
    expires = now.astimezone(timezone.utc) + TOKEN_LIFETIME
    return {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": token},
    }
