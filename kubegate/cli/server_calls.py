"""Calls from the CLI to the running server's ``/kubegate/...`` endpoints, signed as the AWS CLI signs.

The commands built on these talk to the server (``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE`` and the
AWS credentials, as ``eval "$(kubegate env)"`` sets them) rather than to the data dir, so the
caller's IAM policies decide what they may see and change.
"""

from __future__ import annotations

import json
import os
import ssl
from typing import Any
from urllib.parse import urlencode

import click
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

def call(method: str, path: str, params: dict[str, str] | None = None, body: Any = None,
         timeout: float = 600) -> dict[str, Any]:
    """One signed request; a refusal becomes a ClickException with the server's message."""
    import botocore.session

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_EKS") or os.environ.get("AWS_ENDPOINT_URL")
    if credentials is None or not endpoint:
        raise click.ClickException('no AWS credentials or endpoint: run eval "$(kubegate env)" first')
    query = urlencode({k: v for k, v in (params or {}).items() if v})
    url = f"{endpoint.rstrip('/')}{path}" + (f"?{query}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(credentials, "eks", session.get_config_variable("region") or "us-east-1").add_auth(request)
    bundle = os.environ.get("AWS_CA_BUNDLE")
    verify = ssl.create_default_context(cafile=bundle) if bundle else True
    try:
        with httpx.Client(verify=verify, timeout=timeout) as client:
            response = client.request(method, url, headers=dict(request.headers.items()), content=data)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach kubegate at {endpoint}: {exc}") from None
    try:
        document: dict[str, Any] = response.json()
    except ValueError:
        raise click.ClickException(f"HTTP {response.status_code}: {response.text[:500]}") from None
    if response.status_code != 200:
        raise click.ClickException(f"{document.get('code', response.status_code)}: "
                                   f"{document.get('message', response.text)}")
    return document
