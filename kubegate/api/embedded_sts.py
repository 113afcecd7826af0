"""The token verifier's STS call, answered by kubegate's own STS without leaving the process.

The presigned URL goes through exactly the request path an HTTPS call would take (SigV4,
the STS wire, GetCallerIdentity), so a token the embedded STS would refuse over the
network is refused here too; AWS's STS hosts are reached over HTTPS instead.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

from kubegate.api.aws_endpoint import AwsEndpoint
from kubegate.api.wire import RawRequest
from kubegate.identity.iam_token import CLUSTER_ID_HEADER, StsClient, StsIdentity, TokenError, sts_identity


class EmbeddedStsClient:
    def __init__(self, endpoint: AwsEndpoint) -> None:
        self.endpoint = endpoint

    def get_caller_identity(self, url: str, *, cluster_id: str) -> StsIdentity:
        parts = urlsplit(url)
        raw = RawRequest(
            method="GET",
            raw_path=parts.path or "/",
            raw_query=parts.query,
            headers={"host": parts.netloc, CLUSTER_ID_HEADER: cluster_id, "accept": "application/json"},
            body=b"",
        )
        reply, _, _ = self.endpoint.handle(raw, str(uuid.uuid4()))
        if reply.status != 200:
            kind = "throttled" if b"Throttling" in reply.body else "sts"
            raise TokenError(kind, f"error from AWS (expected 200, got {reply.status}) on embedded endpoint. "
                                   f"Body: {reply.body[:512].decode('utf-8', 'replace')}")
        try:
            result = json.loads(reply.body)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
            return sts_identity(account=result["Account"], arn=result["Arn"], user_id=result["UserId"], url=url)
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError("sts", f"malformed answer from the embedded STS: {exc}") from None


class RoutingStsClient:
    """The embedded STS for kubegate's own hosts, AWS's STS (over HTTPS) for the others."""

    def __init__(self, embedded: StsClient, embedded_hosts: frozenset[str], remote: StsClient) -> None:
        self.embedded = embedded
        self.embedded_hosts = embedded_hosts
        self.remote = remote

    def get_caller_identity(self, url: str, *, cluster_id: str) -> StsIdentity:
        client = self.embedded if urlsplit(url).netloc in self.embedded_hosts else self.remote
        return client.get_caller_identity(url, cluster_id=cluster_id)
